import {
  CheckViolationError,
  ConnectionError,
  DeadlockError,
  ForeignKeyViolationError,
  NotNullViolationError,
  QueryError,
  SerializationFailureError,
  TimeoutError,
  UniqueViolationError,
} from '@dal/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mapPostgresError, postgresDialect } from '../src/index.js';
import { caught, closedPort, localServer, PG_URL, rawClient } from './helpers.js';

const PARENT = 'driver_postgres_map_parent';
const CHILD = 'driver_postgres_map_child';
const SECRET = 'secret-param-value-7731';

let client: pg.Client;
let other: pg.Client;

/** Run SQL on a raw pg client and return the native error it raised. */
function nativeError(on: pg.Client, sql: string, params: unknown[] = []): Promise<unknown> {
  return caught(() => on.query(sql, params));
}

beforeAll(async () => {
  client = await rawClient();
  other = await rawClient();
  await client.query(`DROP TABLE IF EXISTS ${CHILD}, ${PARENT}`);
  await client.query(`CREATE TABLE ${PARENT} (id int PRIMARY KEY, email text UNIQUE, n int NOT NULL DEFAULT 0 CONSTRAINT n_positive CHECK (n >= 0))`);
  await client.query(`CREATE TABLE ${CHILD} (id int PRIMARY KEY, parent_id int REFERENCES ${PARENT} (id))`);
  await client.query(`INSERT INTO ${PARENT} (id, email) VALUES (1, 'a@example.com'), (2, 'b@example.com')`);
});

afterAll(async () => {
  await client.query(`DROP TABLE IF EXISTS ${CHILD}, ${PARENT}`);
  await Promise.all([client.end(), other.end()]);
});

