import { bounded, collectGarbage, rotate, throughput } from '../lib/harness.mjs';
import { fmt, median } from '../lib/stats.mjs';

/** @typedef {import('../lib/types.mjs').Backend} Backend */
/** @typedef {import('../lib/types.mjs').Options} Options */
/** @typedef {import('../lib/types.mjs').Handle} Handle */

/**
 * @typedef {object} ThroughputScenario
 * @property {string} id
 * @property {string} title
 * @property {string} unit
 * @property {'pointSelect' | 'insert' | 'mixed' | 'bulkInsert'} op  mixed: four point selects to one insert
 * @property {number} concurrency
 */

/** @type {readonly ThroughputScenario[]} */
const SCENARIOS = [
  { id: 'select-c1', title: 'Point select by primary key, concurrency 1', unit: 'ops/s', op: 'pointSelect', concurrency: 1 },
  { id: 'select-c16', title: 'Point select by primary key, concurrency 16', unit: 'ops/s', op: 'pointSelect', concurrency: 16 },
  { id: 'select-c64', title: 'Point select by primary key, concurrency 64', unit: 'ops/s', op: 'pointSelect', concurrency: 64 },
  { id: 'insert-c1', title: 'Single-row insert, concurrency 1', unit: 'ops/s', op: 'insert', concurrency: 1 },
  { id: 'insert-c16', title: 'Single-row insert, concurrency 16', unit: 'ops/s', op: 'insert', concurrency: 16 },
  { id: 'insert-c64', title: 'Single-row insert, concurrency 64', unit: 'ops/s', op: 'insert', concurrency: 64 },
  { id: 'mixed-c1', title: 'Mixed: 4 point selects to 1 single-row insert, concurrency 1', unit: 'ops/s', op: 'mixed', concurrency: 1 },
  { id: 'mixed-c16', title: 'Mixed: 4 point selects to 1 single-row insert, concurrency 16', unit: 'ops/s', op: 'mixed', concurrency: 16 },
  { id: 'mixed-c64', title: 'Mixed: 4 point selects to 1 single-row insert, concurrency 64', unit: 'ops/s', op: 'mixed', concurrency: 64 },
  { id: 'bulk', title: 'Bulk insert in one transaction, each layer with its bulk API', unit: 'rows/s', op: 'bulkInsert', concurrency: 1 },
];

/**
 * @typedef {object} ScenarioResult
 * @property {string} id
 * @property {string} title
 * @property {string} unit
 * @property {Record<string, number[]>} samples  contender -> one value per round
 */

/**
 * Run every throughput scenario for every contender, interleaved: each round opens each contender
 * once (in rotated order) and runs all scenarios on it, so slow drifts of the shared machine hit
 * every contender alike.
 * @param {Backend} backend
 * @param {Options} opts
 * @param {(line: string) => void} log
 * @returns {Promise<ScenarioResult[]>}
 */
export async function runThroughput(backend, opts, log) {
  /** @type {ScenarioResult[]} */
  const results = SCENARIOS.map((s) => ({ id: s.id, title: s.title, unit: s.unit, samples: {} }));
  const bulkRows = Array.from({ length: opts.bulkRows }, (_, i) => /** @type {const} */ ([i, `bulk ${i}`]));
  let insertKey = 0;
  for (let round = 0; round < opts.rounds; round++) {
    for (const contender of rotate(opts.only === undefined ? backend.contenders : backend.contenders.filter((c) => c.baseline === true || opts.only?.test(c.name)), round)) {
      collectGarbage();
      const handle = await bounded(contender.open(), 60_000, `${backend.name} ${contender.name} open`);
      try {
        await checkHandle(handle, backend, contender.name);
        for (const [index, scenario] of SCENARIOS.entries()) {
          const result = /** @type {ScenarioResult} */ (results[index]);
          const value = await measure(scenario, handle, backend, opts, bulkRows, () => insertKey++);
          if (value === undefined) continue;
          (result.samples[contender.name] ??= []).push(value);
          log(`  ${backend.name} round ${round + 1}/${opts.rounds} ${contender.name.padEnd(28)} ${scenario.id.padEnd(11)} ${fmt(value)} ${scenario.unit}`);
        }
      } finally {
        await bounded(handle.close(), 30_000, `${backend.name} ${contender.name} close`);
      }
    }
  }
  return results;
}

