import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteDialect } from 'kysely';
import { DatabaseConfig } from '@dal/core';
import { SqliteDatabase } from '@dal/driver-sqlite';
import { dalContender, dalSaturation, dalTimeout, knexContender, knexSaturation, knexTimeout, kyselyContender, kyselyOnDalContender } from '../lib/contenders.mjs';
import { sleep } from '../lib/harness.mjs';
import { BATCH, ENTITY_COLUMNS, HISTORY_COLUMNS, chunks, multiRowInsert } from '../lib/sql.mjs';
import { ENTITY_NAME, RAW_TABLE } from '../scenarios/entities.mjs';

/** @typedef {import('../lib/types.mjs').Backend} Backend */
/** @typedef {import('../lib/types.mjs').Options} Options */

const SELECT = 'SELECT id, name, score FROM bench_point WHERE id = ?';
const INSERT = 'INSERT INTO bench_ins (k, v) VALUES (?, ?)';
const BULK = 'INSERT INTO bench_bulk (k, v) VALUES (?, ?)';
/** Rows counted by the calibration run of the slow statement. */
const CALIBRATION_ROWS = 300_000;

/**
 * The hold on SQLite, which has no SLEEP: one statement, then the rest of the hold asleep in JS.
 * @param {(sql: string) => Promise<unknown>} run
 * @param {number} holdMs
 */
async function jsHold(run, holdMs) {
  await run('SELECT 1');
  await sleep(holdMs);
}

/**
 * better-sqlite3 binds neither booleans nor Dates: store them as the entity framework would.
 * @param {unknown} value
 */
function sqliteValue(value) {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}

/**
 * The SQLite backend: @dal in process and inline mode, better-sqlite3, knex and kysely on one file.
 * Every contender uses one connection (better-sqlite3 and kysely's dialect have exactly one).
 * @param {Options} opts
 * @returns {Backend}
 */