describe('mapPostgresError on real server errors', () => {
  const constraintCases = [
    {
      name: 'unique violation',
      sql: `INSERT INTO ${PARENT} (id, email) VALUES ($1, $2)`,
      params: [3, 'a@example.com'],
      type: UniqueViolationError,
      code: '23505',
      constraint: `${PARENT}_email_key`,
    },
    {
      name: 'primary key violation',
      sql: `INSERT INTO ${PARENT} (id, email) VALUES ($1, $2)`,
      params: [1, SECRET],
      type: UniqueViolationError,
      code: '23505',
      constraint: `${PARENT}_pkey`,
    },
    {
      name: 'foreign key violation',
      sql: `INSERT INTO ${CHILD} (id, parent_id) VALUES ($1, $2)`,
      params: [1, 999],
      type: ForeignKeyViolationError,
      code: '23503',
      constraint: `${CHILD}_parent_id_fkey`,
    },
    {
      name: 'not null violation',
      sql: `INSERT INTO ${PARENT} (id, email, n) VALUES ($1, $2, $3)`,
      params: [4, SECRET, null],
      type: NotNullViolationError,
      code: '23502',
      column: 'n',
    },
    {
      name: 'check violation',
      sql: `INSERT INTO ${PARENT} (id, email, n) VALUES ($1, $2, $3)`,
      params: [5, SECRET, -1],
      type: CheckViolationError,
      code: '23514',
      constraint: 'n_positive',
    },
  ];

  it.each(constraintCases)('$name -> $type.name ($code)', async ({ sql, params, type, code, constraint, column }) => {
    const native = await nativeError(client, sql, params);
    const mapped = mapPostgresError(native, { alias: 'maptest', sql });
    expect(mapped).toBeInstanceOf(type);
    const error = mapped as QueryError;
    expect(error.sqlState).toBe(code);
    expect(error.vendorCode).toBe(code);
    expect(error.dialect).toBe('postgres');
    expect(error.sql).toBe(sql);
    expect(error.table).toBe(sql.includes(CHILD) ? CHILD : PARENT);
    if (constraint !== undefined) expect(error.constraint).toBe(constraint);
    if (column !== undefined) expect(error.column).toBe(column);
    expect(error.cause).toBe(native);
    expect(error.retryable).toBe(false);
    expect(error.message.startsWith('maptest: ')).toBe(true);
    expect(error.message).toContain((native as Error).message);
    expect(error.message).not.toContain(SECRET);
  });

  it('deadlock -> DeadlockError (retryable), produced with two connections', async () => {
    for (const c of [client, other]) {
      await c.query("SET deadlock_timeout = '50ms'");
      await c.query('BEGIN');
    }
    await client.query(`UPDATE ${PARENT} SET n = n + 1 WHERE id = 1`);
    await other.query(`UPDATE ${PARENT} SET n = n + 1 WHERE id = 2`);
    const first = client.query(`UPDATE ${PARENT} SET n = n + 1 WHERE id = 2`).then(() => undefined, (e: unknown) => e);
    const second = other.query(`UPDATE ${PARENT} SET n = n + 1 WHERE id = 1`).then(() => undefined, (e: unknown) => e);
    const outcomes = await Promise.all([first, second]);
    await Promise.all([client.query('ROLLBACK'), other.query('ROLLBACK')]);
    const natives = outcomes.filter((e) => e !== undefined);
    expect(natives).toHaveLength(1);
    const mapped = mapPostgresError(natives[0], { alias: 'maptest' });
    expect(mapped).toBeInstanceOf(DeadlockError);
    expect((mapped as QueryError).sqlState).toBe('40P01');
    expect(mapped.retryable).toBe(true);
  });

  it('serialization failure -> SerializationFailureError (retryable)', async () => {
    for (const c of [client, other]) await c.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
    await client.query(`SELECT sum(n) FROM ${PARENT}`);
    await other.query(`SELECT sum(n) FROM ${PARENT}`);
    await client.query(`UPDATE ${PARENT} SET n = n + 1 WHERE id = 1`);
    await other.query(`UPDATE ${PARENT} SET n = n + 1 WHERE id = 2`);
    await client.query('COMMIT');
    const native = await nativeError(other, 'COMMIT');
    await other.query('ROLLBACK');
    const mapped = mapPostgresError(native, { alias: 'maptest', sql: 'COMMIT' });
    expect(mapped).toBeInstanceOf(SerializationFailureError);
    expect((mapped as QueryError).sqlState).toBe('40001');
    expect(mapped.retryable).toBe(true);
  });

  it('query cancelled (statement_timeout) -> plain QueryError 57014, not a timeout', async () => {
    await client.query('SET statement_timeout = 50');
    const native = await nativeError(client, 'SELECT pg_sleep(2)');
    await client.query('SET statement_timeout = 0');
    const mapped = mapPostgresError(native, { alias: 'maptest' });
    expect(mapped.constructor).toBe(QueryError);
    expect(mapped).not.toBeInstanceOf(TimeoutError);
    expect((mapped as QueryError).vendorCode).toBe('57014');
  });

  it('syntax error and undefined table -> QueryError with the SQL', async () => {
    for (const [sql, code] of [
      ['SELEC 1', '42601'],
      ['SELECT * FROM driver_postgres_map_missing', '42P01'],
    ] as const) {
      const mapped = mapPostgresError(await nativeError(client, sql), { alias: 'maptest', sql });
      expect(mapped.constructor).toBe(QueryError);
      expect((mapped as QueryError).sqlState).toBe(code);
      expect((mapped as QueryError).sql).toBe(sql);
    }
  });

  it('data exceptions keep the server wording but not the parameter value', async () => {
    const native = await nativeError(client, 'SELECT $1::int', [SECRET]);
    expect((native as Error).message).toContain(SECRET);
    const mapped = mapPostgresError(native, { alias: 'maptest' });
    expect((mapped as QueryError).sqlState).toBe('22P02');
    expect(mapped.message).toContain('invalid input syntax for type integer');
    expect(mapped.message).not.toContain(SECRET);
  });

  it('session terminated by an administrator (57P01) -> retryable ConnectionError', async () => {
    const victim = await rawClient();
    const pending = nativeError(victim, 'SELECT pg_sleep(10)');
    await new Promise((resolve) => setTimeout(resolve, 100));
    await client.query('SELECT pg_terminate_backend($1)', [(victim as unknown as { processID: number }).processID]);
    const native = await pending;
    expect((native as { code?: string }).code).toBe('57P01');
    const mapped = mapPostgresError(native, { alias: 'maptest' });
    expect(mapped).toBeInstanceOf(ConnectionError);
    expect(mapped.retryable).toBe(true);
    expect(mapped.message).toContain('maptest');
    // The socket is closed now: pg's next error is its own 'not queryable' message.
    const after = mapPostgresError(await nativeError(victim, 'SELECT 1'), { alias: 'maptest' });
    expect(after).toBeInstanceOf(ConnectionError);
    expect(after.retryable).toBe(true);
  });
});

