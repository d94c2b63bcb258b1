#!/usr/bin/env node
// Does tracing cost anything when it is off? SQLite's db.executeFirst (the shortest path, where a
// cost would show most) in fresh processes, one mode each, alternating:
//   never         tracing never registered: @dal/metrics and @opentelemetry/api are not even loaded
//   unregistered  registerOtelTracing(provider), traced statements, then unregister(): off again
//   registered    tracing on with the API's no-op tracer provider (the hook's own cost, for scale)
// Each process measures raw better-sqlite3 interleaved with @dal, so its ratio to raw cancels the
// machine's drift between processes. Issue 21's bar: `unregistered` within noise of `never`.
//
//   node --expose-gc src/tracing-off.mjs [--rounds 6] [--ms 800] [--concurrency 64]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DatabaseConfig } from '@dal/core';
import { SqliteDatabase } from '@dal/driver-sqlite';
import { interleavedSamples, rotate, throughput } from './lib/harness.mjs';
import { PORTABLE_POINT_SELECT, POINT_ROWS, sqlitePointTable } from './lib/sqlite-point-table.mjs';
import { median } from './lib/stats.mjs';

const MODES = ['never', 'unregistered', 'registered'];
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '6' },
    ms: { type: 'string', default: '800' },
    concurrency: { type: 'string', default: '64' },
    mode: { type: 'string' }, // set for the child processes
  },
});

if (args.mode === undefined) await parent();
else await child(args.mode);

async function parent() {
  /** @type {Record<string, { dal: number[], ratio: number[] }>} */
  const samples = Object.fromEntries(MODES.map((mode) => [mode, { dal: [], ratio: [] }]));
  const rounds = Number(args.rounds);
  for (let round = 0; round < rounds; round++) {
    for (const mode of rotate(MODES, round)) {
      const script = fileURLToPath(import.meta.url);
      const result = spawnSync(process.execPath, ['--expose-gc', script, '--mode', mode, '--ms', args.ms, '--concurrency', args.concurrency], { encoding: 'utf8', timeout: 120_000 });
      if (result.status !== 0) throw new Error(`${mode} process failed: ${result.stderr || result.error?.message}`);
      const { dal, raw } = JSON.parse(result.stdout);
      samples[mode]?.dal.push(dal);
      samples[mode]?.ratio.push(dal / raw);
    }
  }
  const never = median(samples.never?.ratio ?? []);
  console.log(`| db.executeFirst, SQLite point select, concurrency ${args.concurrency} (${rounds} processes each) | median ops/s | ratio to raw | ratio to never registered |`);
  console.log('| --- | --- | --- | --- |');
  for (const mode of MODES) {
    const ratio = median(samples[mode]?.ratio ?? []);
    console.log(`| ${mode} | ${Math.round(median(samples[mode]?.dal ?? [])).toLocaleString('en-US')} | ${ratio.toFixed(3)} | ${(ratio / never).toFixed(3)} |`);
  }
}

/** @param {string} mode */
async function child(mode) {
  const table = sqlitePointTable();
  const db = new SqliteDatabase(new DatabaseConfig({ database: table.file, alias: 'tracing_off', poolMin: 1, poolMax: 1 }));
  const dalCall = (/** @type {number} */ id) => db.executeFirst(PORTABLE_POINT_SELECT, [id]);
  const concurrency = Number(args.concurrency);

  if (mode !== 'never') {
    // Loaded only here: in mode never neither @dal/metrics nor @opentelemetry/api is in the process.
    const { registerOtelTracing } = await import('@dal/metrics');
    const { ProxyTracerProvider } = await import('@opentelemetry/api');
    const tracing = registerOtelTracing(new ProxyTracerProvider());
    if (mode === 'unregistered') {
      // Long enough for the optimizer to compile the traced path before tracing goes off again.
      await throughput(() => dalCall(1 + Math.floor(Math.random() * POINT_ROWS)), concurrency, 500);
      tracing.unregister();
    }
  }

  const samples = await interleavedSamples({ raw: (id) => table.rawSelect.get(id), dal: dalCall }, { rounds: 3, ms: Number(args.ms), concurrency, rows: POINT_ROWS });
  console.log(JSON.stringify({ dal: median(samples.dal ?? []), raw: median(samples.raw ?? []) }));
  await db.close();
  table.close();
}
