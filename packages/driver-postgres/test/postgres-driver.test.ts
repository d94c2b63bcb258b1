import { AbortedError, ConnectionError, QueryError } from '@dal/core';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresArray, postgresDialect, type PostgresConnection } from '../src/index.js';
import { caught, closedPort, connectTest, driver, localServer, rawClient, testConfig, waitFor } from './helpers.js';

const TABLE = 'driver_postgres_items';
const OBJECT = { rowMode: 'object', timeoutMs: 5_000 } as const;
const ARRAY = { rowMode: 'array', timeoutMs: 5_000 } as const;

let admin: pg.Client;

async function backendState(pid: number): Promise<string | null> {
  const result = await admin.query<{ state: string | null }>('SELECT state FROM pg_stat_activity WHERE pid = $1', [pid]);
  return result.rows[0]?.state ?? null;
}

beforeAll(async () => {
  admin = await rawClient();
  await admin.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await admin.query(`CREATE TABLE ${TABLE} (id serial PRIMARY KEY, name text NOT NULL, qty int)`);
});

afterAll(async () => {
  await admin.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await admin.end();
});

describe('PostgresDriver', () => {
  it('declares the contract version, capabilities and the pg version', () => {
    expect(driver.specVersion).toBe('v1');
    expect(driver.capabilities).toEqual({ cancel: true, savepoints: true, transactionalDdl: true, returning: true, sync: true, multiRowInsert: true, pipelining: true });
    expect(driver.clientName).toMatch(/^pg \d+\.\d+\.\d+$/);
    expect(driver.dialect).toBe(postgresDialect);
  });
});

