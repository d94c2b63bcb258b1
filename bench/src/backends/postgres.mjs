import pg from 'pg';
import postgresJs from 'postgres';
import { PostgresDialect } from 'kysely';
import { DatabaseConfig } from '@dal/core';
import { PostgresDatabase } from '@dal/driver-postgres';
import { dalContender, dalSaturation, dalTimeout, knexContender, knexSaturation, knexTimeout, kyselyContender, kyselyOnDalContender, rawBulkInsert, rawInsertBatched, sleepHold } from '../lib/contenders.mjs';
import { BATCH, chunks, multiRowInsert } from '../lib/sql.mjs';
import { ENTITY_NAME, RAW_TABLE } from '../scenarios/entities.mjs';

/** @typedef {import('../lib/types.mjs').Backend} Backend */
/** @typedef {import('../lib/types.mjs').Options} Options */

const POOL_MAX = 20;
const SELECT = 'SELECT id, name, score FROM bench_point WHERE id = $1';
const INSERT = 'INSERT INTO bench_ins (k, v) VALUES ($1, $2)';
const BULK = 'INSERT INTO bench_bulk (k, v) VALUES ($1, $2)';
const hold = sleepHold('pg_sleep');

/**
 * A pg client in the shape the shared transaction loops drive.
 * @param {{ query: (sql: string, params?: readonly unknown[]) => Promise<unknown> }} client
 * @returns {import('../lib/contenders.mjs').RawTransaction}
 */
function pgTransaction(client) {
  return {
    query: (sql, params) => client.query(sql, params),
    begin: () => client.query('BEGIN'),
    commit: () => client.query('COMMIT'),
    rollback: () => client.query('ROLLBACK'),
  };
}

/**
 * Warm a pg.Pool: open `n` connections now rather than during the measurement.
 * @param {{ connect: () => Promise<{ release: () => void }> }} pool
 * @param {number} n
 */
async function warmPgPool(pool, n) {
  const clients = await Promise.all(Array.from({ length: n }, () => pool.connect()));
  for (const c of clients) c.release();
}

/**
 * The PostgreSQL backend: @dal, pg.Pool, knex and kysely on the same tables.
 * @param {Options} opts
 * @returns {Backend}
 */
