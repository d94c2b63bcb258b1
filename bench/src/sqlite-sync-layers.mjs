#!/usr/bin/env node
// Where the SQLite sync connection's time goes: the point select timed with two clock reads (the
// ceiling of any path that records durations), then with each layer of syncConnection().executeFirst
// added in turn, interleaved in short rounds, as ratios to raw better-sqlite3 in the same run.
//
//   node --expose-gc src/sqlite-sync-layers.mjs [--concurrency 64] [--rounds 9] [--ms 500]
//
// Rows: the raw call; timed; timed plus the check that no integer was rounded (the `for...in` the
// driver runs over each row read in plain mode); the driver's prepared reader, timed, with its
// parameter array (what @dal/driver-sqlite adds); the sync connection (what core adds: the reader
// lookup, the checks, the metrics record).
import { parseArgs } from 'node:util';
import { DatabaseConfig } from '@dal/core';
import { SqliteDatabase, createSqliteDriver } from '@dal/driver-sqlite';
import { interleavedSamples } from './lib/harness.mjs';
import { PORTABLE_POINT_SELECT as PORTABLE, POINT_ROWS as ROWS, sqlitePointTable } from './lib/sqlite-point-table.mjs';
import { ratioTable } from './lib/stats.mjs';

const { values: args } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '9' },
    ms: { type: 'string', default: '500' },
  },
});
const table = sqlitePointTable();
const select = table.rawSelect;
const config = new DatabaseConfig({ database: table.file, alias: 'sync_layers', poolMin: 1, poolMax: 1 });
const db = new SqliteDatabase(config);
const sync = db.syncConnection();
const driverConnection = createSqliteDriver().connectSync(config);
const reader = driverConnection.prepareReader?.('SELECT "id", "name", "score" FROM "bench_point" WHERE "id" = ?');
if (reader === undefined) throw new Error('the SQLite driver prepared no reader for the point select');
let timedMs = 0;
let rounded = 0;

/** @param {Record<string, unknown>} row */
function mayBeRounded(row) {
  for (const key in row) {
    const value = row[key];
    if (typeof value === 'number' && (value > Number.MAX_SAFE_INTEGER || value < -Number.MAX_SAFE_INTEGER)) return true;
  }
  return false;
}

/** @type {Record<string, (id: number) => unknown>} */
const contenders = {
  'better-sqlite3 (raw)': (id) => select.get(id),
  'raw, timed': (id) => {
    const started = performance.now();
    const row = select.get(id);
    timedMs += performance.now() - started;
    return row;
  },
  'raw, timed, rounding check': (id) => {
    const started = performance.now();
    const row = /** @type {Record<string, unknown>} */ (select.get(id));
    if (mayBeRounded(row)) rounded++;
    timedMs += performance.now() - started;
    return row;
  },
  'driver reader, timed': (id) => {
    const started = performance.now();
    const row = reader.first([id]);
    timedMs += performance.now() - started;
    return row;
  },
  '@dal syncConnection()': (id) => sync.executeFirst(PORTABLE, [id]),
};

const concurrency = Number(args.concurrency);
const samples = await interleavedSamples(contenders, { rounds: Number(args.rounds), ms: Number(args.ms), concurrency, rows: ROWS });
if (!(timedMs > 0) || rounded !== 0) throw new Error('the timed contenders measured nothing, or found a rounded integer');

console.log(ratioTable(`layer (point select, concurrency ${concurrency})`, samples, 'better-sqlite3 (raw)'));
driverConnection.close();
await db.close();
table.close();
