#!/usr/bin/env node
// The SQLite point select as a fixed number of calls, for counting instructions rather than
// timing them: instruction counts do not depend on what else the machine is doing, so a change of
// a few hundred instructions per call shows where sqlite-hot-path.mjs's ratios drown in noise.
// Count a call as the difference of two runs (so start-up and warm-up cancel out):
//
//   count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//     node --single-threaded src/sqlite-instructions.mjs "$@" 2>&1 | awk '/Collected/ {print $4}'; }
//   echo $(( ($(count sync 500000) - $(count sync 100000)) / 400000 ))   # per call
//
//   node src/sqlite-instructions.mjs <contender> <calls> [--concurrency 64]
// Contenders: raw, raw-timed (two performance.now() reads), sync (syncConnection().executeFirst),
// executeFirst, execute, withConnection. --concurrency N runs N awaiting callers, like the bench.
import { parseArgs } from 'node:util';
import { DatabaseConfig } from '@dal/core';
import { SqliteDatabase } from '@dal/driver-sqlite';
import { PORTABLE_POINT_SELECT as PORTABLE, POINT_ROWS, sqlitePointTable } from './lib/sqlite-point-table.mjs';

const { values: args, positionals } = parseArgs({ allowPositionals: true, options: { concurrency: { type: 'string', default: '0' } } });
const [name = 'sync', callsText = '100000'] = positionals;
const calls = Number(callsText);
const WARM_UP = 20_000;
const table = sqlitePointTable();
const select = table.rawSelect;
const db = new SqliteDatabase(new DatabaseConfig({ database: table.file, alias: 'instructions', poolMin: 1, poolMax: 1 }));
const sync = db.syncConnection();
let timedMs = 0;

/** @type {Record<string, (id: number) => unknown>} */
const contenders = {
  raw: (id) => select.get(id),
  'raw-timed': (id) => {
    const started = performance.now();
    const row = select.get(id);
    timedMs += performance.now() - started;
    return row;
  },
  sync: (id) => sync.executeFirst(PORTABLE, [id]),
  executeFirst: (id) => db.executeFirst(PORTABLE, [id]),
  execute: (id) => db.execute(PORTABLE, [id]),
  withConnection: (id) => db.withConnection((c) => c.executeFirst(PORTABLE, [id])),
};
const op = contenders[name];
if (op === undefined) throw new Error(`unknown contender ${name}; one of ${Object.keys(contenders).join(', ')}`);

let found = 0;
const concurrency = Number(args.concurrency);
/** @param {number} count */
const serial = async (count) => {
  for (let i = 0; i < count; i++) if ((await op((i % POINT_ROWS) + 1)) !== undefined) found++;
};
/** @param {number} count */
const run = (count) => (concurrency > 0 ? Promise.all(Array.from({ length: concurrency }, () => serial(count / concurrency))) : serial(count));
await run(WARM_UP);
await run(calls);
if (found !== WARM_UP + calls) throw new Error(`${name}: ${found} rows found for ${WARM_UP + calls} calls`);
if (name === 'raw-timed' && !(timedMs > 0)) throw new Error('the timed contender measured nothing');
await db.close();
table.close();
