#!/usr/bin/env node
// @dal against the raw drivers, knex and kysely, interleaved in rounds. See docs/BENCHMARKS.md.
//
//   node --expose-gc src/run.mjs [--backend postgres|mysql|sqlite]... [--quick] [--json out.json]
//                                [--rounds N] [--duration MS] [--only REGEX]
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PoolManager } from '@dal/core';
import { mysqlBackend } from './backends/mysql.mjs';
import { postgresBackend } from './backends/postgres.mjs';
import { sqliteBackend } from './backends/sqlite.mjs';
import { runEntities } from './scenarios/entities.mjs';
import { ACQUIRE_TIMEOUT_MS, CLIENTS, HOLD_MS, POOL_SIZE, runSaturation } from './scenarios/saturation.mjs';
import { runThroughput, summarise } from './scenarios/throughput.mjs';
import { CHECK_AFTER_MS, runTimeout } from './scenarios/timeout.mjs';
import { fmt, markdownTable } from './lib/stats.mjs';

/** @typedef {import('./lib/types.mjs').Options} Options */
/** @typedef {import('./lib/types.mjs').Backend} Backend */

const BACKENDS = /** @type {const} */ ({ postgres: postgresBackend, mysql: mysqlBackend, sqlite: sqliteBackend });

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', multiple: true },
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    only: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  console.log('usage: node --expose-gc src/run.mjs [--backend postgres|mysql|sqlite]... [--quick] [--json out.json] [--rounds N] [--duration MS] [--only REGEX]');
  process.exit(0);
}

const selected = (args.backend ?? Object.keys(BACKENDS)).flatMap((b) => b.split(','));
for (const name of selected) {
  if (!(name in BACKENDS)) {
    console.error(`unknown backend '${name}': use postgres, mysql or sqlite`);
    process.exit(2);
  }
}

/** @type {Options} */
const opts = {
  quick: args.quick ?? false,
  rounds: args.rounds !== undefined ? Number(args.rounds) : args.quick ? 1 : 5,
  durationMs: args.duration !== undefined ? Number(args.duration) : args.quick ? 100 : 1_000,
  warmupMs: args.quick ? 30 : 250,
  pointRows: 10_000,
  bulkRows: args.quick ? 200 : 10_000,
  entityRows: args.quick ? 100 : 10_000,
  entityRounds: args.quick ? 1 : 3,
  slowQueryMs: args.quick ? 600 : 2_000,
  queryTimeoutMs: 200,
  timeoutRounds: args.quick ? 1 : 2,
  saturationRounds: args.quick ? 1 : 3,
  pgUrl: process.env.DAL_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  mysqlUrl: process.env.DAL_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test',
  sqliteDir: join(os.tmpdir(), `dal-bench-${process.pid}`),
  only: args.only === undefined ? undefined : new RegExp(args.only),
};

/** @param {string} line */
const log = (line) => process.stderr.write(`${line}\n`);
/** @type {string[]} */
const out = [];
/** @param {string} text */
const print = (text) => {
  out.push(text);
  console.log(text);
};

const started = Date.now();
const machine = {
  cpus: os.availableParallelism(),
  cpuModel: os.cpus()[0]?.model ?? 'unknown',
  memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
  node: process.version,
  platform: `${os.type()} ${os.release()}`,
  loadAverageAtStart: os.loadavg().map((v) => Math.round(v * 100) / 100),
};
print(`# @dal benchmark ${opts.quick ? '(quick mode: tiny counts, 1 round; timings meaningless)' : ''}`);
print('');
print(`- machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, ${machine.platform}, Node ${machine.node}`);
print(`- load average at start: ${machine.loadAverageAtStart.join(', ')}`);
print(`- rounds: ${opts.rounds} x ${opts.durationMs} ms per contender and scenario (after ${opts.warmupMs} ms warm-up), bulk ${fmt(opts.bulkRows)} rows, entities ${fmt(opts.entityRows)} x ${opts.entityRounds} rounds`);

/** @type {Record<string, unknown>} */
const report = { machine, options: { ...opts }, backends: {} };
/** @type {string[]} */
const behind = [];
let failed = false;