describe('PostgresConnection: statements', () => {
  let conn: PostgresConnection;
  beforeAll(async () => {
    conn = await connectTest();
  });
  afterAll(async () => {
    await conn.close();
  });

  it('runs parameterized statements, in object and array row modes', async () => {
    const objects = await conn.execute<{ a: number; b: string }>('SELECT $1::int AS a, $2::text AS b', [7, 'x'], OBJECT);
    expect(objects.rows).toEqual([{ a: 7, b: 'x' }]);
    expect(objects.affectedRows).toBe(0);
    const arrays = await conn.execute<[number, string]>('SELECT $1::int AS a, $2::text AS b', [8, 'y'], ARRAY);
    expect(arrays.rows).toEqual([[8, 'y']]);
    const noParams = await conn.execute('SELECT 1 AS one', [], ARRAY);
    expect(noParams.rows).toEqual([[1]]);
  });

  it('reports affected rows for writes, RETURNING rows, and no insertId', async () => {
    const inserted = await conn.execute<{ id: number }>(
      `INSERT INTO ${TABLE} (name, qty) VALUES ($1, $2), ($3, $4) RETURNING id`,
      ['a', 1, 'b', 2],
      OBJECT,
    );
    expect(inserted.affectedRows).toBe(2);
    expect(inserted.rows).toHaveLength(2);
    expect(typeof inserted.rows[0]?.id).toBe('number');
    expect(inserted.insertId).toBeUndefined();
    const updated = await conn.execute(`UPDATE ${TABLE} SET qty = qty + 1 WHERE name IN ($1, $2)`, ['a', 'b'], OBJECT);
    expect(updated.affectedRows).toBe(2);
    const selected = await conn.execute(`SELECT * FROM ${TABLE} WHERE name = $1`, ['a'], OBJECT);
    expect(selected.rows).toHaveLength(1);
    expect(selected.affectedRows).toBe(0);
    const deleted = await conn.execute(`DELETE FROM ${TABLE} WHERE name IN ($1, $2)`, ['a', 'b'], OBJECT);
    expect(deleted.affectedRows).toBe(2);
  });

  it('runs a parameterless multi-statement string and reports the last result', async () => {
    const result = await conn.execute('SELECT 1 AS a; SELECT 2 AS b', [], OBJECT);
    expect(result.rows).toEqual([{ b: 2 }]);
  });

  it('round-trips every parameter type', async () => {
    const date = new Date('2024-03-01T12:34:56.789Z');
    const big = 9_007_199_254_740_993n; // 2^53 + 1: not representable as a number
    const bytes = Buffer.from([0, 1, 254, 255]);
    const result = await conn.execute<Record<string, unknown>>(
      `SELECT $1::text AS s, $2::int AS i, $3::float8 AS f, $4::int8 AS big, $5::int8 AS small8,
              $6::boolean AS yes, $7::timestamptz AS ts, $8::text AS nul, $9::text AS undef,
              $10::bytea AS buf, $11::bytea AS u8, $12::jsonb AS obj, $13::jsonb AS arr,
              $14::numeric AS num, '{1,9007199254740993}'::int8[] AS int8s, '{1.10,2.5}'::numeric[] AS nums,
              $15::int[] AS pgarr`,
      ['héllo', 42, 1.5, big, 12n, true, date, null, undefined, bytes, new Uint8Array([9, 8]), { a: [1, { b: 'c' }] }, [1, 'two', null],
        '12345678901234567890.123456789', postgresArray([3, 4])],
      OBJECT,
    );
    const row = result.rows[0]!;
    expect(row['s']).toBe('héllo');
    expect(row['i']).toBe(42);
    expect(row['f']).toBe(1.5);
    expect(row['big']).toBe(big);
    expect(row['small8']).toBe(12);
    expect(row['yes']).toBe(true);
    expect(row['ts']).toBeInstanceOf(Date);
    expect((row['ts'] as Date).getTime()).toBe(date.getTime());
    expect(row['nul']).toBeNull();
    expect(row['undef']).toBeNull();
    expect(row['buf']).toEqual(bytes);
    expect(row['u8']).toEqual(Buffer.from([9, 8]));
    expect(row['obj']).toEqual({ a: [1, { b: 'c' }] });
    expect(row['arr']).toEqual([1, 'two', null]);
    expect(row['num']).toBe('12345678901234567890.123456789');
    expect(row['int8s']).toEqual([1, 9_007_199_254_740_993n]);
    expect(row['nums']).toEqual(['1.10', '2.5']);
    expect(row['pgarr']).toEqual([3, 4]);
  });

  it('keeps int8 exact at the edges of the safe range', async () => {
    const result = await conn.execute<[unknown, unknown, unknown, unknown]>(
      `SELECT 9007199254740991::int8, 9007199254740992::int8, (-9007199254740991)::int8, (-9223372036854775808)::int8`,
      [],
      ARRAY,
    );
    expect(result.rows[0]).toEqual([9_007_199_254_740_991, 9_007_199_254_740_992n, -9_007_199_254_740_991, -9_223_372_036_854_775_808n]);
  });

  it('sets application_name to dal:<alias>', async () => {
    const state = await admin.query('SELECT application_name FROM pg_stat_activity WHERE pid = $1', [conn.processId]);
    expect(state.rows[0]?.application_name).toBe('dal:pgtest');
  });

  it('reports the server version from the startup parameters', async () => {
    const shown = await admin.query<{ server_version: string }>('SHOW server_version');
    expect(await conn.serverVersion()).toBe(`PostgreSQL ${shown.rows[0]!.server_version}`);
  });

  it('pings, and rejects a ping whose signal already aborted', async () => {
    await conn.ping({ signal: AbortSignal.timeout(2_000) });
    const error = await caught(() => conn.ping({ signal: AbortSignal.abort('stop') }));
    expect(error).toBeInstanceOf(AbortedError);
    expect(conn.broken).toBe(false);
  });

  it('maps a server error and stays usable', async () => {
    const error = await caught(() => conn.execute('SELECT * FROM driver_postgres_missing_table', [], OBJECT));
    expect(error).toBeInstanceOf(QueryError);
    expect((error as QueryError).sqlState).toBe('42P01');
    expect((error as QueryError).sql).toBe('SELECT * FROM driver_postgres_missing_table');
    expect((await conn.execute('SELECT 1 AS one', [], OBJECT)).rows).toEqual([{ one: 1 }]);
  });

  it('runs the dialect transaction and savepoint statements for real', async () => {
    for (const sql of postgresDialect.beginTransactionSql('serializable')) await conn.execute(sql, [], OBJECT);
    const level = await conn.execute<{ transaction_isolation: string }>('SHOW transaction_isolation', [], OBJECT);
    expect(level.rows[0]?.transaction_isolation).toBe('serializable');
    await conn.execute(`INSERT INTO ${TABLE} (name) VALUES ($1)`, ['kept'], OBJECT);
    await conn.execute(postgresDialect.savepointSql('sp 1'), [], OBJECT);
    await conn.execute(`INSERT INTO ${TABLE} (name) VALUES ($1)`, ['undone'], OBJECT);
    await conn.execute(postgresDialect.rollbackToSavepointSql('sp 1'), [], OBJECT);
    await conn.execute(postgresDialect.releaseSavepointSql!('sp 1'), [], OBJECT);
    await conn.execute('COMMIT', [], OBJECT);
    const names = await admin.query(`SELECT name FROM ${TABLE} WHERE name IN ('kept', 'undone') ORDER BY name`);
    expect(names.rows).toEqual([{ name: 'kept' }]);
    await admin.query(`DELETE FROM ${TABLE} WHERE name = 'kept'`);
  });
});