export function postgresBackend(opts) {
  const admin = new pg.Pool({ connectionString: opts.pgUrl, max: 2 });
  /** @param {Partial<import('@dal/core').DatabaseConfigOptions>} overrides */
  const dalConfig = (overrides) => DatabaseConfig.fromUrl(opts.pgUrl, { alias: 'bench_pg', poolMin: 1, poolMax: POOL_MAX, ...overrides });
  /** @param {number} max */
  const knexConfig = (max) => ({ client: 'pg', connection: opts.pgUrl, pool: { min: 0, max } });

  /** @type {Backend} */
  const backend = {
    name: 'postgres',
    poolNote: `pool max ${POOL_MAX} for every contender (pg.Pool max, knex pool max, kysely's pg.Pool max, @dal poolMax)`,
    async serverVersion() {
      const { rows } = await admin.query('SHOW server_version');
      return `PostgreSQL ${rows[0].server_version}`;
    },
    async setup() {
      await admin.query('DROP TABLE IF EXISTS bench_point, bench_ins, bench_bulk');
      await admin.query('CREATE TABLE bench_point (id integer PRIMARY KEY, name text NOT NULL, score double precision NOT NULL)');
      await admin.query("INSERT INTO bench_point SELECT i, 'row ' || i, i / 7.0 FROM generate_series(1, $1) AS i", [opts.pointRows]);
      await admin.query('CREATE TABLE bench_ins (id bigserial PRIMARY KEY, k integer NOT NULL, v text NOT NULL)');
      await admin.query('CREATE TABLE bench_bulk (id bigserial PRIMARY KEY, k integer NOT NULL, v text NOT NULL)');
      await admin.query('ANALYZE bench_point');
    },
    async teardown() {
      try {
        await admin.query('DROP TABLE IF EXISTS bench_point, bench_ins, bench_bulk');
      } finally {
        await admin.end();
      }
    },
    async truncate(table) {
      await admin.query(`TRUNCATE ${table}`);
    },
    async count(table) {
      const { rows } = await admin.query(`SELECT count(*)::int AS n FROM ${table}`);
      return rows[0].n;
    },
    contenders: [
      {
        name: 'pg (raw)',
        baseline: true,
        async open() {
          const pool = new pg.Pool({ connectionString: opts.pgUrl, max: POOL_MAX });
          return {
            pointSelect: async (id) => (await pool.query(SELECT, [id])).rows[0],
            insert: (k) => pool.query(INSERT, [k, `v${k}`]),
            bulkInsert: rawBulkInsert(async () => {
              const client = await pool.connect();
              return { ...pgTransaction(client), release: () => client.release() };
            }, BULK),
            close: () => pool.end(),
          };
        },
      },
      {
        // postgres.js: prepared statements, pipelined on the least busy connection (issue 16's yardstick).
        name: 'postgres.js',
        async open() {
          const sql = postgresJs(opts.pgUrl, { max: POOL_MAX, prepare: true, onnotice: () => {} });
          return {
            pointSelect: async (id) => (await sql.unsafe(SELECT, [id], { prepare: true }))[0],
            insert: (k) => sql.unsafe(INSERT, [k, `v${k}`], { prepare: true }),
            close: () => sql.end({ timeout: 5 }),
          };
        },
      },
      dalContender('@dal', () => new PostgresDatabase(dalConfig({}))),
      dalContender('@dal pipelining: false', () => new PostgresDatabase(dalConfig({ alias: 'bench_pg_no_pipelining', pipelining: false }))),
      dalContender('@dal withConnection(c => ...)', () => new PostgresDatabase(dalConfig({ alias: 'bench_postgres_with_connection' })), 'withConnection'),
      dalContender('@dal await using c = await db.connection()', () => new PostgresDatabase(dalConfig({ alias: 'bench_postgres_connection' })), 'connection'),
      knexContender(knexConfig(POOL_MAX)),
      kyselyContender(() => new PostgresDialect({ pool: new pg.Pool({ connectionString: opts.pgUrl, max: POOL_MAX }) })),
      kyselyOnDalContender(() => new PostgresDatabase(dalConfig({ alias: 'bench_pg_kysely' })), 'postgres'),
      {
        name: 'pg (raw, multi-row VALUES)',
        async open() {
          const pool = new pg.Pool({ connectionString: opts.pgUrl, max: 1 });
          return {
            async bulkInsert(rows) {
              const client = await pool.connect();
              try {
                await client.query('BEGIN');
                for (const part of chunks(rows, BATCH)) {
                  await client.query(multiRowInsert('bench_bulk', ['k', 'v'], part.length, 'dollar'), part.flat());
                }
                await client.query('COMMIT');
              } finally {
                client.release();
              }
            },
            close: () => pool.end(),
          };
        },
      },
    ],
    saturation: [
      dalSaturation(
        '@dal',
        (poolSize, acquireTimeoutMs) => new PostgresDatabase(dalConfig({ poolMin: poolSize, poolMax: poolSize, connectionAcquisitionTimeoutMs: acquireTimeoutMs })),
        hold,
      ),
      {
        name: 'pg.Pool (raw)',
        note: 'connectionTimeoutMillis',
        async open(poolSize, acquireTimeoutMs, holdMs) {
          const pool = new pg.Pool({ connectionString: opts.pgUrl, max: poolSize, connectionTimeoutMillis: acquireTimeoutMs });
          await warmPgPool(pool, poolSize);
          return {
            async acquire() {
              const client = await pool.connect();
              return { hold: () => hold((sql) => client.query(sql), holdMs), release: () => client.release() };
            },
            close: () => pool.end(),
          };
        },
      },
      knexSaturation('acquireConnectionTimeout (tarn)', knexConfig, hold),
    ],
    timeout: [
      dalTimeout('@dal', 'timeoutMs: cancel request to the server', () => new PostgresDatabase(dalConfig({ poolMax: 2 })), slowSql),
      {
        name: 'pg (raw) query_timeout',
        note: 'client-side timer only',
        async open(o) {
          const pool = new pg.Pool({ connectionString: opts.pgUrl, max: 2, query_timeout: o.queryTimeoutMs });
          await pool.query('SELECT 1');
          return { run: (marker) => pool.query(slowSql(o, marker)), close: () => pool.end() };
        },
      },
      {
        name: 'pg (raw) statement_timeout',
        note: 'server-side setting on the connection',
        async open(o) {
          const pool = new pg.Pool({ connectionString: opts.pgUrl, max: 2, statement_timeout: o.queryTimeoutMs });
          await pool.query('SELECT 1');
          return { run: (marker) => pool.query(slowSql(o, marker)), close: () => pool.end() };
        },
      },
      knexTimeout(knexConfig(2), false, 'default: no cancel', slowSql),
      knexTimeout(knexConfig(2), true, 'pg_cancel_backend on a second connection', slowSql),
    ],
    async isRunning(marker) {
      const { rows } = await admin.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND position($1 in query) > 0",
        [marker],
      );
      return rows[0].n > 0;
    },
    entities: {
      dal: [{ name: '@dal saveEntities', open: async () => new PostgresDatabase(dalConfig({ poolMax: 2 })) }],
      async openRaw() {
        await admin.query(`CREATE TABLE IF NOT EXISTS ${RAW_TABLE} (id text PRIMARY KEY, name text, age integer, email text, score double precision, active boolean,
          created_at timestamptz, updated_at timestamptz, created_by text, updated_by text, deleted_at timestamptz)`);
        await admin.query(`CREATE TABLE IF NOT EXISTS ${RAW_TABLE}_history (id text, name text, age integer, email text, score double precision, active boolean,
          created_at timestamptz, updated_at timestamptz, created_by text, updated_by text, deleted_at timestamptz,
          version integer, history_timestamp timestamptz, history_user_id text, history_comment text, PRIMARY KEY (id, version))`);
        const client = new pg.Client({ connectionString: opts.pgUrl });
        await client.connect();
        return {
          insertBatched: rawInsertBatched(pgTransaction(client), 'dollar'),
          close: () => client.end(),
        };
      },
      async dropTables() {
        const { rows } = await admin.query(
          "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND (tablename LIKE $1 OR tablename LIKE $2)",
          [`${ENTITY_NAME}%`, `${RAW_TABLE}%`],
        );
        for (const row of rows) await admin.query(`DROP TABLE IF EXISTS "${row.tablename}" CASCADE`);
      },
      count: (table) => backend.count(table),
    },
  };
  return backend;
}

/**
 * The slow statement, tagged with `marker` so that pg_stat_activity finds exactly this one.
 * @param {Options} o
 * @param {string} marker
 */
function slowSql(o, marker) {
  return `SELECT pg_sleep(${o.slowQueryMs / 1000}) AS slept, '${marker}' AS marker`;
}