for (const name of selected) {
  const backend = BACKENDS[/** @type {keyof typeof BACKENDS} */ (name)](opts);
  log(`== ${name}`);
  try {
    await backend.setup();
    const version = await backend.serverVersion();
    print('');
    print(`## ${name}: ${version}`);
    print('');
    print(`Pools: ${backend.poolNote}.`);
    const baseline = backend.contenders.find((c) => c.baseline)?.name ?? '';

    const throughput = await runThroughput(backend, opts, log);
    for (const result of throughput) {
      const rows = summarise(result, baseline);
      print('');
      print(`### ${name}: ${result.title}`);
      print('');
      print(
        markdownTable(
          ['contender', `median ${result.unit}`, 'ratio to raw', `min..max ${result.unit}`],
          rows.map((r) => [r.name, fmt(r.median), fmt(r.ratio, 2), `${fmt(r.min)}..${fmt(r.max)}`]),
        ),
      );
      noteBehind(name, result.title, rows);
    }

    const entities = await runEntities(backend, opts, log);
    print('');
    print(`### ${name}: ${fmt(opts.entityRows)} entities through saveEntities vs the raw driver's batched insert`);
    print('');
    if (!entities.available) {
      print(`not available: ${entities.reason}`);
    } else {
      print(markdownTable(['contender', 'median rows/s', 'ratio to raw'], entities.rows.map((r) => [r.name, fmt(r.median), fmt(r.ratio, 2)])));
    }

    const saturation = await runSaturation(backend, opts, log);
    print('');
    print(`### ${name}: pool saturation (pool ${POOL_SIZE}, ${CLIENTS} clients at once holding ${HOLD_MS} ms, ${ACQUIRE_TIMEOUT_MS} ms acquisition timeout)`);
    print('');
    print(
      markdownTable(
        ['contender', 'served', 'timed out', 'error', 'p50 wait ms', 'p99 wait ms', 'error after ms', 'wall ms', 'note'],
        saturation.map((r) => [r.name, fmt(r.served), fmt(r.timeouts), r.error, fmt(r.p50WaitMs), fmt(r.p99WaitMs), fmt(r.timeoutAfterMs), fmt(r.wallMs), r.note]),
      ),
    );

    const timeout = await runTimeout(backend, opts, log);
    print('');
    print(`### ${name}: a ${fmt(opts.slowQueryMs)} ms statement under a ${opts.queryTimeoutMs} ms timeout`);
    print('');
    print(
      markdownTable(
        ['contender', 'caller got', 'after ms', `still running ${CHECK_AFTER_MS} ms later`, 'statement gone after ms', 'how'],
        timeout.map((r) => [r.name, r.outcome, fmt(r.toCallerMs), r.runningAfter, r.stoppedAfterMs, r.note]),
      ),
    );
    /** @type {Record<string, unknown>} */ (report.backends)[name] = { version, throughput, entities, saturation, timeout };
  } catch (error) {
    failed = true;
    print('');
    print(`## ${name}: FAILED: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
  } finally {
    await backend.teardown().catch((error) => log(`${name} teardown failed: ${error}`));
    await PoolManager.closeAll().catch(() => undefined);
  }
}

print('');
print('## Where @dal is behind a peer');
print('');
print(behind.length === 0 ? 'nowhere in this run.' : behind.map((line) => `- ${line}`).join('\n'));
const loadAtEnd = os.loadavg().map((v) => Math.round(v * 100) / 100);
print('');
print(`Finished in ${Math.round((Date.now() - started) / 1000)} s; load average at end: ${loadAtEnd.join(', ')}.`);

if (args.json !== undefined) {
  writeFileSync(args.json, JSON.stringify({ ...report, behind, loadAverageAtEnd: loadAtEnd, markdown: out.join('\n') }, null, 2));
}
process.exit(failed ? 1 : 0);

/**
 * Record every peer whose median beats a @dal variant's in one scenario.
 * @param {string} backend
 * @param {string} title
 * @param {{ name: string, median: number }[]} rows
 */
function noteBehind(backend, title, rows) {
  const peers = rows.filter((r) => !r.name.startsWith('@dal') && !r.name.includes('multi-row'));
  for (const dal of rows.filter((r) => r.name.startsWith('@dal'))) {
    for (const peer of peers) {
      if (peer.median > dal.median) {
        behind.push(`${backend}, ${title}: ${dal.name} at ${fmt(dal.median / peer.median, 2)} of ${peer.name} (${fmt(dal.median)} vs ${fmt(peer.median)})`);
      }
    }
  }
}