describe('PostgresConnection: statement_timeout backstop', () => {
  async function statementTimeout(conn: PostgresConnection): Promise<string> {
    const result = await conn.execute<{ statement_timeout: string }>('SHOW statement_timeout', [], { rowMode: 'object', timeoutMs: 0 });
    return result.rows[0]!.statement_timeout;
  }

  it('starts at queryExecutionTimeoutMs + 1 s, is raised for a longer call and never lowered', async () => {
    const conn = await connectTest({ queryExecutionTimeoutMs: 4_000 });
    try {
      expect(await statementTimeout(conn)).toBe('5s');
      await conn.execute('SELECT 1', [], { rowMode: 'object', timeoutMs: 9_000 });
      expect(await statementTimeout(conn)).toBe('10s');
      await conn.execute('SELECT 1', [], { rowMode: 'object', timeoutMs: 100 });
      expect(await statementTimeout(conn)).toBe('10s');
      await conn.execute('SELECT 1', [], { rowMode: 'object', timeoutMs: Number.POSITIVE_INFINITY });
      expect(await statementTimeout(conn)).toBe('0');
    } finally {
      await conn.close();
    }
  });

  it('disables the bound when the timeout is beyond what the server accepts', async () => {
    // The largest timeout a config accepts, plus the 1 s backstop margin, is past the server's limit.
    const conn = await connectTest({ queryExecutionTimeoutMs: 2_147_483_647 });
    try {
      expect(await statementTimeout(conn)).toBe('0');
    } finally {
      await conn.close();
    }
  });

  it('stops a runaway statement on the server by itself', async () => {
    const conn = await connectTest({ queryExecutionTimeoutMs: 200 });
    try {
      const started = Date.now();
      const error = await caught(() => conn.execute('SELECT pg_sleep(5)', [], { rowMode: 'object', timeoutMs: 200 }));
      expect((error as QueryError).sqlState).toBe('57014');
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await conn.close();
    }
  });

  it('raises again after a rolled-back transaction undid the raise', async () => {
    const conn = await connectTest({ queryExecutionTimeoutMs: 4_000 });
    try {
      const short = { rowMode: 'object', timeoutMs: 100 } as const;
      await conn.execute('BEGIN', [], short);
      await conn.execute('SELECT 1', [], { rowMode: 'object', timeoutMs: 19_000 });
      expect(await statementTimeout(conn)).toBe('20s');
      await conn.execute('ROLLBACK', [], short);
      expect(await statementTimeout(conn)).toBe('5s');
      await conn.execute('SELECT 1', [], { rowMode: 'object', timeoutMs: 19_000 });
      expect(await statementTimeout(conn)).toBe('20s');
    } finally {
      await conn.close();
    }
  });
});