export function sqliteBackend(opts) {
  mkdirSync(opts.sqliteDir, { recursive: true });
  const file = join(opts.sqliteDir, 'bench.db');
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  const admin = new Database(file);
  admin.pragma('journal_mode = WAL');
  admin.pragma('synchronous = NORMAL');
  admin.pragma('busy_timeout = 5000');
  /** Separate connection for "is the slow statement still holding the write lock", never waiting. */
  const monitor = new Database(file);
  monitor.pragma('busy_timeout = 0');
  let slowRows = CALIBRATION_ROWS;

  /**
   * @param {string} mode
   * @param {Partial<import('@dal/core').DatabaseConfigOptions>} [overrides]
   */
  const dal = (mode, overrides = {}) =>
    new SqliteDatabase(new DatabaseConfig({ database: file, alias: `bench_sqlite_${mode}`, poolMin: 1, poolMax: 1, driverOptions: { mode }, ...overrides }));

  /** @param {string} marker */
  const slowSql = (marker) =>
    `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${slowRows}) INSERT INTO bench_slow (n, marker) SELECT count(*), '${marker}' FROM c`;

  /** The slow statement as the shared timeout contenders take it: its size comes from the calibration, not from the options. */
  const timedSlowSql = (/** @type {Options} */ _o, /** @type {string} */ marker) => slowSql(marker);

  /**
   * knex's options for the file, with a pool of `min`..`max` connections.
   * @param {number} min
   * @param {number} max
   */
  const knexConfig = (min, max) => ({ client: 'better-sqlite3', connection: { filename: file }, useNullAsDefault: true, pool: { min, max } });

  /** @type {Backend} */
  const backend = {
    name: 'sqlite',
    poolNote: 'one connection for every contender (poolMax 1 for @dal and knex; better-sqlite3 and kysely use a single connection); pool 5 in the saturation test',
    async serverVersion() {
      const row = /** @type {{ v: string }} */ (admin.prepare('SELECT sqlite_version() AS v').get());
      return `SQLite ${row.v} (better-sqlite3 12.11.1), file database in WAL mode`;
    },
    async setup() {
      admin.exec('DROP TABLE IF EXISTS bench_point; DROP TABLE IF EXISTS bench_ins; DROP TABLE IF EXISTS bench_bulk; DROP TABLE IF EXISTS bench_slow');
      admin.exec('CREATE TABLE bench_point (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL NOT NULL)');
      admin
        .prepare("INSERT INTO bench_point WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?) SELECT i, 'row ' || i, i / 7.0 FROM seq")
        .run(opts.pointRows);
      admin.exec('CREATE TABLE bench_ins (id INTEGER PRIMARY KEY, k INTEGER NOT NULL, v TEXT NOT NULL)');
      admin.exec('CREATE TABLE bench_bulk (id INTEGER PRIMARY KEY, k INTEGER NOT NULL, v TEXT NOT NULL)');
      admin.exec('CREATE TABLE bench_slow (n INTEGER, marker TEXT)');
      // Size the slow statement to last about slowQueryMs on this machine.
      let ms = Number.POSITIVE_INFINITY;
      // Fastest of three: a busy machine during calibration would otherwise shorten the statement.
      for (let i = 0; i < 3; i++) {
        const start = performance.now();
        admin.exec(slowSql('calibration'));
        ms = Math.min(ms, performance.now() - start);
      }
      slowRows = Math.max(1_000, Math.round((CALIBRATION_ROWS * opts.slowQueryMs) / Math.max(1, ms)));
    },
    async teardown() {
      monitor.close();
      admin.close();
      rmSync(opts.sqliteDir, { recursive: true, force: true });
    },
    async truncate(table) {
      admin.exec(`DELETE FROM ${table}`);
    },
    async count(table) {
      return /** @type {{ n: number }} */ (admin.prepare(`SELECT count(*) AS n FROM ${table}`).get()).n;
    },
    contenders: [
      {
        name: 'better-sqlite3 (raw)',
        baseline: true,
        async open() {
          const db = new Database(file);
          db.pragma('journal_mode = WAL');
          db.pragma('synchronous = NORMAL');
          db.pragma('busy_timeout = 5000');
          const select = db.prepare(SELECT);
          const insert = db.prepare(INSERT);
          const bulk = db.prepare(BULK);
          const bulkAll = db.transaction((/** @type {ReadonlyArray<readonly [number, string]>} */ rows) => {
            for (const row of rows) bulk.run(row[0], row[1]);
          });
          return {
            pointSelect: (id) => select.get(id),
            insert: (k) => insert.run(k, `v${k}`),
            bulkInsert: (rows) => bulkAll(rows),
            close: async () => {
              db.close();
            },
          };
        },
      },
      {
        // The ceiling of any promise-returning API over better-sqlite3: the raw call, wrapped in a promise.
        name: 'better-sqlite3 (raw, in a promise)',
        async open() {
          const db = new Database(file);
          db.pragma('busy_timeout = 5000');
          const select = db.prepare(SELECT);
          const insert = db.prepare(INSERT);
          return {
            pointSelect: (id) => Promise.resolve(select.get(id)),
            insert: (k) => Promise.resolve(insert.run(k, `v${k}`)),
            close: async () => {
              db.close();
            },
          };
        },
      },
      {
        // The ceiling of a promise-returning API that also times each statement, as @dal's metrics
        // do: two clock reads around the raw call (a clock read costs ~35 ns on this VM).
        name: 'better-sqlite3 (raw, in a promise, timed)',
        async open() {
          const db = new Database(file);
          db.pragma('busy_timeout = 5000');
          const select = db.prepare(SELECT);
          const insert = db.prepare(INSERT);
          let totalMs = 0;
          return {
            pointSelect: (id) => {
              const started = performance.now();
              const row = select.get(id);
              totalMs += performance.now() - started;
              return Promise.resolve(row);
            },
            insert: (k) => {
              const started = performance.now();
              const info = insert.run(k, `v${k}`);
              totalMs += performance.now() - started;
              return Promise.resolve(info);
            },
            close: async () => {
              if (!(totalMs > 0)) throw new Error('the timed contender measured nothing');
              db.close();
            },
          };
        },
      },
      ...['process', 'inline'].map((mode) => dalContender(`@dal (${mode})`, () => dal(mode))),
      dalContender('@dal (inline) withConnection(c => ...)', () => dal('inline', { alias: 'bench_sqlite_inline_with_connection' }), 'withConnection'),
      dalContender('@dal (inline) await using c = await db.connection()', () => dal('inline', { alias: 'bench_sqlite_inline_connection' }), 'connection'),
      {
        // The like-for-like of raw better-sqlite3: @dal's synchronous connection, same SQL as the async contenders.
        name: '@dal (sync connection)',
        async open() {
          const db = dal('inline');
          const conn = db.syncConnection();
          return {
            pointSelect: (id) => conn.executeFirst('SELECT [id], [name], [score] FROM [bench_point] WHERE [id] = ?', [id]),
            insert: (k) => conn.execute('INSERT INTO [bench_ins] ([k], [v]) VALUES (?, ?)', [k, `v${k}`]),
            bulkInsert: (rows) => conn.executeMany('INSERT INTO [bench_bulk] ([k], [v]) VALUES (?, ?)', rows),
            close: () => db.close(),
          };
        },
      },
      knexContender(knexConfig(1, 1)),
      kyselyContender(() => {
        const native = new Database(file);
        native.pragma('busy_timeout = 5000');
        return new SqliteDialect({ database: native });
      }),
      kyselyOnDalContender(() => dal('inline', { alias: 'bench_sqlite_kysely' }), 'sqlite'),
    ],
    saturation: [
      ...['process', 'inline'].map((mode) =>
        dalSaturation(
          `@dal (${mode})`,
          (poolSize, acquireTimeoutMs) => dal(mode, { poolMin: poolSize, poolMax: poolSize, connectionAcquisitionTimeoutMs: acquireTimeoutMs }),
          jsHold,
          'hold = SELECT 1, then 50 ms asleep in JS (SQLite has no SLEEP)',
        ),
      ),
      knexSaturation('acquireConnectionTimeout (tarn); same hold', (poolSize) => knexConfig(0, poolSize), jsHold),
    ],
    timeout: [
      {
        name: 'better-sqlite3 (raw)',
        note: 'no timeout option; the call blocks the event loop',
        async open() {
          const db = new Database(file);
          db.pragma('busy_timeout = 5000');
          return {
            run: async (marker) => db.exec(slowSql(marker)),
            close: async () => {
              db.close();
            },
          };
        },
      },
      dalTimeout('@dal (process)', 'kills the child process running the statement', () => dal('process'), timedSlowSql),
      dalTimeout('@dal (worker)', 'rejects at once; the worker thread cannot be interrupted', () => dal('worker'), timedSlowSql),
      dalTimeout('@dal (inline)', 'cannot interrupt: the statement runs on the caller\'s thread', () => dal('inline'), timedSlowSql),
      knexTimeout(knexConfig(1, 1), false, 'better-sqlite3 is synchronous: the timer cannot fire', timedSlowSql),
    ],
    async isRunning() {
      // The slow statement is a write: while it runs it holds the database's write lock.
      try {
        monitor.exec('BEGIN IMMEDIATE');
      } catch (error) {
        if (/** @type {{ code?: string }} */ (error).code === 'SQLITE_BUSY') return true;
        throw error;
      }
      monitor.exec('ROLLBACK');
      return false;
    },
    entities: {
      dal: [
        { name: '@dal (process) saveEntities', open: async () => dal('process') },
        { name: '@dal (inline) saveEntities', open: async () => dal('inline') },
      ],
      async openRaw() {
        const columns = `id TEXT NOT NULL, name TEXT, age INTEGER, email TEXT, score REAL, active INTEGER,
          created_at TEXT, updated_at TEXT, created_by TEXT, updated_by TEXT, deleted_at TEXT`;
        admin.exec(`CREATE TABLE IF NOT EXISTS ${RAW_TABLE} (${columns}, PRIMARY KEY (id))`);
        admin.exec(`CREATE TABLE IF NOT EXISTS ${RAW_TABLE}_history (${columns}, version INTEGER NOT NULL, history_timestamp TEXT,
          history_user_id TEXT, history_comment TEXT, PRIMARY KEY (id, version))`);
        const db = new Database(file);
        db.pragma('busy_timeout = 5000');
        const insertAll = db.transaction((/** @type {{ main: Record<string, unknown>, history: Record<string, unknown> }[]} */ rows) => {
          for (const part of chunks(rows, BATCH)) {
            db.prepare(multiRowInsert(RAW_TABLE, [...ENTITY_COLUMNS], part.length, 'question')).run(part.flatMap((r) => ENTITY_COLUMNS.map((c) => sqliteValue(r.main[c]))));
            db.prepare(multiRowInsert(`${RAW_TABLE}_history`, [...HISTORY_COLUMNS], part.length, 'question')).run(
              part.flatMap((r) => HISTORY_COLUMNS.map((c) => sqliteValue(r.history[c]))),
            );
          }
        });
        return {
          insertBatched: async (rows) => {
            insertAll(rows);
          },
          close: async () => {
            db.close();
          },
        };
      },
      async dropTables() {
        const rows = /** @type {{ name: string }[]} */ (
          admin.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND (name LIKE ? OR name LIKE ?)").all(`${ENTITY_NAME}%`, `${RAW_TABLE}%`)
        );
        for (const row of rows) admin.exec(`DROP TABLE IF EXISTS "${row.name}"`);
      },
      count: (table) => backend.count(table),
    },
  };
  return backend;
}