/**
 * One measurement of one scenario; undefined when the contender does not take part.
 * @param {ThroughputScenario} scenario
 * @param {Handle} handle
 * @param {Backend} backend
 * @param {Options} opts
 * @param {ReadonlyArray<readonly [number, string]>} bulkRows
 * @param {() => number} nextKey
 * @returns {Promise<number | undefined>}
 */
async function measure(scenario, handle, backend, opts, bulkRows, nextKey) {
  if (scenario.op === 'bulkInsert') {
    const bulkInsert = handle.bulkInsert;
    if (bulkInsert === undefined) return undefined;
    await backend.truncate('bench_bulk');
    collectGarbage();
    const start = performance.now();
    await bounded(Promise.resolve(bulkInsert(bulkRows)), 120_000, 'bulk insert');
    const seconds = (performance.now() - start) / 1000;
    // A contender that silently dropped rows must not look fast.
    const stored = await backend.count('bench_bulk');
    if (stored !== bulkRows.length) throw new Error(`bulk insert stored ${stored} of ${bulkRows.length} rows`);
    return bulkRows.length / seconds;
  }
  const call = operation(scenario.op, handle, opts, nextKey);
  if (call === undefined) return undefined;
  if (scenario.op !== 'pointSelect') await backend.truncate('bench_ins');
  await throughput(call, scenario.concurrency, opts.warmupMs);
  collectGarbage();
  return throughput(call, scenario.concurrency, opts.durationMs);
}

/**
 * One call of a throughput scenario's operation, or undefined when the contender lacks it.
 * @param {'pointSelect' | 'insert' | 'mixed'} op
 * @param {Handle} handle
 * @param {Options} opts
 * @param {() => number} nextKey
 * @returns {(() => unknown) | undefined}
 */
function operation(op, handle, opts, nextKey) {
  const { pointSelect, insert } = handle;
  const select = pointSelect === undefined ? undefined : () => pointSelect(1 + Math.floor(Math.random() * opts.pointRows));
  const write = insert === undefined ? undefined : () => insert(nextKey());
  if (op === 'pointSelect') return select;
  if (op === 'insert') return write;
  if (select === undefined || write === undefined) return undefined;
  let calls = 0;
  return () => (++calls % 5 === 0 ? write() : select());
}

/**
 * Fail loudly when a contender returns the wrong row: a broken contender must not produce a number.
 * @param {Handle} handle
 * @param {Backend} backend
 * @param {string} name
 */
async function checkHandle(handle, backend, name) {
  if (handle.pointSelect === undefined) return;
  const row = /** @type {Record<string, unknown> | undefined} */ (await handle.pointSelect(42));
  if (row === undefined || Number(row.id) !== 42 || row.name !== 'row 42') {
    throw new Error(`${backend.name} ${name}: point select returned ${JSON.stringify(row)}`);
  }
}

/**
 * Median per contender and its ratio to the baseline (the raw driver), best first.
 * @param {ScenarioResult} result
 * @param {string} baseline
 * @returns {{ name: string, median: number, min: number, max: number, ratio: number }[]}
 */
export function summarise(result, baseline) {
  const base = median(result.samples[baseline] ?? []);
  return Object.entries(result.samples)
    .map(([name, values]) => ({
      name,
      median: median(values),
      min: Math.min(...values),
      max: Math.max(...values),
      ratio: median(values) / base,
    }))
    .sort((a, b) => b.median - a.median);
}