describe('PostgresConnection: cancel', () => {
  it('stops a running statement on the server; the connection is usable afterwards', async () => {
    const conn = await connectTest();
    try {
      const pending = conn.execute('SELECT pg_sleep(30)', [], { rowMode: 'object', timeoutMs: 60_000 });
      const outcome = pending.then(
        () => 'resolved',
        (error: unknown) => error,
      );
      expect(await waitFor(async () => (await backendState(conn.processId)) === 'active')).toBe(true);
      const cancelledAt = Date.now();
      await conn.cancel();
      const error = await outcome;
      expect(Date.now() - cancelledAt).toBeLessThan(200);
      expect(error).toBeInstanceOf(QueryError);
      expect((error as QueryError).sqlState).toBe('57014');
      expect(await backendState(conn.processId)).toBe('idle');
      expect(conn.broken).toBe(false);
      expect((await conn.execute('SELECT 1 AS one', [], OBJECT)).rows).toEqual([{ one: 1 }]);
    } finally {
      await conn.close();
    }
  });

  it('does nothing when no statement runs, so the next statement is not hit', async () => {
    const conn = await connectTest();
    try {
      await conn.cancel();
      const result = await conn.execute('SELECT pg_sleep(0.2), 5 AS five', [], OBJECT);
      expect(result.rows[0]).toMatchObject({ five: 5 });
    } finally {
      await conn.close();
    }
  });
});

describe('PostgresDriver.connect failures', () => {
  it('aborts promptly against a server that accepts and never answers', async () => {
    const silent = await localServer(() => {});
    try {
      const controller = new AbortController();
      const connecting = driver.connect(testConfig({ host: '127.0.0.1', port: silent.port, password: 'top-secret-pw' }), {
        signal: controller.signal,
      });
      const outcome = connecting.then(() => 'connected', (error: unknown) => error);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const abortedAt = Date.now();
      controller.abort(new Error('connect timeout'));
      const error = await outcome;
      expect(Date.now() - abortedAt).toBeLessThan(100);
      expect(error).toBeInstanceOf(ConnectionError);
      expect((error as Error).message).toContain('pgtest');
      expect((error as Error).message).toContain(`127.0.0.1:${silent.port}`);
      expect((error as Error).message).not.toContain('top-secret-pw');
    } finally {
      await silent.close();
    }
  });

  it('rejects at once when the signal is already aborted', async () => {
    const error = await caught(() => driver.connect(testConfig(), { signal: AbortSignal.abort() }));
    expect(error).toBeInstanceOf(ConnectionError);
  });

  it('fails fast and retryably against a closed port', async () => {
    const port = await closedPort();
    const started = Date.now();
    const error = await caught(() => driver.connect(testConfig({ host: '127.0.0.1', port }), { signal: AbortSignal.timeout(5_000) }));
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).retryable).toBe(true);
    expect((error as Error).message).toContain(`127.0.0.1:${port}`);
  });

  it('rejects an unknown role with a non-retryable ConnectionError (real server, trust auth)', async () => {
    const error = await caught(() => connectTest({ user: 'driver_postgres_no_such_role', password: 'top-secret-pw' }));
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).retryable).toBe(false);
    expect((error as Error).message).toContain('driver_postgres_no_such_role');
    expect((error as Error).message).not.toContain('top-secret-pw');
  });

  it('rejects an unknown database with a non-retryable ConnectionError', async () => {
    const error = await caught(() => connectTest({ database: 'driver_postgres_no_such_db' }));
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).retryable).toBe(false);
  });

  it('rejects a wrong password with a clear non-retryable ConnectionError', async () => {
    // The test server trusts 127.0.0.1, so a wrong password cannot be produced there. This local
    // server speaks just enough protocol: it asks for a cleartext password, then answers with the
    // exact ErrorResponse PostgreSQL sends (28P01). pg parses it as it would from a real server.
    const fields = ['SFATAL', 'VFATAL', 'C28P01', 'Mpassword authentication failed for user "postgres"'];
    const body = Buffer.concat([...fields.map((f) => Buffer.from(`${f}\0`)), Buffer.from([0])]);
    const errorResponse = Buffer.concat([Buffer.from('E'), int32(body.length + 4), body]);
    const askPassword = Buffer.concat([Buffer.from('R'), int32(8), int32(3)]);
    const fake = await localServer((socket) => {
      socket.once('data', () => {
        socket.write(askPassword);
        socket.once('data', () => socket.end(errorResponse));
      });
    });
    try {
      const error = await caught(() =>
        driver.connect(testConfig({ host: '127.0.0.1', port: fake.port, password: 'wrong-secret-pw' }), { signal: AbortSignal.timeout(2_000) }),
      );
      expect(error).toBeInstanceOf(ConnectionError);
      expect((error as ConnectionError).retryable).toBe(false);
      expect((error as Error).message).toContain('password authentication failed');
      expect((error as Error).message).not.toContain('wrong-secret-pw');
      expect(((error as Error).cause as { code?: string }).code).toBe('28P01');
    } finally {
      await fake.close();
    }
  });
});

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

