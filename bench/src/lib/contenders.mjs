import knexFactory from 'knex';
import { Kysely } from 'kysely';
import { DalDialect } from '@dal/kysely';
import { quietKnexLog } from './harness.mjs';
import { BATCH, ENTITY_COLUMNS, HISTORY_COLUMNS, chunks, multiRowInsert } from './sql.mjs';
import { RAW_TABLE } from '../scenarios/entities.mjs';

/** @typedef {import('./types.mjs').Contender} Contender */
/** @typedef {import('./types.mjs').SaturationContender} SaturationContender */
/** @typedef {import('./types.mjs').TimeoutContender} TimeoutContender */
/** @typedef {import('./types.mjs').Options} Options */
/** @typedef {import('./types.mjs').StoredEntity} StoredEntity */
/** @typedef {import('@dal/core').Database} Database */
/** @typedef {import('knex').Knex.Config} KnexConfig  knex's options without the logger, which every contender silences */

/**
 * Occupy a leased connection for `holdMs`, sending SQL through `run`.
 * @typedef {(run: (sql: string) => Promise<unknown>, holdMs: number) => Promise<unknown>} Hold
 */

/**
 * One connection of a raw driver, as the shared transaction loops drive it.
 * @typedef {object} RawTransaction
 * @property {(sql: string, params: readonly unknown[]) => Promise<unknown>} query
 * @property {() => Promise<unknown>} begin
 * @property {() => Promise<unknown>} commit
 * @property {() => Promise<unknown>} rollback
 */

/**
 * The server-side hold: one statement that sleeps for `holdMs`.
 * @param {string} sleepFunction  the server's sleep function, taking seconds
 * @returns {Hold}
 */
export function sleepHold(sleepFunction) {
  return (run, holdMs) => run(`SELECT ${sleepFunction}(${holdMs / 1000})`);
}

/**
 * The raw drivers' bulk insert: one statement per row in one transaction, rolled back on failure.
 * @param {() => Promise<RawTransaction & { release: () => void }>} connect  a connection from the pool
 * @param {string} sql  the single-row INSERT
 * @returns {(rows: ReadonlyArray<readonly [number, string]>) => Promise<void>}
 */
export function rawBulkInsert(connect, sql) {
  return async (rows) => {
    const tx = await connect();
    try {
      await tx.begin();
      for (const row of rows) await tx.query(sql, row);
      await tx.commit();
    } catch (error) {
      await tx.rollback();
      throw error;
    } finally {
      tx.release();
    }
  };
}

/**
 * The raw drivers' side of the entities scenario: main and history rows as multi-row INSERTs in one transaction.
 * @param {RawTransaction} tx
 * @param {'dollar' | 'question'} style  the driver's placeholders
 * @returns {(rows: StoredEntity[]) => Promise<void>}
 */
export function rawInsertBatched(tx, style) {
  return async (rows) => {
    await tx.begin();
    try {
      for (const part of chunks(rows, BATCH)) {
        await tx.query(multiRowInsert(RAW_TABLE, [...ENTITY_COLUMNS], part.length, style), part.flatMap((r) => ENTITY_COLUMNS.map((c) => r.main[c])));
        await tx.query(multiRowInsert(`${RAW_TABLE}_history`, [...HISTORY_COLUMNS], part.length, style), part.flatMap((r) => HISTORY_COLUMNS.map((c) => r.history[c])));
      }
      await tx.commit();
    } catch (error) {
      await tx.rollback();
      throw error;
    }
  };
}

/**
 * @dal in the throughput and bulk scenarios.
 * @param {string} name
 * @param {() => Database} open
 * @param {'db' | 'withConnection' | 'connection'} [entry] which documented entry point runs each statement
 * @returns {Contender}
 */
export function dalContender(name, open, entry = 'db') {
  const POINT = 'SELECT [id], [name], [score] FROM [bench_point] WHERE [id] = ?';
  const INSERT = 'INSERT INTO [bench_ins] ([k], [v]) VALUES (?, ?)';
  return {
    name,
    async open() {
      const db = open();
      /**
       * One statement through the entry point this contender measures: the `db.*` shortcuts, the
       * README's main example `db.withConnection(c => ...)`, or `await using c = await db.connection()`
       * (as TypeScript compiles it: Node 20 has no syntax for it).
       * @param {(c: import('@dal/core').Connection | Database) => Promise<unknown>} fn
       */
      const via =
        entry === 'withConnection'
          ? (/** @type {any} */ fn) => db.withConnection(fn)
          : entry === 'connection'
            ? async (/** @type {any} */ fn) => {
                const c = await db.connection();
                try {
                  return await fn(c);
                } finally {
                  await c[Symbol.asyncDispose]();
                }
              }
            : undefined;
      return {
        // Like knex's .first() and kysely's executeTakeFirst() below: ask for one row.
        pointSelect:
          via === undefined ? (id) => db.executeFirst(POINT, [id]) : (id) => via((/** @type {any} */ c) => c.executeFirst(POINT, [id])),
        insert: via === undefined ? (k) => db.execute(INSERT, [k, `v${k}`]) : (k) => via((/** @type {any} */ c) => c.execute(INSERT, [k, `v${k}`])),
        bulkInsert: (rows) => db.withConnection((conn) => conn.executeMany('INSERT INTO [bench_bulk] ([k], [v]) VALUES (?, ?)', rows)),
        close: () => db.close(),
      };
    },
  };
}

