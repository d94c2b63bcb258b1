import { bounded, collectGarbage, describeError, rotate, sleep, waitUntilFalse } from '../lib/harness.mjs';
import { median } from '../lib/stats.mjs';

/** @typedef {import('../lib/types.mjs').Backend} Backend */
/** @typedef {import('../lib/types.mjs').Options} Options */

/** Delay between the caller's error and the look at the server, as issue #6 asks. */
export const CHECK_AFTER_MS = 100;

/**
 * @typedef {object} TimeoutRow
 * @property {string} name
 * @property {string} note
 * @property {string} outcome          what the caller got
 * @property {number} toCallerMs       median time from the call to its settlement
 * @property {string} runningAfter     'yes' | 'no' | mixed counts, 100 ms after the caller's error
 * @property {string} stoppedAfterMs   median time from the call until the statement was gone from the server
 */

/**
 * A statement of `slowQueryMs` under a `queryTimeoutMs` caller timeout: how soon the caller hears
 * about it, and whether the statement still runs on the server 100 ms later.
 * @param {Backend} backend
 * @param {Options} opts
 * @param {(line: string) => void} log
 * @returns {Promise<TimeoutRow[]>}
 */
export async function runTimeout(backend, opts, log) {
  /** @type {Map<string, { outcomes: Set<string>, toCaller: number[], running: boolean[], stopped: number[] }>} */
  const acc = new Map();
  let sequence = 0;
  for (let round = 0; round < opts.timeoutRounds; round++) {
    for (const contender of rotate(backend.timeout, round)) {
      collectGarbage();
      const handle = await bounded(contender.open(opts), 60_000, `${contender.name} open`);
      try {
        const marker = `bench_timeout_${process.pid}_${++sequence}`;
        const start = performance.now();
        /** @type {unknown} */
        let error;
        try {
          await bounded(handle.run(marker), opts.slowQueryMs + 30_000, `${contender.name} slow statement`);
        } catch (caught) {
          error = caught ?? new Error('rejected without an error');
        }
        const toCaller = performance.now() - start;
        await sleep(CHECK_AFTER_MS);
        const running = await backend.isRunning(marker);
        // Wait for the statement to end either way, so it cannot disturb the next contender.
        const gone = await waitUntilFalse(() => backend.isRunning(marker), opts.slowQueryMs + 5_000);
        // Polled every 20 ms, so this is the stop time to within one poll.
        const stoppedAt = gone === undefined ? Number.NaN : performance.now() - start;
        const entry = acc.get(contender.name) ?? { outcomes: new Set(), toCaller: [], running: [], stopped: [] };
        acc.set(contender.name, entry);
        entry.outcomes.add(describeError(error));
        entry.toCaller.push(toCaller);
        entry.running.push(running);
        entry.stopped.push(running ? stoppedAt : Number.NaN);
        log(`  ${backend.name} timeout ${contender.name}: ${describeError(error)} after ${Math.round(toCaller)} ms, running ${CHECK_AFTER_MS} ms later: ${running}`);
      } finally {
        await bounded(handle.close(), 30_000, `${contender.name} close`);
      }
    }
  }
  return backend.timeout.map((contender) => {
    const entry = acc.get(contender.name);
    if (entry === undefined) throw new Error(`no timeout result for ${contender.name}`);
    const yes = entry.running.filter(Boolean).length;
    const stopped = entry.stopped.filter((v) => Number.isFinite(v));
    return {
      name: contender.name,
      note: contender.note ?? '',
      outcome: [...entry.outcomes].join(', '),
      toCallerMs: median(entry.toCaller),
      runningAfter: yes === 0 ? 'no' : yes === entry.running.length ? 'yes' : `${yes} of ${entry.running.length}`,
      stoppedAfterMs: stopped.length === 0 ? '-' : `~${Math.round(median(stopped))}`,
    };
  });
}
