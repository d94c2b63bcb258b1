import type { DriverExecuteOptions, RowMode } from '../driver/driver.js';

/**
 * The options core hands a driver for a statement at the default timeout, made once: there are
 * only four of them, and allocating one per statement shows on the synchronous hot path.
 */
export class DefaultDriverOptions {
  readonly #objects: readonly [all: DriverExecuteOptions, first: DriverExecuteOptions];
  readonly #arrays: readonly [all: DriverExecuteOptions, first: DriverExecuteOptions];

  constructor(readonly timeoutMs: number) {
    const make = (rowMode: RowMode, firstRow: boolean): DriverExecuteOptions => Object.freeze({ rowMode, timeoutMs, firstRow });
    this.#objects = [make('object', false), make('object', true)];
    this.#arrays = [make('array', false), make('array', true)];
  }

  /** Options for `rowMode` (anything but 'array' means objects) and `firstRow`. */
  get(rowMode: RowMode | undefined, firstRow: boolean): DriverExecuteOptions {
    return (rowMode === 'array' ? this.#arrays : this.#objects)[firstRow ? 1 : 0];
  }

  /** Options for a statement with `timeoutMs`: a shared one at the default timeout, else a new one. */
  for(timeoutMs: number, rowMode: RowMode | undefined, firstRow: boolean): DriverExecuteOptions {
    return timeoutMs === this.timeoutMs ? this.get(rowMode, firstRow) : { rowMode: rowMode ?? 'object', timeoutMs, firstRow };
  }
}
