import mysql from 'mysql2/promise';
import { createPool as createCallbackPool } from 'mysql2';
import { MysqlDialect } from 'kysely';
import { DatabaseConfig } from '@dal/core';
import { MysqlDatabase } from '@dal/driver-mysql';
import { dalContender, dalSaturation, dalTimeout, knexContender, knexSaturation, knexTimeout, kyselyContender, kyselyOnDalContender, rawBulkInsert, rawInsertBatched, sleepHold } from '../lib/contenders.mjs';
import { BATCH, chunks, multiRowInsert } from '../lib/sql.mjs';
import { ENTITY_NAME, RAW_TABLE } from '../scenarios/entities.mjs';

/** @typedef {import('../lib/types.mjs').Backend} Backend */
/** @typedef {import('../lib/types.mjs').Options} Options */

const POOL_MAX = 20;
const SELECT = 'SELECT id, name, score FROM bench_point WHERE id = ?';
const INSERT = 'INSERT INTO bench_ins (k, v) VALUES (?, ?)';
const BULK = 'INSERT INTO bench_bulk (k, v) VALUES (?, ?)';
const hold = sleepHold('SLEEP');

/**
 * A mysql2 connection in the shape the shared transaction loops drive.
 * @param {import('mysql2/promise').Connection} conn
 * @returns {import('../lib/contenders.mjs').RawTransaction}
 */
function mysqlTransaction(conn) {
  return {
    query: (sql, params) => conn.query(sql, [...params]),
    begin: () => conn.beginTransaction(),
    commit: () => conn.commit(),
    rollback: () => conn.rollback(),
  };
}

/**
 * The MySQL/MariaDB backend: @dal, the mysql2 pool, knex and kysely on the same tables.
 * @param {Options} opts
 * @returns {Backend}
 */
export function mysqlBackend(opts) {
  const admin = mysql.createPool({ uri: opts.mysqlUrl, connectionLimit: 2 });
  /** @param {Partial<import('@dal/core').DatabaseConfigOptions>} overrides */
  const dalConfig = (overrides) => DatabaseConfig.fromUrl(opts.mysqlUrl, { alias: 'bench_mysql', poolMin: 1, poolMax: POOL_MAX, ...overrides });
  /** @param {number} max */
  const knexConfig = (max) => ({ client: 'mysql2', connection: opts.mysqlUrl, pool: { min: 0, max } });
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
            bulkInsert: rawBulkInsert(async () => {
              const conn = await pool.getConnection();
              return { ...mysqlTransaction(conn), release: () => conn.release() };
            }, BULK),
            close: () => pool.end(),
          };
        },
      },
      dalContender('@dal', () => new MysqlDatabase(dalConfig({}))),
      dalContender('@dal withConnection(c => ...)', () => new MysqlDatabase(dalConfig({ alias: 'bench_mysql_with_connection' })), 'withConnection'),
      dalContender('@dal await using c = await db.connection()', () => new MysqlDatabase(dalConfig({ alias: 'bench_mysql_connection' })), 'connection'),
      knexContender(knexConfig(POOL_MAX)),
      kyselyContender(() => new MysqlDialect({ pool: createCallbackPool({ uri: opts.mysqlUrl, connectionLimit: POOL_MAX }) })),
      kyselyOnDalContender(() => new MysqlDatabase(dalConfig({ alias: 'bench_mysql_kysely' })), 'mysql'),
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
      dalSaturation(
        '@dal',
        (poolSize, acquireTimeoutMs) => new MysqlDatabase(dalConfig({ poolMin: poolSize, poolMax: poolSize, connectionAcquisitionTimeoutMs: acquireTimeoutMs })),
        hold,
      ),
      {
        name: 'mysql2 pool (raw)',
        note: 'mysql2 has no acquisition timeout: clients queue until served',
        noAcquireTimeout: true,
        async open(poolSize, _acquireTimeoutMs, holdMs) {
          const pool = mysql.createPool({ uri: opts.mysqlUrl, connectionLimit: poolSize });
          return {
            async acquire() {
              const conn = await pool.getConnection();
              return { hold: () => hold((sql) => conn.query(sql), holdMs), release: () => conn.release() };
            },
            close: () => pool.end(),
          };
        },
      },
      knexSaturation('acquireConnectionTimeout (tarn)', knexConfig, hold),
    ],
    timeout: [
      dalTimeout('@dal', 'timeoutMs: KILL QUERY from a second connection', () => new MysqlDatabase(dalConfig({ poolMax: 2 })), slowSql),
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
      knexTimeout(knexConfig(2), false, 'default: no cancel', slowSql),
      knexTimeout(knexConfig(2), true, 'KILL QUERY on a second connection', slowSql),
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
          insertBatched: rawInsertBatched(mysqlTransaction(conn), 'question'),
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