describe('mapPostgresError on real connection failures', () => {
  async function connectError(config: pg.ClientConfig): Promise<unknown> {
    const c = new pg.Client(config);
    c.on('error', () => {});
    return caught(() => c.connect());
  }

  it('unknown database (3D000) and unknown role (28000) -> non-retryable ConnectionError', async () => {
    const url = new URL(PG_URL);
    const base = { host: url.hostname, port: Number(url.port || 5432), user: decodeURIComponent(url.username), database: url.pathname.slice(1) };
    for (const [config, code] of [
      [{ ...base, database: 'driver_postgres_no_db' }, '3D000'],
      [{ ...base, user: 'driver_postgres_no_role' }, '28000'],
    ] as const) {
      const native = await connectError(config);
      expect((native as { code?: string }).code).toBe(code);
      const mapped = mapPostgresError(native, { alias: 'maptest', host: 'h:1', connecting: true });
      expect(mapped).toBeInstanceOf(ConnectionError);
      expect(mapped.retryable).toBe(false);
      expect((mapped as ConnectionError).host).toBe('h:1');
    }
  });

  it('refused port (ECONNREFUSED) -> retryable ConnectionError, also outside connect', async () => {
    const port = await closedPort();
    const native = await connectError({ host: '127.0.0.1', port });
    expect((native as { code?: string }).code).toBe('ECONNREFUSED');
    for (const connecting of [true, false]) {
      const mapped = mapPostgresError(native, { alias: 'maptest', connecting });
      expect(mapped).toBeInstanceOf(ConnectionError);
      expect(mapped.retryable).toBe(true);
      expect(mapped.cause).toBe(native);
    }
  });

  it("'Connection terminated unexpectedly' -> retryable ConnectionError", async () => {
    const closing = await localServer((socket) => socket.destroy());
    try {
      const native = await connectError({ host: '127.0.0.1', port: closing.port });
      expect((native as Error).message).toBe('Connection terminated unexpectedly');
      const mapped = mapPostgresError(native, { alias: 'maptest' });
      expect(mapped).toBeInstanceOf(ConnectionError);
      expect(mapped.retryable).toBe(true);
    } finally {
      await closing.close();
    }
  });
});

describe('mapPostgresError passthrough and fallbacks', () => {
  it('passes a DalError through untouched', () => {
    const error = new ConnectionError('already mapped');
    expect(mapPostgresError(error, { alias: 'maptest' })).toBe(error);
    expect(postgresDialect.mapError(error, { alias: 'maptest' })).toBe(error);
  });

  it('wraps anything else in a QueryError keeping the cause', () => {
    const native = new TypeError('something odd');
    const mapped = mapPostgresError(native, { alias: 'maptest', sql: 'SELECT 1' });
    expect(mapped.constructor).toBe(QueryError);
    expect(mapped.cause).toBe(native);
    expect((mapped as QueryError).sql).toBe('SELECT 1');
    expect(mapped.message).toBe('maptest: something odd');
  });
});
