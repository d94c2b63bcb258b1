import { randomUUID } from 'node:crypto';
import { bounded, collectGarbage, rotate } from '../lib/harness.mjs';
import { entityRows } from '../lib/sql.mjs';
import { median } from '../lib/stats.mjs';

/** @typedef {import('../lib/types.mjs').Backend} Backend */
/** @typedef {import('../lib/types.mjs').Options} Options */

export const ENTITY_NAME = 'bench_entity';
export const RAW_TABLE = 'bench_entraw';
const RAW_NAME = 'raw batched insert (main + history rows)';

/**
 * @typedef {object} EntitiesResult
 * @property {boolean} available
 * @property {string} [reason]          why not, when unavailable
 * @property {{ name: string, median: number, ratio: number }[]} rows  rows/s per contender, ratio to raw
 */

/**
 * Import @dal/entities (it adds `saveEntities` to every Connection).
 * @returns {Promise<string | undefined>} undefined when loaded, else the reason
 */
async function loadEntities() {
  try {
    await import('@dal/entities');
    return undefined;
  } catch (error) {
    return `@dal/entities could not be imported (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`;
  }
}

/**
 * 10,000 entities through `conn.saveEntities` against the raw driver's batched multi-row insert
 * of the same rows into an equivalent table and history table, in one transaction each.
 * @param {Backend} backend
 * @param {Options} opts
 * @param {(line: string) => void} log
 * @returns {Promise<EntitiesResult>}
 */
export async function runEntities(backend, opts, log) {
  const reason = await loadEntities();
  if (reason !== undefined) return { available: false, reason, rows: [] };
  const { entities } = backend;
  await entities.dropTables();
  /** @type {Record<string, number[]>} */
  const samples = {};
  let offset = 0;
  try {
    const dalContenders = entities.dal.map((variant) => ({
      name: variant.name,
      run: async (/** @type {Record<string, unknown>[]} */ rows) => {
        const db = await variant.open();
        try {
          return await db.withConnection(async (conn) => {
            const save = /** @type {{ saveEntities?: (name: string, rows: unknown[]) => Promise<unknown[]> }} */ (/** @type {unknown} */ (conn)).saveEntities;
            if (typeof save !== 'function') throw new Error('@dal/entities loaded but conn.saveEntities is missing');
            // A small save first: it creates the tables, so the timed save is the steady state.
            await save.call(conn, ENTITY_NAME, entityRows(10, -10 - offset));
            const start = performance.now();
            const saved = await save.call(conn, ENTITY_NAME, rows);
            const ms = performance.now() - start;
            if (!Array.isArray(saved) || saved.length !== rows.length) throw new Error(`saveEntities returned ${Array.isArray(saved) ? saved.length : typeof saved} entities for ${rows.length}`);
            return ms;
          });
        } finally {
          await db.close();
        }
      },
    }));
    const contenders = [
      ...dalContenders,
      {
        name: RAW_NAME,
        run: async (/** @type {Record<string, unknown>[]} */ rows) => {
          const raw = await entities.openRaw();
          try {
            await raw.insertBatched(asStored(entityRows(10, -10 - offset)));
            const start = performance.now();
            await raw.insertBatched(asStored(rows));
            return performance.now() - start;
          } finally {
            await raw.close();
          }
        },
      },
    ];
    for (let round = 0; round < opts.entityRounds; round++) {
      for (const contender of rotate(contenders, round)) {
        collectGarbage();
        const rows = entityRows(opts.entityRows, offset);
        offset += opts.entityRows + 10;
        const ms = await bounded(contender.run(rows), 300_000, contender.name);
        const rate = (rows.length / ms) * 1000;
        (samples[contender.name] ??= []).push(rate);
        log(`  ${backend.name} entities round ${round + 1}/${opts.entityRounds} ${contender.name}: ${Math.round(rate)} rows/s`);
      }
    }
    const perContender = opts.entityRounds * (opts.entityRows + 10);
    const rawCount = await entities.count(RAW_TABLE);
    if (rawCount !== perContender) throw new Error(`raw batched insert stored ${rawCount} of ${perContender} rows`);
    const dalCount = await entities.count(ENTITY_NAME);
    const dalExpected = perContender * entities.dal.length;
    if (dalCount !== dalExpected) throw new Error(`saveEntities stored ${dalCount} of ${dalExpected} rows in ${ENTITY_NAME}`);
  } finally {
    await entities.dropTables();
  }
  const base = median(samples[RAW_NAME] ?? []);
  return {
    available: true,
    rows: Object.entries(samples).map(([name, values]) => ({ name, median: median(values), ratio: median(values) / base })),
  };
}

/**
 * The rows as the entity framework stores them: with id, audit fields and a first history version.
 * @param {Record<string, unknown>[]} rows
 * @returns {{ main: Record<string, unknown>, history: Record<string, unknown> }[]}
 */
function asStored(rows) {
  const now = new Date();
  return rows.map((row) => {
    const main = { id: randomUUID(), ...row, created_at: now, updated_at: now, created_by: 'bench', updated_by: 'bench', deleted_at: null };
    return { main, history: { ...main, version: 1, history_timestamp: now, history_user_id: 'bench', history_comment: null } };
  });
}