describe('PostgresConnection: broken connections', () => {
  it('flips broken when the server terminates an idle session, without an unhandled error', async () => {
    const conn = await connectTest();
    await admin.query('SELECT pg_terminate_backend($1)', [conn.processId]);
    expect(await waitFor(() => conn.broken)).toBe(true);
    const error = await caught(() => conn.execute('SELECT 1', [], OBJECT));
    expect(error).toBeInstanceOf(ConnectionError);
    conn.destroy();
  });

  it('rejects the running statement with a ConnectionError when the session is terminated', async () => {
    const conn = await connectTest();
    const outcome = conn.execute('SELECT pg_sleep(30)', [], { rowMode: 'object', timeoutMs: 60_000 }).then(
      () => 'resolved',
      (error: unknown) => error,
    );
    expect(await waitFor(async () => (await backendState(conn.processId)) === 'active')).toBe(true);
    await admin.query('SELECT pg_terminate_backend($1)', [conn.processId]);
    const error = await outcome;
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).retryable).toBe(true);
    expect(await waitFor(() => conn.broken)).toBe(true);
    conn.destroy();
  });

  it('close() ends the session on the server; destroy() is immediate', async () => {
    const closed = await connectTest();
    const pid = closed.processId;
    await closed.close();
    expect(closed.broken).toBe(true);
    expect(await waitFor(async () => (await backendState(pid)) === null)).toBe(true);
    const destroyed = await connectTest();
    destroyed.destroy();
    expect(destroyed.broken).toBe(true);
    expect(await waitFor(async () => (await backendState(destroyed.processId)) === null)).toBe(true);
  });
});

