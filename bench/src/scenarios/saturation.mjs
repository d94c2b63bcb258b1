import { bounded, collectGarbage, describeError, rotate } from '../lib/harness.mjs';
import { median, percentile } from '../lib/stats.mjs';

/** @typedef {import('../lib/types.mjs').Backend} Backend */
/** @typedef {import('../lib/types.mjs').Options} Options */

export const POOL_SIZE = 5;
export const CLIENTS = 50;
export const HOLD_MS = 50;
export const ACQUIRE_TIMEOUT_MS = 200;

/**
 * @typedef {object} SaturationRow
 * @property {string} name
 * @property {string} note
 * @property {number} served      clients that got a connection (median over rounds)
 * @property {number} timeouts    clients that got an error (median over rounds)
 * @property {string} error       the error they got
 * @property {number} p50WaitMs   wait of the served clients
 * @property {number} p99WaitMs
 * @property {number} timeoutAfterMs  median time to the acquisition error
 * @property {number} wallMs      until the last client finished
 */

/**
 * Pool saturation: 50 clients at once on a pool of 5, each holding its connection for 50 ms,
 * 200 ms acquisition timeout. The pool is warmed (all 5 connections open) before the burst.
 * @param {Backend} backend
 * @param {Options} opts
 * @param {(line: string) => void} log
 * @returns {Promise<SaturationRow[]>}
 */
export async function runSaturation(backend, opts, log) {
  /** @type {Map<string, { served: number[], timeouts: number[], waits: number[], errorWaits: number[], walls: number[], errors: Set<string> }>} */
  const acc = new Map();
  for (let round = 0; round < opts.saturationRounds; round++) {
    for (const contender of rotate(backend.saturation, round)) {
      collectGarbage();
      const pool = await bounded(contender.open(POOL_SIZE, ACQUIRE_TIMEOUT_MS, HOLD_MS), 60_000, `${contender.name} open`);
      try {
        await warm(pool);
        const entry = acc.get(contender.name) ?? { served: [], timeouts: [], waits: [], errorWaits: [], walls: [], errors: new Set() };
        acc.set(contender.name, entry);
        const start = performance.now();
        const outcomes = await bounded(Promise.all(Array.from({ length: CLIENTS }, () => client(pool))), 30_000, 'saturation burst');
        entry.walls.push(performance.now() - start);
        const served = outcomes.filter((o) => o.error === undefined);
        const failed = outcomes.filter((o) => o.error !== undefined);
        entry.served.push(served.length);
        entry.timeouts.push(failed.length);
        entry.waits.push(...served.map((o) => o.waitMs));
        entry.errorWaits.push(...failed.map((o) => o.waitMs));
        for (const o of failed) entry.errors.add(describeError(o.error));
        log(`  ${backend.name} saturation ${contender.name}: served ${served.length}, errors ${failed.length}`);
      } finally {
        await bounded(pool.close(), 30_000, `${contender.name} close`);
      }
    }
  }
  return backend.saturation.map((contender) => {
    const entry = acc.get(contender.name);
    if (entry === undefined) throw new Error(`no saturation result for ${contender.name}`);
    return {
      name: contender.name,
      note: contender.note ?? '',
      served: median(entry.served),
      timeouts: median(entry.timeouts),
      error: contender.noAcquireTimeout ? 'none (no acquisition timeout option)' : [...entry.errors].join(', ') || '-',
      p50WaitMs: percentile(entry.waits, 50),
      p99WaitMs: percentile(entry.waits, 99),
      timeoutAfterMs: median(entry.errorWaits),
      wallMs: median(entry.walls),
    };
  });
}

/**
 * Open all the pool's connections before the burst, so the burst measures waiting, not connecting.
 * @param {import('../lib/types.mjs').SaturationHandle} pool
 */
async function warm(pool) {
  const leases = await Promise.all(Array.from({ length: POOL_SIZE }, () => pool.acquire()));
  await Promise.all(leases.map((lease) => lease.release()));
}

/**
 * One client: wait for a connection, hold it, give it back.
 * @param {import('../lib/types.mjs').SaturationHandle} pool
 * @returns {Promise<{ waitMs: number, error?: unknown }>}
 */
async function client(pool) {
  const start = performance.now();
  /** @type {import('../lib/types.mjs').PoolLease} */
  let lease;
  try {
    lease = await pool.acquire();
  } catch (error) {
    return { waitMs: performance.now() - start, error: error ?? new Error('rejected without an error') };
  }
  const waitMs = performance.now() - start;
  try {
    await lease.hold();
  } finally {
    await lease.release();
  }
  return { waitMs };
}
