import mysql from 'mysql2/promise';
import { createPool as createCallbackPool } from 'mysql2';
import knexFactory from 'knex';
import { Kysely, MysqlDialect } from 'kysely';
import { DatabaseConfig } from '@dal/core';
import { MysqlDatabase } from '@dal/driver-mysql';
import { quietKnexLog } from '../lib/harness.mjs';
import { BATCH, ENTITY_COLUMNS, HISTORY_COLUMNS, chunks, multiRowInsert } from '../lib/sql.mjs';
import { ENTITY_NAME, RAW_TABLE } from '../scenarios/entities.mjs';

/** @typedef {import('../lib/types.mjs').Backend} Backend */
/** @typedef {import('../lib/types.mjs').Options} Options */

const POOL_MAX = 20;
const SELECT = 'SELECT id, name, score FROM bench_point WHERE id = ?';
const INSERT = 'INSERT INTO bench_ins (k, v) VALUES (?, ?)';
const BULK = 'INSERT INTO bench_bulk (k, v) VALUES (?, ?)';

/**
 * The MySQL/MariaDB backend: @dal, the mysql2 pool, knex and kysely on the same tables.
 * @param {Options} opts
 * @returns {Backend}
 */
export function mysqlBackend(opts) {
  const admin = mysql.createPool({ uri: opts.mysqlUrl, connectionLimit: 2 });
  /** @param {Partial<import('@dal/core').DatabaseConfigOptions>} overrides */
  const dalConfig = (overrides) => DatabaseConfig.fromUrl(opts.mysqlUrl, { alias: 'bench_mysql', poolMin: 1, poolMax: POOL_MAX, ...overrides });
  /**
   * @param {string} text
   * @param {unknown[]} [params]
   * @returns {Promise<any[]>}
   */
  const adminRows = async (text, params = []) => /** @type {any[]} */ ((await admin.query(text, params))[0]);

  /** @type {Backend} */
  const backend = {
    name: 'mysql',
    poolNote: `pool max ${POOL_MAX} for every contender (mysql2 connectionLimit, knex pool max, kysely's mysql2 pool, @dal poolMax)`,
    async serverVersion() {
      const rows = await adminRows('SELECT VERSION() AS v');
      return `MariaDB/MySQL ${rows[0].v}`;
    },
    async setup() {
      await admin.query('DROP TABLE IF EXISTS bench_point, bench_ins, bench_bulk');
      await admin.query('CREATE TABLE bench_point (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, score DOUBLE NOT NULL) ENGINE=InnoDB');
      // Batches from JS: recursive CTEs are capped differently on MariaDB and MySQL.
      const ids = Array.from({ length: opts.pointRows }, (_, i) => i + 1);
      for (const part of chunks(ids, BATCH)) {
        await admin.query(multiRowInsert('bench_point', ['id', 'name', 'score'], part.length, 'question'), part.flatMap((i) => [i, `row ${i}`, i / 7]));
      }
      await admin.query('CREATE TABLE bench_ins (id BIGINT AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL, v VARCHAR(64) NOT NULL) ENGINE=InnoDB');
      await admin.query('CREATE TABLE bench_bulk (id BIGINT AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL, v VARCHAR(64) NOT NULL) ENGINE=InnoDB');
    },
    async teardown() {
      try {
        await admin.query('DROP TABLE IF EXISTS bench_point, bench_ins, bench_bulk');
      } finally {
        await admin.end();
      }
    },
    async truncate(table) {
      await admin.query(`TRUNCATE TABLE ${table}`);
    },
    async count(table) {
      const rows = await adminRows(`SELECT COUNT(*) AS n FROM ${table}`);
      return Number(rows[0].n);
    },
    contenders: [
      {
        name: 'mysql2 (raw)',
        baseline: true,
        async open() {
          const pool = mysql.createPool({ uri: opts.mysqlUrl, connectionLimit: POOL_MAX });
          return {
            pointSelect: async (id) => /** @type {any[]} */ ((await pool.query(SELECT, [id]))[0])[0],
            insert: (k) => pool.query(INSERT, [k, `v${k}`]),
            async bulkInsert(rows) {
              const conn = await pool.getConnection();
              try {
                await conn.beginTransaction();
                for (const row of rows) await conn.query(BULK, [...row]);
                await conn.commit();
              } catch (error) {
                await conn.rollback();
                throw error;
              } finally {
                conn.release();
              }
            },
            close: () => pool.end(),
          };
        },
      },
      {
        name: '@dal',
        async open() {
          const db = new MysqlDatabase(dalConfig({}));
          return {
            pointSelect: async (id) => (await db.execute('SELECT [id], [name], [score] FROM [bench_point] WHERE [id] = ?', [id]))[0],
            insert: (k) => db.execute('INSERT INTO [bench_ins] ([k], [v]) VALUES (?, ?)', [k, `v${k}`]),
            bulkInsert: (rows) => db.withConnection((conn) => conn.executeMany('INSERT INTO [bench_bulk] ([k], [v]) VALUES (?, ?)', rows)),
            close: () => db.close(),
          };
        },
      },
      {
        name: 'knex',
        async open() {
          const knex = knexFactory({ client: 'mysql2', connection: opts.mysqlUrl, pool: { min: 0, max: POOL_MAX }, log: quietKnexLog });
          return {
            pointSelect: (id) => knex('bench_point').select('id', 'name', 'score').where('id', id).first(),
            insert: (k) => knex('bench_ins').insert({ k, v: `v${k}` }),
            bulkInsert: (rows) =>
              knex.transaction(async (trx) => {
                for (const [k, v] of rows) await trx('bench_bulk').insert({ k, v });
              }),
            close: () => knex.destroy(),
          };
        },
      },
      {
        name: 'kysely',
        async open() {
          /** @type {Kysely<any>} */
          const db = new Kysely({ dialect: new MysqlDialect({ pool: createCallbackPool({ uri: opts.mysqlUrl, connectionLimit: POOL_MAX }) }) });
          return {
            pointSelect: (id) => db.selectFrom('bench_point').select(['id', 'name', 'score']).where('id', '=', id).executeTakeFirst(),
            insert: (k) => db.insertInto('bench_ins').values({ k, v: `v${k}` }).execute(),
            bulkInsert: (rows) =>
              db.transaction().execute(async (trx) => {
                for (const [k, v] of rows) await trx.insertInto('bench_bulk').values({ k, v }).execute();
              }),
            close: () => db.destroy(),
          };
        },
      },
      {
        name: 'mysql2 (raw, multi-row VALUES)',
        async open() {
          const conn = await mysql.createConnection({ uri: opts.mysqlUrl });
          return {
            async bulkInsert(rows) {
              await conn.beginTransaction();
              for (const part of chunks(rows, BATCH)) {
                await conn.query(multiRowInsert('bench_bulk', ['k', 'v'], part.length, 'question'), part.flat());
              }
              await conn.commit();
            },
            close: () => conn.end(),
          };
        },
      },
    ],
    saturation: [
      {
        name: '@dal',
        async open(poolSize, acquireTimeoutMs, holdMs) {
          const db = new MysqlDatabase(dalConfig({ poolMin: poolSize, poolMax: poolSize, connectionAcquisitionTimeoutMs: acquireTimeoutMs }));
          return {
            async acquire() {
              const conn = await db.connection();
              return { hold: () => conn.execute(`SELECT SLEEP(${holdMs / 1000})`), release: () => conn.release() };
            },
            close: () => db.close(),
          };
        },
      },
      {
        name: 'mysql2 pool (raw)',
        note: 'mysql2 has no acquisition timeout: clients queue until served',
        noAcquireTimeout: true,
        async open(poolSize, _acquireTimeoutMs, holdMs) {
          const pool = mysql.createPool({ uri: opts.mysqlUrl, connectionLimit: poolSize });
          return {
            async acquire() {
              const conn = await pool.getConnection();
              return { hold: () => conn.query(`SELECT SLEEP(${holdMs / 1000})`), release: () => conn.release() };
            },
            close: () => pool.end(),
          };
        },
      },
      {
        name: 'knex',
        note: 'acquireConnectionTimeout (tarn)',
        async open(poolSize, acquireTimeoutMs, holdMs) {
          const knex = knexFactory({ client: 'mysql2', connection: opts.mysqlUrl, pool: { min: 0, max: poolSize }, acquireConnectionTimeout: acquireTimeoutMs, log: quietKnexLog });
          return {
            async acquire() {
              const conn = await knex.client.acquireConnection();
              return {
                hold: () => knex.raw(`SELECT SLEEP(${holdMs / 1000})`).connection(conn),
                release: () => knex.client.releaseConnection(conn),
              };
            },
            close: () => knex.destroy(),
          };
        },
      },
    ],
    timeout: [
      {
        name: '@dal',
        note: 'timeoutMs: KILL QUERY from a second connection',
        async open(o) {
          const db = new MysqlDatabase(dalConfig({ poolMax: 2 }));
          await db.execute('SELECT 1');
          return { run: (marker) => db.execute(slowSql(o, marker), [], { timeoutMs: o.queryTimeoutMs }), close: () => db.close() };
        },
      },
      {
        name: 'mysql2 (raw) timeout',
        note: 'client-side timer only',
        async open(o) {
          const pool = mysql.createPool({ uri: opts.mysqlUrl, connectionLimit: 2 });
          await pool.query('SELECT 1');
          return { run: (marker) => pool.query({ sql: slowSql(o, marker), timeout: o.queryTimeoutMs }), close: () => pool.end() };
        },
      },
      {
        name: 'mysql2 (raw) max_statement_time',
        note: 'server-side: SET STATEMENT max_statement_time FOR ... (MariaDB)',
        async open(o) {
          const pool = mysql.createPool({ uri: opts.mysqlUrl, connectionLimit: 2 });
          await pool.query('SELECT 1');
          return {
            run: (marker) => pool.query(`SET STATEMENT max_statement_time = ${o.queryTimeoutMs / 1000} FOR ${slowSql(o, marker)}`),
            close: () => pool.end(),
          };
        },
      },
      {
        name: 'knex .timeout()',
        note: 'default: no cancel',
        async open(o) {
          const knex = knexFactory({ client: 'mysql2', connection: opts.mysqlUrl, pool: { min: 0, max: 2 }, log: quietKnexLog });
          await knex.raw('SELECT 1');
          return { run: (marker) => knex.raw(slowSql(o, marker)).timeout(o.queryTimeoutMs), close: () => knex.destroy() };
        },
      },
      {
        name: 'knex .timeout({ cancel: true })',
        note: 'KILL QUERY on a second connection',
        async open(o) {
          const knex = knexFactory({ client: 'mysql2', connection: opts.mysqlUrl, pool: { min: 0, max: 2 }, log: quietKnexLog });
          await knex.raw('SELECT 1');
          return { run: (marker) => knex.raw(slowSql(o, marker)).timeout(o.queryTimeoutMs, { cancel: true }), close: () => knex.destroy() };
        },
      },
    ],
    async isRunning(marker) {
      const rows = await adminRows(
        "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND <> 'Sleep' AND INSTR(INFO, ?) > 0",
        [marker],
      );
      return Number(rows[0].n) > 0;
    },
    entities: {
      dal: [{ name: '@dal saveEntities', open: async () => new MysqlDatabase(dalConfig({ poolMax: 2 })) }],
      async openRaw() {
        const columns = `id VARCHAR(36) NOT NULL, name VARCHAR(255), age INT, email VARCHAR(255), score DOUBLE, active TINYINT(1),
          created_at DATETIME(3), updated_at DATETIME(3), created_by VARCHAR(255), updated_by VARCHAR(255), deleted_at DATETIME(3)`;
        await admin.query(`CREATE TABLE IF NOT EXISTS ${RAW_TABLE} (${columns}, PRIMARY KEY (id)) ENGINE=InnoDB`);
        await admin.query(`CREATE TABLE IF NOT EXISTS ${RAW_TABLE}_history (${columns}, version INT NOT NULL, history_timestamp DATETIME(3),
          history_user_id VARCHAR(255), history_comment TEXT, PRIMARY KEY (id, version)) ENGINE=InnoDB`);
        const conn = await mysql.createConnection({ uri: opts.mysqlUrl });
        return {
          async insertBatched(rows) {
            await conn.beginTransaction();
            try {
              for (const part of chunks(rows, BATCH)) {
                await conn.query(multiRowInsert(RAW_TABLE, [...ENTITY_COLUMNS], part.length, 'question'), part.flatMap((r) => ENTITY_COLUMNS.map((c) => r.main[c])));
                await conn.query(multiRowInsert(`${RAW_TABLE}_history`, [...HISTORY_COLUMNS], part.length, 'question'), part.flatMap((r) => HISTORY_COLUMNS.map((c) => r.history[c])));
              }
              await conn.commit();
            } catch (error) {
              await conn.rollback();
              throw error;
            }
          },
          close: () => conn.end(),
        };
      },
      async dropTables() {
        const rows = await adminRows(
          'SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND (TABLE_NAME LIKE ? OR TABLE_NAME LIKE ?)',
          [`${ENTITY_NAME}%`, `${RAW_TABLE}%`],
        );
        for (const row of rows) await admin.query(`DROP TABLE IF EXISTS \`${row.t}\``);
      },
      count: (table) => backend.count(table),
    },
  };
  return backend;
}

/**
 * The slow statement, tagged with `marker` so that PROCESSLIST finds exactly this one.
 * @param {Options} o
 * @param {string} marker
 */
function slowSql(o, marker) {
  return `SELECT SLEEP(${o.slowQueryMs / 1000}) AS slept, '${marker}' AS marker`;
}
