import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

/**
 * The contenders in the order for round `round`: rotated so that no contender always runs first
 * (first place pays for cold caches) or last (last place pays for accumulated garbage).
 * @template T
 * @param {readonly T[]} items
 * @param {number} round
 * @returns {T[]}
 */
export function rotate(items, round) {
  const shift = round % Math.max(1, items.length);
  return [...items.slice(shift), ...items.slice(0, shift)];
}

/**
 * Reject when `promise` has not settled within `ms`, so a hung contender cannot hang the run.
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @param {string} what
 * @returns {Promise<T>}
 */
export async function bounded(promise, ms, what) {
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  const guard = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return /** @type {T} */ (await Promise.race([promise, guard]));
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Operations per second of `op` run by `concurrency` loops for `durationMs`.
 * Every loop finishes its current operation, so the elapsed time is measured to the last one.
 * @param {() => unknown} op
 * @param {number} concurrency
 * @param {number} durationMs
 * @returns {Promise<number>}
 */
export async function throughput(op, concurrency, durationMs) {
  let count = 0;
  const start = performance.now();
  const end = start + durationMs;
  const loop = async () => {
    while (performance.now() < end) {
      await op();
      count++;
    }
  };
  await bounded(Promise.all(Array.from({ length: concurrency }, loop)), durationMs + 60_000, 'throughput loop');
  return count / ((performance.now() - start) / 1000);
}

/** Collect garbage between contenders when node runs with --expose-gc, so one's garbage is not billed to the next. */
export function collectGarbage() {
  const gc = /** @type {{ gc?: () => void }} */ (globalThis).gc;
  if (typeof gc === 'function') gc();
}

/**
 * Poll `check` every 20 ms until it returns false or `maxMs` passes; the time it took (ms),
 * or undefined when it was still true at the end.
 * @param {() => Promise<boolean>} check
 * @param {number} maxMs
 * @returns {Promise<number | undefined>}
 */
export async function waitUntilFalse(check, maxMs) {
  const start = performance.now();
  while (performance.now() - start < maxMs) {
    if (!(await check())) return performance.now() - start;
    await sleep(20);
  }
  return undefined;
}

/**
 * The error's class name and code, for the tables ('ok' when there is none).
 * @param {unknown} error
 * @returns {string}
 */
export function describeError(error) {
  if (error === undefined) return 'ok (no error)';
  if (!(error instanceof Error)) return String(error);
  const { code, errno } = /** @type {{ code?: unknown, errno?: unknown }} */ (error);
  if (typeof code === 'string' || typeof code === 'number') return `${error.name} (${code})`;
  if (typeof errno === 'number') return `${error.name} (errno ${errno})`;
  // A bare Error says little by its name; its first words say which one it is.
  return error.name === 'Error' ? `Error: ${error.message.slice(0, 40)}` : error.name;
}

/** A quiet knex logger: knex also prints pool errors itself, which would clutter the tables; callers still get every error. */
export const quietKnexLog = { warn() {}, error() {}, deprecate() {}, debug() {} };

/**
 * Operations per second of each contender called with random ids in 1..`rows`, in interleaved
 * rounds (the order alternating, so that neither end of a round is always the same contender),
 * each sample after a 200 ms warm-up and a collection.
 * @param {Record<string, (id: number) => unknown>} contenders
 * @param {{ rounds: number, ms: number, concurrency: number, rows: number }} options
 * @returns {Promise<Record<string, number[]>>}
 */
export async function interleavedSamples(contenders, { rounds, ms, concurrency, rows }) {
  /** @type {Record<string, number[]>} */
  const samples = {};
  const names = Object.keys(contenders);
  for (let round = 0; round < rounds; round++) {
    for (const name of round % 2 === 0 ? names : [...names].reverse()) {
      const op = /** @type {(id: number) => unknown} */ (contenders[name]);
      const call = () => op(1 + Math.floor(Math.random() * rows));
      await throughput(call, concurrency, 200);
      collectGarbage();
      (samples[name] ??= []).push(await throughput(call, concurrency, ms));
    }
  }
  return samples;
}