describe('PostgresConnection: prepared statements', () => {
  async function preparedNames(conn: PostgresConnection): Promise<string[]> {
    const result = await conn.execute<{ name: string }>('SELECT name FROM pg_prepared_statements ORDER BY name', [], OBJECT);
    return result.rows.map((row) => row.name);
  }

  it('prepares parameterized SQL from its second use, once', async () => {
    const conn = await connectTest();
    try {
      const sql = 'SELECT $1::int + 1 AS n';
      expect((await conn.execute(sql, [1], OBJECT)).rows).toEqual([{ n: 2 }]);
      expect(await preparedNames(conn)).toEqual([]);
      expect((await conn.execute(sql, [2], OBJECT)).rows).toEqual([{ n: 3 }]);
      expect((await conn.execute(sql, [3], ARRAY)).rows).toEqual([[4]]);
      expect(await preparedNames(conn)).toEqual(['dal_1']);
    } finally {
      await conn.close();
    }
  });

  it('can be turned off through driverOptions', async () => {
    const conn = await connectTest({ driverOptions: { preparedStatements: false } });
    try {
      for (let i = 0; i < 3; i++) await conn.execute('SELECT $1::int AS n', [i], OBJECT);
      expect(await preparedNames(conn)).toEqual([]);
    } finally {
      await conn.close();
    }
  });

  it('recovers when a schema change invalidates a prepared statement', async () => {
    const table = 'driver_postgres_prepared';
    await admin.query(`DROP TABLE IF EXISTS ${table}`);
    await admin.query(`CREATE TABLE ${table} (id int)`);
    const conn = await connectTest();
    try {
      const sql = `SELECT id FROM ${table} WHERE id = $1`;
      await conn.execute(sql, [1], OBJECT);
      await conn.execute(sql, [1], OBJECT);
      // Another session changes the type of a selected column: the prepared plan's result type is stale.
      await admin.query(`ALTER TABLE ${table} ALTER COLUMN id TYPE bigint`);
      await admin.query(`INSERT INTO ${table} VALUES (1)`);
      const error = await caught(() => conn.execute(sql, [1], OBJECT));
      expect((error as QueryError).sqlState).toBe('0A000');
      await conn.execute(sql, [1], OBJECT);
      expect((await conn.execute(sql, [1], OBJECT)).rows).toEqual([{ id: 1 }]);
    } finally {
      await conn.close();
      await admin.query(`DROP TABLE IF EXISTS ${table}`);
    }
  });

  it('never prepares a * select list, so another session adding a column cannot break it, even in a transaction', async () => {
    const table = 'driver_postgres_star';
    await admin.query(`DROP TABLE IF EXISTS ${table}`);
    await admin.query(`CREATE TABLE ${table} (id int)`);
    await admin.query(`INSERT INTO ${table} VALUES (1)`);
    const conn = await connectTest();
    try {
      const star = [
        `SELECT * FROM ${table} WHERE id = $1`,
        `SELECT /* schema v1 */ * FROM ${table} WHERE id = $1`,
        `SELECT t.* FROM ${table} t WHERE t.id = $1`,
        `SELECT id, * FROM ${table} WHERE id = $1`,
      ];
      for (const sql of star) for (let i = 0; i < 3; i++) await conn.execute(sql, [1], OBJECT);
      // Counting is no select list: it is prepared as usual.
      const count = `SELECT count(*) AS n FROM ${table} WHERE id = $1`;
      for (let i = 0; i < 3; i++) await conn.execute(count, [1], OBJECT);
      const prepared = await conn.execute<{ statement: string }>('SELECT statement FROM pg_prepared_statements', [], OBJECT);
      expect(prepared.rows.map((r) => r.statement)).toEqual([count]);

      await admin.query(`ALTER TABLE ${table} ADD COLUMN extra text`);
      await conn.execute('BEGIN', [], OBJECT);
      for (const sql of star) expect((await conn.execute<Record<string, unknown>>(sql, [1], OBJECT)).rows[0]).toMatchObject({ id: 1, extra: null });
      await conn.execute('COMMIT', [], OBJECT);
    } finally {
      await conn.close();
      await admin.query(`DROP TABLE IF EXISTS ${table}`);
    }
  });
});

describe('PostgresConnection: concurrency', () => {
  it('runs statements on many connections at once, each getting its own results', async () => {
    const conns = await Promise.all(Array.from({ length: 8 }, () => connectTest()));
    try {
      const results = await Promise.all(
        conns.map(async (conn, i) => {
          const rows: unknown[] = [];
          for (let j = 0; j < 20; j++) {
            const result = await conn.execute<{ v: number; pid: number }>('SELECT $1::int AS v, pg_backend_pid() AS pid', [i * 100 + j], OBJECT);
            rows.push(result.rows[0]);
          }
          return rows;
        }),
      );
      results.forEach((rows, i) => {
        rows.forEach((row, j) => expect(row).toEqual({ v: i * 100 + j, pid: conns[i]!.processId }));
      });
    } finally {
      await Promise.all(conns.map((conn) => conn.close()));
    }
  });
});
