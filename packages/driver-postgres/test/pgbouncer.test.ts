import { ConfigError, ConnectionError, DatabaseConfig, QueryTimeoutError, UnsupportedFeatureError, type Database, type DatabaseConfigOptions } from '@dal/core';
import { startPgBouncer, type PgBouncerTestServer } from '@dal/test-utils';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresDatabase } from '../src/index.js';
import { caught, rawClient, waitFor } from './helpers.js';

// Issue #18 item 6: @dal behind a real PgBouncer 1.18 in transaction mode with 2 server
// connections, so that several clients share (and would see each other's) server sessions.
const ADVICE = "pooler: 'pgbouncer-transaction'";
const TABLE = `pgbouncer_${process.pid}`;

let bouncer: PgBouncerTestServer;
/** A direct connection to the server behind PgBouncer, to look at what really runs there. */
let admin: pg.Client;
const opened: Database[] = [];

function database(url: string, options: Partial<DatabaseConfigOptions>): Database {
  const db = new PostgresDatabase(DatabaseConfig.fromUrl(url, { alias: `pgbouncer_${process.pid}_${opened.length}`, ...options }));
  opened.push(db);
  return db;
}

/** Statements of this test file still running on the real server. */
async function runningOnServer(marker: string): Promise<number> {
  const { rows } = await admin.query<{ n: string }>(
    "SELECT count(*) AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()",
    [marker],
  );
  return Number(rows[0]!.n);
}

beforeAll(async () => {
  bouncer = await startPgBouncer();
  admin = await rawClient();
  await admin.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await admin.query(`CREATE TABLE ${TABLE} (id integer PRIMARY KEY, client integer NOT NULL)`);
});

afterAll(async () => {
  await Promise.allSettled(opened.map((db) => db.close()));
  await bouncer?.stop();
  await admin?.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await admin?.end();
});

