import { AbortedError } from '@dal/core';
import { ShardMovingError } from './errors.js';

/**
 * Admission to one logical shard. Every operation through a shard handle enters and leaves;
 * a move freezes the gate (new operations wait), waits until the ones inside have left, and
 * unfreezes once the map points at the new database.
 */
export class ShardGate {
  readonly shard: number;
  #inFlight = 0;
  #frozen: { released: Promise<void>; release: () => void } | undefined;
  #onDrained: (() => void) | undefined;

  constructor(shard: number) {
    this.shard = shard;
  }

  get frozen(): boolean {
    return this.#frozen !== undefined;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Wait while frozen (at most `waitMs`), then count the caller in.
   * @throws {ShardMovingError} (retryable) when still frozen after `waitMs`.
   * @throws {AbortedError} when `signal` aborts while waiting.
   */
  async enter(waitMs: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.#frozen !== undefined) await this.#waitForThaw(waitMs, signal);
    this.#inFlight++;
  }

  leave(): void {
    this.#inFlight--;
    if (this.#inFlight === 0) this.#onDrained?.();
  }

  /**
   * Stop admitting and wait until nothing is inside. Unfreezes again and rejects when that takes
   * longer than `drainTimeoutMs` (a long transaction on the shard): the caller gives up its move.
   */
  async freeze(drainTimeoutMs: number): Promise<void> {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    this.#frozen = { released, release };
    if (this.#inFlight === 0) return;
    const drained = new Promise<void>((resolve) => (this.#onDrained = resolve));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), drainTimeoutMs)));
    const outcome = await Promise.race([drained, timedOut]);
    clearTimeout(timer);
    this.#onDrained = undefined;
    if (outcome === 'timeout') {
      const left = this.#inFlight;
      this.unfreeze();
      throw new ShardMovingError(`logical shard ${this.shard}: ${left} operation(s) still running after ${drainTimeoutMs} ms; the move was called off`, this.shard, drainTimeoutMs);
    }
  }

  unfreeze(): void {
    const frozen = this.#frozen;
    this.#frozen = undefined;
    frozen?.release();
  }

  async #waitForThaw(waitMs: number, signal: AbortSignal | undefined): Promise<void> {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      while (this.#frozen !== undefined) {
        const left = waitMs - (Date.now() - started);
        if (left <= 0) {
          throw new ShardMovingError(`logical shard ${this.shard} is being moved; the operation waited ${waitMs} ms and did not run (retry it)`, this.shard, waitMs);
        }
        if (signal?.aborted) throw new AbortedError(`logical shard ${this.shard}: aborted while waiting for a move`, signal.reason);
        await new Promise<void>((resolve) => {
          timer = setTimeout(resolve, left);
          onAbort = resolve;
          signal?.addEventListener('abort', onAbort, { once: true });
          void this.#frozen!.released.then(resolve);
        });
        clearTimeout(timer);
        if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
      }
    } finally {
      clearTimeout(timer);
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
    }
  }
}
