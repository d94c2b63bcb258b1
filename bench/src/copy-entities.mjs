#!/usr/bin/env node
// Issue 19: copy entities with history from SQLite to PostgreSQL (or MariaDB) with copyEntities,
// against the raw batched insert of the same rows (streamed out of SQLite, written with
// executeMany's multi-row INSERTs into tables of the same columns and primary keys). Goal: within 2x of it.
// See docs/BENCHMARKS.md, "Moving entities between backends".
//
//   node src/copy-entities.mjs [--target postgres|mysql] [--entities 100000] [--updated-every 5]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { DatabaseConfig, PoolManager } from '@dal/core';
import { MysqlDatabase } from '@dal/driver-mysql';
import { PostgresDatabase } from '@dal/driver-postgres';
import { SqliteDatabase } from '@dal/driver-sqlite';
import { copyEntities, exportEntities } from '@dal/entities';

const { values: args } = parseArgs({
  options: {
    target: { type: 'string', default: 'postgres' },
    entities: { type: 'string', default: '100000' },
    'updated-every': { type: 'string', default: '5' },
  },
});
const ENTITIES = Number(args.entities);
const UPDATED_EVERY = Number(args['updated-every']);
const CHUNK = 5_000;
const NAME = `bench_copy_${process.pid}`;
const RAW = `bench_raw_${process.pid}`;
const TARGETS = {
  postgres: () => new PostgresDatabase(DatabaseConfig.fromUrl(process.env.DAL_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test', { alias: 'copy_bench_pg' })),
  mysql: () => new MysqlDatabase(DatabaseConfig.fromUrl(process.env.DAL_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test', { alias: 'copy_bench_mysql' })),
};
const openTarget = TARGETS[/** @type {keyof typeof TARGETS} */ (args.target)];
if (openTarget === undefined) throw new Error(`unknown target '${args.target}': use postgres or mysql`);

const dir = mkdtempSync(join(tmpdir(), 'dal-copy-bench-'));
const source = new SqliteDatabase(new DatabaseConfig({ database: join(dir, 'source.db'), alias: 'copy_bench_source' }));
const target = openTarget();

/** @param {() => Promise<unknown>} fn */
async function seconds(fn) {
  const started = performance.now();
  await fn();
  return (performance.now() - started) / 1000;
}

async function dropTables() {
  await target.withConnection(async (conn) => {
    for (const table of [NAME, `${NAME}_history`, `${NAME}_meta`, RAW, `${RAW}_history`]) await conn.execute(`DROP TABLE IF EXISTS [${table}]`);
  });
}

/** Columns the target stores as timestamps (DATETIME(6) on MySQL). */
const TIMESTAMPS = new Set(['created_at', 'updated_at', 'deleted_at', 'history_timestamp', 'joined']);

/** MySQL's DATETIME takes no ISO 8601 'T' and 'Z': SQLite's UTC text as 'YYYY-MM-DD HH:MM:SS.sss'. */
function mysqlValue(/** @type {string} */ column, /** @type {unknown} */ value) {
  return typeof value === 'string' && TIMESTAMPS.has(column) ? `${value.slice(0, 10)} ${value.slice(11, 23)}` : value;
}

/**
 * The raw batched insert: the same rows, streamed from SQLite in the same order as the copy reads
 * them (by key), with executeMany into tables of the same columns and primary keys.
 */
async function rawCopy() {
  await target.withConnection(async (conn) => {
    for (const [from, to, key] of [
      [NAME, RAW, '[id]'],
      [`${NAME}_history`, `${RAW}_history`, '[id], [version]'],
    ]) {
      // Same columns as the entity tables (created by the copy before), empty; CREATE TABLE AS
      // copies no key, so add the entity tables' primary key (its index is a good part of an insert's cost).
      await conn.execute(`CREATE TABLE [${to}] AS SELECT * FROM [${from}] WHERE 1 = 0`);
      await conn.execute(`ALTER TABLE [${to}] ADD PRIMARY KEY (${key})`);
      /** @type {string[] | undefined} */
      let columns;
      /** @type {unknown[][]} */
      let batch = [];
      const flush = async () => {
        if (batch.length === 0) return;
        const names = /** @type {string[]} */ (columns);
        await conn.executeMany(`INSERT INTO [${to}] (${names.map((c) => `[${c}]`).join(', ')}) VALUES (${names.map(() => '?').join(', ')})`, batch);
        batch = [];
      };
      for await (const row of source.stream(`SELECT * FROM [${from}] ORDER BY ${key}`)) {
        const names = (columns ??= Object.keys(row));
        batch.push(names.map(args.target === 'mysql' ? (c) => mysqlValue(c, row[c]) : (c) => row[c]));
        if (batch.length === 1_000) await flush();
      }
      await flush();
    }
  });
}

try {
  const built = await seconds(async () => {
    await source.withConnection(async (conn) => {
      for (let start = 0; start < ENTITIES; start += CHUNK) {
        const rows = Array.from({ length: Math.min(CHUNK, ENTITIES - start) }, (_, i) => {
          const n = start + i;
          return { id: `u${n}`, name: `user ${n}`, age: n % 90, score: n / 7, active: n % 3 === 0, joined: new Date(1_700_000_000_000 + n * 1000), prefs: { n } };
        });
        await conn.saveEntities(NAME, rows, { userId: 'seed' });
      }
      for (let n = 0; n < ENTITIES; n += UPDATED_EVERY * CHUNK) {
        const rows = [];
        for (let id = n; id < Math.min(ENTITIES, n + UPDATED_EVERY * CHUNK); id += UPDATED_EVERY) rows.push({ id: `u${id}`, name: `user ${id} (edited)` });
        await conn.saveEntities(NAME, rows, { userId: 'editor' });
      }
    });
  });
  await dropTables();
  let lines = 0;
  const exported = await seconds(() =>
    source.withConnection(async (conn) => {
      for await (const _line of exportEntities(conn, { entities: [NAME] })) lines++;
    }),
  );
  /** @type {import('@dal/entities').CopyResult | undefined} */
  let result;
  const copied = await seconds(async () => {
    result = await copyEntities(source, target, { entities: [NAME], verify: false });
  });
  const verified = await seconds(async () => {
    result = await copyEntities(source, target, { entities: [NAME] });
  });
  const raw = await seconds(rawCopy);
  const rows = lines - 1;
  console.log(`source: ${ENTITIES} entities, ${rows - ENTITIES} history rows (SQLite, built in ${built.toFixed(1)} s)`);
  console.log(`export only (SQLite, drained):         ${exported.toFixed(2)} s`);
  console.log(`copyEntities -> ${args.target} (no verify): ${copied.toFixed(2)} s  (${Math.round(rows / copied)} rows/s)`);
  console.log(`raw batched insert (executeMany):      ${raw.toFixed(2)} s  (${Math.round(rows / raw)} rows/s)`);
  console.log(`ratio copy / raw:                      ${(copied / raw).toFixed(2)}x`);
  console.log(`second copy (all rows unchanged) + verify: ${verified.toFixed(2)} s, ok: ${result?.ok}`);
} finally {
  await dropTables().catch(() => undefined);
  await source.close();
  await target.close();
  await PoolManager.closeAll();
  rmSync(dir, { recursive: true, force: true });
}