describe("with pooler: 'pgbouncer-transaction'", () => {
  it('serves several concurrent clients holding connections over 2 server sessions, with no "already exists"', async () => {
    const db = database(bouncer.url, { pooler: 'pgbouncer-transaction', poolMax: 6 });
    // Each client repeats the same parameterized statements (which a direct connection would
    // prepare by name) and interleaves transactions, while holding its connection.
    await Promise.all(
      Array.from({ length: 6 }, (_, client) =>
        db.withConnection(async (conn) => {
          for (let i = 0; i < 10; i++) {
            const id = client * 100 + i;
            await conn.transaction(async (tx) => {
              await tx.execute(`INSERT INTO [${TABLE}] ([id], [client]) VALUES (?, ?)`, [id, client]);
              expect(await tx.executeFirst(`SELECT [client] FROM [${TABLE}] WHERE [id] = ?`, [id])).toEqual({ client });
            });
            expect(await conn.executeFirst(`SELECT [client] FROM [${TABLE}] WHERE [id] = ?`, [id])).toEqual({ client });
          }
        }),
      ),
    );
    const { rows } = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${TABLE}`);
    expect(Number(rows[0]!.n)).toBe(60);
  });

  it('refuses SET without LOCAL, LISTEN and session advisory locks, naming the pooler', async () => {
    const db = database(bouncer.url, { pooler: 'pgbouncer-transaction' });
    for (const sql of ["SET work_mem = '7MB'", 'LISTEN dal_events', 'SELECT pg_advisory_lock(42)', "SELECT set_config('work_mem', '7MB', false)", '/* c */ set  search_path = public']) {
      const error = await caught(() => db.execute(sql));
      expect(error, sql).toBeInstanceOf(UnsupportedFeatureError);
      expect((error as UnsupportedFeatureError).message, sql).toContain(ADVICE);
      expect((error as UnsupportedFeatureError).feature).toBe('sessionState');
    }
    // Words inside literals and comments are not statements.
    expect(await db.executeFirst("SELECT 'SET x = 1; LISTEN y' AS text -- pg_advisory_lock(1)")).toEqual({ text: 'SET x = 1; LISTEN y' });
  });

  it('runs SET LOCAL and transaction-scoped advisory locks inside a transaction, and nothing leaks to other clients', async () => {
    const db = database(bouncer.url, { pooler: 'pgbouncer-transaction', poolMax: 4 });
    const seen = await db.withConnection((conn) =>
      conn.transaction(async (tx) => {
        await tx.execute("SET LOCAL work_mem = '7MB'");
        await tx.execute('SELECT pg_advisory_xact_lock(42)');
        return tx.executeFirst<{ work_mem: string }>('SHOW work_mem');
      }),
    );
    expect(seen).toEqual({ work_mem: '7MB' });
    // Every server session behind PgBouncer, as concurrent clients see them now.
    const settings = await Promise.all(
      Array.from({ length: 4 }, () =>
        db.withConnection(async (conn) => {
          const row = await conn.executeFirst<{ work_mem: string; statement_timeout: string }>(
            "SELECT current_setting('work_mem') AS work_mem, current_setting('statement_timeout') AS statement_timeout, pg_sleep(0.05)",
          );
          return { work_mem: row!.work_mem, statement_timeout: row!.statement_timeout };
        }),
      ),
    );
    const { rows } = await admin.query<{ work_mem: string; statement_timeout: string }>(
      "SELECT current_setting('work_mem') AS work_mem, current_setting('statement_timeout') AS statement_timeout",
    );
    for (const row of settings) expect(row).toEqual(rows[0]);
  });

  it('bounds statements inside a transaction with SET LOCAL statement_timeout, sent with BEGIN', async () => {
    const db = database(bouncer.url, { pooler: 'pgbouncer-transaction' });
    const seen = await db.withConnection((conn) =>
      conn.transaction(async (tx) => {
        // BEGIN ran with the default timeout (queryExecutionTimeoutMs, 60 s) plus the 1 s backstop.
        const atBegin = await tx.executeFirst<{ statement_timeout: string }>('SHOW statement_timeout', [], { timeoutMs: 4_000 });
        // A statement asking for longer raises it first.
        const raised = await tx.executeFirst<{ statement_timeout: string }>('SHOW statement_timeout', [], { timeoutMs: 90_000 });
        return [atBegin, raised];
      }),
    );
    expect(seen).toEqual([{ statement_timeout: '61s' }, { statement_timeout: '91s' }]);
  });

  it('a timed-out statement, inside a transaction or not, leaves nothing running on the server', async () => {
    const db = database(bouncer.url, { pooler: 'pgbouncer-transaction' });
    const marker = `pgb_timeout_${process.pid}`;
    const outside = await caught(() => db.execute(`SELECT pg_sleep(30) /* ${marker}_a */`, [], { timeoutMs: 300 }));
    expect(outside).toBeInstanceOf(QueryTimeoutError);
    expect(await waitFor(async () => (await runningOnServer(`${marker}_a`)) === 0, 3_000)).toBe(true);

    const inside = await caught(() => db.withConnection((conn) => conn.transaction((tx) => tx.execute(`SELECT pg_sleep(30) /* ${marker}_b */`, [], { timeoutMs: 300 }))));
    expect(inside).toBeInstanceOf(QueryTimeoutError);
    expect(await waitFor(async () => (await runningOnServer(`${marker}_b`)) === 0, 3_000)).toBe(true);
    // The pool still works through PgBouncer afterwards.
    expect(await db.executeFirst('SELECT 1 AS one')).toEqual({ one: 1 });
  });

  it('streams rows through a cursor in its own transaction', async () => {
    const db = database(bouncer.url, { pooler: 'pgbouncer-transaction' });
    const seen: number[] = [];
    for await (const row of db.stream<{ n: number }>('SELECT generate_series(1, ?::int) AS n', [25], { batchSize: 10 })) seen.push(row.n);
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
  });

  it('refuses driverOptions that pg would send as startup parameters PgBouncer refuses', async () => {
    const db = database(bouncer.url, { pooler: 'pgbouncer-transaction', driverOptions: { lock_timeout: 1_000 } });
    const error = await caught(() => db.execute('SELECT 1'));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain('lock_timeout');
  });

  it('the synchronous connection connects through PgBouncer and refuses session state alike', () => {
    const db = database(bouncer.url, { pooler: 'pgbouncer-transaction' });
    const sync = db.syncConnection();
    try {
      expect(sync.executeFirst('SELECT ?::int AS n', [7])).toEqual({ n: 7 });
      expect(() => sync.execute("SET work_mem = '7MB'")).toThrow(expect.objectContaining({ code: 'DAL_UNSUPPORTED', message: expect.stringContaining(ADVICE) }));
    } finally {
      sync.release();
    }
  });
});

describe('without pooler', () => {
  /** What users do to get past the refusal: PgBouncer told to ignore statement_timeout. */
  const lenientBouncer = () => startPgBouncer({ settings: { ignore_startup_parameters: 'statement_timeout' } });

  it('a connection PgBouncer refuses for its startup parameter reports the pooler advice, not retryable', async () => {
    const db = database(bouncer.url, {});
    const error = await caught(() => db.execute('SELECT 1'));
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).message).toContain('unsupported startup parameter');
    expect((error as ConnectionError).message).toContain(ADVICE);
    expect((error as ConnectionError).retryable).toBe(false);
  });

  it('named prepared statements meeting other clients\' on shared server sessions report the pooler advice', async () => {
    const lenient = await lenientBouncer();
    try {
      const db = database(lenient.url, { poolMax: 4 });
      const errors: unknown[] = [];
      await Promise.all(
        Array.from({ length: 4 }, () =>
          db.withConnection(async (conn) => {
            for (let i = 0; i < 10; i++) {
              await conn.execute('SELECT ?::int AS n, pg_sleep(0.005)', [i]).catch((error: unknown) => errors.push(error));
            }
          }),
        ),
      );
      await db.close();
      expect(errors.length).toBeGreaterThan(0);
      for (const error of errors) expect((error as Error).message).toContain(ADVICE);
    } finally {
      await lenient.stop();
    }
  });

  it('a SET that leaked to another client is reported, with the pooler advice, once the connection lands on another server session', async () => {
    const lenient = await lenientBouncer();
    const other = new pg.Client({ connectionString: lenient.url });
    other.on('error', () => {});
    try {
      const db = database(lenient.url, { poolMax: 1 });
      await db.withConnection(async (conn) => {
        await conn.execute("SET work_mem = '7MB'");
        // Another client takes that server session (PgBouncer reuses the last one freed) and sees the SET.
        await other.connect();
        await other.query('BEGIN');
        expect((await other.query<{ work_mem: string }>('SHOW work_mem')).rows[0]!.work_mem).toBe('7MB');
        const error = await caught(() => conn.execute('SHOW work_mem'));
        expect(error).toBeInstanceOf(UnsupportedFeatureError);
        expect((error as Error).message).toContain('SET without LOCAL');
        expect((error as Error).message).toContain(ADVICE);
        // Reported once; the connection goes on working.
        expect(await conn.executeFirst('SELECT 1 AS one')).toEqual({ one: 1 });
      });
      await other.query('ROLLBACK');
    } finally {
      await other.end().catch(() => undefined);
      await lenient.stop();
    }
  });
});
