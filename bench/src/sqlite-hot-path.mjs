#!/usr/bin/env node
// The SQLite point select alone, in one process, against its ceilings: raw better-sqlite3, raw in a
// promise, raw in a promise timed with two clock reads, @dal's async API and its sync connection,
// interleaved in short rounds. Quicker and steadier than run.mjs for a change to the hot path.
//
//   node --expose-gc src/sqlite-hot-path.mjs [--concurrency 64] [--rounds 9] [--ms 1000]
import { parseArgs } from 'node:util';
import { DatabaseConfig, setInstrumentation } from '@dal/core';
import { SqliteDatabase } from '@dal/driver-sqlite';
import { interleavedSamples } from './lib/harness.mjs';
import { PORTABLE_POINT_SELECT as PORTABLE, POINT_ROWS as ROWS, sqlitePointTable } from './lib/sqlite-point-table.mjs';
import { ratioTable } from './lib/stats.mjs';

const { values: args } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '9' },
    ms: { type: 'string', default: '1000' },
  },
});
const table = sqlitePointTable();
const select = table.rawSelect;
const db = new SqliteDatabase(new DatabaseConfig({ database: table.file, alias: 'hot_path', poolMin: 1, poolMax: 1 }));
const sync = db.syncConnection();
let timedMs = 0;
/** @type {import('@dal/core').DalInstrumentation} */
const PASS_THROUGH = { statement: (_info, run) => run(), acquisition: (_pool, run) => run(), transaction: (_info, run) => run() };

/** @type {Record<string, (id: number) => unknown>} */
const contenders = {
  'better-sqlite3 (raw)': (id) => select.get(id),
  // What db.execute does natively: every row of the statement as an array (.all steps past the last row).
  'better-sqlite3 .all() (raw execute)': (id) => select.all(id),
  'raw, in a promise': (id) => Promise.resolve(select.get(id)),
  'raw, in a promise, timed': (id) => {
    const started = performance.now();
    const row = select.get(id);
    timedMs += performance.now() - started;
    return Promise.resolve(row);
  },
  '@dal db.executeFirst': (id) => db.executeFirst(PORTABLE, [id]),
  '@dal db.execute': (id) => db.execute(PORTABLE, [id]),
  '@dal withConnection(c => c.executeFirst)': (id) => db.withConnection((c) => c.executeFirst(PORTABLE, [id])),
  // What TypeScript compiles `await using c = await db.connection()` to (Node 20 has no syntax for it).
  '@dal await using c = await db.connection()': async (id) => {
    const c = await db.connection();
    try {
      return await c.executeFirst(PORTABLE, [id]);
    } finally {
      await c[Symbol.asyncDispose]();
    }
  },
  '@dal syncConnection()': (id) => sync.executeFirst(PORTABLE, [id]),
  // Tracing is off in every row above (no instrumentation installed: one undefined check per statement).
  // This row installs a pass-through instrumentation for its own calls only: the hook's cost without a tracer's.
  '@dal db.executeFirst, pass-through instrumentation': (id) => {
    setInstrumentation(PASS_THROUGH);
    try {
      return db.executeFirst(PORTABLE, [id]);
    } finally {
      setInstrumentation(undefined);
    }
  },
};

const concurrency = Number(args.concurrency);
const samples = await interleavedSamples(contenders, { rounds: Number(args.rounds), ms: Number(args.ms), concurrency, rows: ROWS });
if (!(timedMs > 0)) throw new Error('the timed contender measured nothing');

console.log(ratioTable(`contender (point select, concurrency ${concurrency})`, samples, 'better-sqlite3 (raw)'));
await db.close();
table.close();
