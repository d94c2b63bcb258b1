#!/usr/bin/env node
// What a worker-backed syncConnection() costs on PostgreSQL and MariaDB: a point select by primary
// key, one caller (a sync connection serves one at a time), through the sync connection against
// the async API, interleaved in rounds. See docs/BENCHMARKS.md, "Synchronous connections".
//
//   node --expose-gc src/sync-cost.mjs [--backend postgres|mysql]... [--rounds 5] [--ms 1000]
import { parseArgs } from 'node:util';
import { DatabaseConfig, PoolManager } from '@dal/core';
import { MysqlDatabase } from '@dal/driver-mysql';
import { PostgresDatabase } from '@dal/driver-postgres';
import { interleavedSamples } from './lib/harness.mjs';
import { median } from './lib/stats.mjs';

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', multiple: true },
    rounds: { type: 'string', default: '5' },
    ms: { type: 'string', default: '1000' },
  },
});
const ROWS = 10_000;
const TABLE = `bench_sync_${process.pid}`;
const BACKENDS = {
  postgres: () => new PostgresDatabase(DatabaseConfig.fromUrl(process.env.DAL_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test', { alias: 'sync_cost_pg' })),
  mysql: () => new MysqlDatabase(DatabaseConfig.fromUrl(process.env.DAL_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test', { alias: 'sync_cost_mysql' })),
};
const PORTABLE = `SELECT [id], [name], [score] FROM [${TABLE}] WHERE [id] = ?`;

for (const backend of args.backend ?? Object.keys(BACKENDS)) {
  const open = BACKENDS[/** @type {keyof typeof BACKENDS} */ (backend)];
  if (open === undefined) throw new Error(`unknown backend '${backend}': use postgres or mysql`);
  const db = open();
  await db.execute(`DROP TABLE IF EXISTS [${TABLE}]`);
  await db.execute(`CREATE TABLE [${TABLE}] ([id] INTEGER PRIMARY KEY, [name] VARCHAR(40) NOT NULL, [score] DOUBLE PRECISION NOT NULL)`);
  const ids = Array.from({ length: ROWS }, (_, i) => i + 1);
  await db.withConnection((conn) => conn.executeMany(`INSERT INTO [${TABLE}] ([id], [name], [score]) VALUES (?, ?, ?)`, ids.map((id) => [id, `row ${id}`, id / 7])));
  const opened = performance.now();
  const sync = db.syncConnection();
  const openMs = performance.now() - opened;
  const held = await db.connection();

  /** @type {Record<string, (id: number) => unknown>} */
  const contenders = {
    '@dal async, db.executeFirst': (id) => db.executeFirst(PORTABLE, [id]),
    '@dal async, one held connection': (id) => held.executeFirst(PORTABLE, [id]),
    '@dal syncConnection().executeFirst': (id) => sync.executeFirst(PORTABLE, [id]),
  };

  const samples = await interleavedSamples(contenders, { rounds: Number(args.rounds), ms: Number(args.ms), concurrency: 1, rows: ROWS });
  const names = Object.keys(contenders);
  const version = sync.getVersionDetails().dbServerVersion;
  console.log(`\n${backend} (${version}); opening a sync connection (thread + connect): ${openMs.toFixed(0)} ms\n`);
  console.log('| point select, one caller | median ops/s | µs per call |\n| --- | --- | --- |');
  for (const name of names) {
    const value = median(samples[name] ?? []);
    console.log(`| ${name} | ${Math.round(value).toLocaleString('en-US')} | ${(1e6 / value).toFixed(1)} |`);
  }
  await held.release();
  sync.release();
  await db.execute(`DROP TABLE IF EXISTS [${TABLE}]`);
  await db.close();
}
await PoolManager.closeAll();