/**
 * knex in the throughput and bulk scenarios.
 * @param {KnexConfig} config
 * @returns {Contender}
 */
export function knexContender(config) {
  return {
    name: 'knex',
    async open() {
      const knex = knexFactory({ ...config, log: quietKnexLog });
      return {
        pointSelect: (id) => knex('bench_point').select('id', 'name', 'score').where('id', id).first(),
        insert: (k) => knex('bench_ins').insert({ k, v: `v${k}` }),
        // knex's bulk API: multi-row INSERTs in one transaction, 500 rows each (knex writes SQLite's
        // as INSERT ... SELECT ... UNION ALL, which SQLite caps at 500 terms).
        bulkInsert: (rows) => knex.batchInsert('bench_bulk', rows.map(([k, v]) => ({ k, v })), 500),
        close: () => knex.destroy(),
      };
    },
  };
}

/**
 * kysely in the throughput and bulk scenarios.
 * @param {() => import('kysely').Dialect} dialect  opens the driver's pool or connection
 * @param {string} [name]
 * @returns {Contender}
 */
export function kyselyContender(dialect, name = 'kysely') {
  return {
    name,
    async open() {
      /** @type {Kysely<any>} */
      const db = new Kysely({ dialect: dialect() });
      return {
        pointSelect: (id) => db.selectFrom('bench_point').select(['id', 'name', 'score']).where('id', '=', id).executeTakeFirst(),
        insert: (k) => db.insertInto('bench_ins').values({ k, v: `v${k}` }).execute(),
        // kysely's bulk API: values() with an array is one multi-row INSERT; 500 rows at a time, as knex.
        bulkInsert: (rows) =>
          db.transaction().execute(async (trx) => {
            for (const part of chunks(rows, 500)) await trx.insertInto('bench_bulk').values(part.map(([k, v]) => ({ k, v }))).execute();
          }),
        close: () => db.destroy(),
      };
    },
  };
}

/**
 * kysely on @dal (`@dal/kysely`'s DalDialect): the same kysely queries as `kyselyContender`, run by an @dal Database.
 * @param {() => Database} open
 * @param {'postgres' | 'mysql' | 'sqlite'} backend
 * @returns {Contender}
 */
export function kyselyOnDalContender(open, backend) {
  return kyselyContender(() => new DalDialect({ database: open(), backend, closeDatabaseOnDestroy: true }), 'kysely on @dal');
}

/**
 * @dal in the pool saturation scenario.
 * @param {string} name
 * @param {(poolSize: number, acquireTimeoutMs: number) => Database} open  a pool of exactly `poolSize` with that acquisition timeout
 * @param {Hold} hold
 * @param {string} [note]
 * @returns {SaturationContender}
 */
export function dalSaturation(name, open, hold, note) {
  return {
    name,
    note,
    async open(poolSize, acquireTimeoutMs, holdMs) {
      const db = open(poolSize, acquireTimeoutMs);
      return {
        async acquire() {
          const conn = await db.connection();
          return { hold: () => hold((sql) => conn.execute(sql), holdMs), release: () => conn.release() };
        },
        close: () => db.close(),
      };
    },
  };
}

/**
 * knex in the pool saturation scenario: leases come straight from its tarn pool.
 * @param {string} note
 * @param {(poolSize: number) => KnexConfig} config
 * @param {Hold} hold
 * @returns {SaturationContender}
 */
export function knexSaturation(note, config, hold) {
  return {
    name: 'knex',
    note,
    async open(poolSize, acquireTimeoutMs, holdMs) {
      const knex = knexFactory({ ...config(poolSize), acquireConnectionTimeout: acquireTimeoutMs, log: quietKnexLog });
      return {
        async acquire() {
          const conn = await knex.client.acquireConnection();
          return {
            hold: () => hold((sql) => knex.raw(sql).connection(conn), holdMs),
            release: () => knex.client.releaseConnection(conn),
          };
        },
        close: () => knex.destroy(),
      };
    },
  };
}

/**
 * @dal in the timeout scenario: the slow statement under `timeoutMs`.
 * @param {string} name
 * @param {string} note
 * @param {() => Database} open
 * @param {(o: Options, marker: string) => string} slowSql
 * @returns {TimeoutContender}
 */
export function dalTimeout(name, note, open, slowSql) {
  return {
    name,
    note,
    async open(o) {
      const db = open();
      // Open the connection (a server session, child process or worker) before the clock starts.
      await db.execute('SELECT 1');
      return { run: (marker) => db.execute(slowSql(o, marker), [], { timeoutMs: o.queryTimeoutMs }), close: () => db.close() };
    },
  };
}

/**
 * knex in the timeout scenario: the slow statement under `.timeout()`, with or without knex's cancel.
 * @param {KnexConfig} config
 * @param {boolean} cancel
 * @param {string} note
 * @param {(o: Options, marker: string) => string} slowSql
 * @returns {TimeoutContender}
 */
export function knexTimeout(config, cancel, note, slowSql) {
  return {
    name: cancel ? 'knex .timeout({ cancel: true })' : 'knex .timeout()',
    note,
    async open(o) {
      const knex = knexFactory({ ...config, log: quietKnexLog });
      await knex.raw('SELECT 1');
      return { run: (marker) => knex.raw(slowSql(o, marker)).timeout(o.queryTimeoutMs, { cancel }), close: () => knex.destroy() };
    },
  };
}
