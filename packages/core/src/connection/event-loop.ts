/**
 * Statements that run on the caller's thread (SQLite inline) resolve without ever leaving the
 * microtask queue, so a loop of awaited statements would starve every timer and socket in the
 * process, @dal's own included. Such results are handed back at once as long as the event loop
 * turned recently; once in-place statements have kept it busy for `TURN_BUDGET_MS`, the next result
 * is handed back from `setImmediate`, which lets timers and I/O run first. The cost is one
 * comparison per statement and one `setImmediate` per turn of the loop.
 */
import { performance } from 'node:perf_hooks';

/** How long in-place statements may keep the event loop from turning. */
export const TURN_BUDGET_MS = 10;

/**
 * Two clock readings: [TURN_AT] when the event loop last got to run our check (a `setImmediate`
 * callback), [LAST_IN_PLACE_AT] when the latest in-place statement ended (the pipeline's own
 * reading: no extra one here). Kept in a typed array because a module variable holding a
 * fraction allocates a new heap number on every write, and this one is written per statement.
 */
const clock = new Float64Array(2);
const TURN_AT = 0;
const LAST_IN_PLACE_AT = 1;
clock[TURN_AT] = performance.now();
let watching = false;

function turned(): void {
  watching = false;
  clock[TURN_AT] = performance.now();
}

/** Note that an in-place statement ended at `endedAt` (a reading the caller already took). */
export function inPlaceStatementEnded(endedAt: number): void {
  clock[LAST_IN_PLACE_AT] = endedAt;
}

/** A promise of `value`: resolved now, or after the event loop had a turn when in-place work kept it busy. */
export function yieldIfBusy<T>(value: T): Promise<T> {
  if (!watching) {
    watching = true;
    setImmediate(turned);
  }
  if (clock[LAST_IN_PLACE_AT]! - clock[TURN_AT]! < TURN_BUDGET_MS) return Promise.resolve(value);
  return new Promise((resolve) => setImmediate(resolve, value));
}
