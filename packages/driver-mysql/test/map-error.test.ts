import {
  CheckViolationError,
  ConnectionError,
  DeadlockError,
  ForeignKeyViolationError,
  NotNullViolationError,
  PoolClosedError,
  QueryError,
  UniqueViolationError,
} from '@dal/core';
import { createConnection, type Connection } from 'mysql2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mapMysqlError } from '../src/map-error.js';
import { mysqlDialect } from '../src/mysql-dialect.js';
import { closedPort, MYSQL_URL, rawConnection, rawQuery, rejectionOf } from './helpers.js';

const P = 'driver_mysql_err';
const ctx = { alias: 'main' };

let a: Connection;
let b: Connection;
let isMariaDb = false;

/** Run SQL on a raw mysql2 connection and return the native error it raises. */
async function nativeError(conn: Connection, sql: string, values: unknown[] = []): Promise<Record<string, unknown>> {
  return (await rejectionOf(rawQuery(conn, sql, values))) as Record<string, unknown>;
}

beforeAll(async () => {
  a = await rawConnection();
  b = await rawConnection();
  const [row] = await rawQuery<{ v: string }[]>(a, 'SELECT VERSION() AS v');
  isMariaDb = /mariadb/i.test(row?.v ?? '');
  await rawQuery(a, `DROP TABLE IF EXISTS ${P}_child, ${P}_parent, ${P}_lock`);
  await rawQuery(a, `CREATE TABLE ${P}_parent (id INT PRIMARY KEY, email VARCHAR(100) NOT NULL, qty INT NOT NULL DEFAULT 0,
    nodefault VARCHAR(10) NOT NULL, CONSTRAINT ${P}_email_uq UNIQUE (email), CONSTRAINT ${P}_qty_ck CHECK (qty >= 0)) ENGINE=InnoDB`);
  await rawQuery(a, `CREATE TABLE ${P}_child (id INT PRIMARY KEY, parent_id INT,
    CONSTRAINT ${P}_fk FOREIGN KEY (parent_id) REFERENCES ${P}_parent (id)) ENGINE=InnoDB`);
  await rawQuery(a, `CREATE TABLE ${P}_lock (id INT PRIMARY KEY, v INT) ENGINE=InnoDB`);
  await rawQuery(a, `INSERT INTO ${P}_parent (id, email, nodefault) VALUES (1, 'taken@example.com', 'x')`);
  await rawQuery(a, `INSERT INTO ${P}_child VALUES (1, 1)`);
  await rawQuery(a, `INSERT INTO ${P}_lock VALUES (1, 0), (2, 0)`);
});

afterAll(async () => {
  await rawQuery(a, `DROP TABLE IF EXISTS ${P}_child, ${P}_parent, ${P}_lock`);
  a.end();
  b.destroy();
});

describe('mapMysqlError on real server errors', () => {
  it('1062 duplicate entry -> UniqueViolationError with the key name and the value redacted', async () => {
    const sql = `INSERT INTO ${P}_parent (id, email, nodefault) VALUES (?, ?, 'x')`;
    const native = await nativeError(a, sql, [2, 'taken@example.com']);
    const error = mapMysqlError(native, { alias: 'main', sql });
    expect(error).toBeInstanceOf(UniqueViolationError);
    const unique = error as UniqueViolationError;
    expect(unique.vendorCode).toBe('1062');
    expect(unique.sqlState).toBe('23000');
    expect(unique.constraint).toBe(`${P}_email_uq`);
    expect(unique.sql).toBe(sql);
    expect(unique.cause).toBe(native);
    expect(unique.retryable).toBe(false);
    expect(unique.message.startsWith('main: Duplicate entry')).toBe(true);
    expect(unique.message).not.toContain('taken@example.com');
    expect(unique.message).toContain(`${P}_email_uq`);
  });

  it('1062 on the primary key names PRIMARY', async () => {
    const error = mapMysqlError(await nativeError(a, `INSERT INTO ${P}_parent (id, email, nodefault) VALUES (1, 'other', 'x')`), ctx);
    expect(error).toBeInstanceOf(UniqueViolationError);
    expect((error as UniqueViolationError).constraint).toBe('PRIMARY');
  });

  it('1452 missing parent -> ForeignKeyViolationError with constraint, table and column', async () => {
    const error = mapMysqlError(await nativeError(a, `INSERT INTO ${P}_child VALUES (2, 999)`), ctx);
    expect(error).toBeInstanceOf(ForeignKeyViolationError);
    const fk = error as ForeignKeyViolationError;
    expect(fk.vendorCode).toBe('1452');
    expect(fk.constraint).toBe(`${P}_fk`);
    expect(fk.table).toBe(`${P}_child`);
    expect(fk.column).toBe('parent_id');
  });

  it('1451 parent still referenced -> ForeignKeyViolationError', async () => {
    const error = mapMysqlError(await nativeError(a, `DELETE FROM ${P}_parent WHERE id = 1`), ctx);
    expect(error).toBeInstanceOf(ForeignKeyViolationError);
    expect((error as ForeignKeyViolationError).vendorCode).toBe('1451');
    expect((error as ForeignKeyViolationError).constraint).toBe(`${P}_fk`);
  });

  it('1048 NULL into a NOT NULL column -> NotNullViolationError with the column', async () => {
    const error = mapMysqlError(await nativeError(a, `INSERT INTO ${P}_parent (id, email, nodefault) VALUES (3, NULL, 'x')`), ctx);
    expect(error).toBeInstanceOf(NotNullViolationError);
    expect((error as NotNullViolationError).vendorCode).toBe('1048');
    expect((error as NotNullViolationError).column).toBe('email');
  });

  it('1364 NOT NULL column without a value (strict mode) -> NotNullViolationError', async () => {
    const error = mapMysqlError(await nativeError(a, `INSERT INTO ${P}_parent (id, email) VALUES (4, 'n@x')`), ctx);
    expect(error).toBeInstanceOf(NotNullViolationError);
    expect((error as NotNullViolationError).vendorCode).toBe('1364');
    expect((error as NotNullViolationError).column).toBe('nodefault');
  });

  it('check constraint (4025 MariaDB / 3819 MySQL) -> CheckViolationError with the constraint', async () => {
    const error = mapMysqlError(await nativeError(a, `INSERT INTO ${P}_parent (id, email, qty, nodefault) VALUES (5, 'c@x', -1, 'x')`), ctx);
    expect(error).toBeInstanceOf(CheckViolationError);
    expect((error as CheckViolationError).vendorCode).toBe(isMariaDb ? '4025' : '3819');
    expect((error as CheckViolationError).constraint).toBe(`${P}_qty_ck`);
  });

  it('1366 bad value: the quoted value is redacted from the message', async () => {
    const error = mapMysqlError(await nativeError(a, `INSERT INTO ${P}_parent (id, email, qty, nodefault) VALUES (6, 'v@x', ?, 'x')`, ['s3cr3t-token']), ctx);
    expect(error).toBeInstanceOf(QueryError);
    expect((error as QueryError).vendorCode).toBe('1366');
    expect(error.message).not.toContain('s3cr3t-token');
    expect(error.message).toContain('qty');
  });

  it('1213 deadlock between two connections -> retryable DeadlockError', async () => {
    await rawQuery(a, 'START TRANSACTION');
    await rawQuery(b, 'START TRANSACTION');
    await rawQuery(a, `UPDATE ${P}_lock SET v = v + 1 WHERE id = 1`);
    await rawQuery(b, `UPDATE ${P}_lock SET v = v + 1 WHERE id = 2`);
    const first = rawQuery(a, `UPDATE ${P}_lock SET v = v + 1 WHERE id = 2`).then(() => undefined, (e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = rawQuery(b, `UPDATE ${P}_lock SET v = v + 1 WHERE id = 1`).then(() => undefined, (e: unknown) => e);
    const outcomes = await Promise.all([first, second]);
    await rawQuery(a, 'ROLLBACK');
    await rawQuery(b, 'ROLLBACK');
    const native = outcomes.find((e) => e !== undefined);
    const error = mapMysqlError(native, ctx);
    expect(error).toBeInstanceOf(DeadlockError);
    expect((error as DeadlockError).vendorCode).toBe('1213');
    expect((error as DeadlockError).sqlState).toBe('40001');
    expect(error.retryable).toBe(true);
  }, 10_000);

  it('1205 lock wait timeout -> retryable QueryError', async () => {
    await rawQuery(a, 'START TRANSACTION');
    await rawQuery(a, `UPDATE ${P}_lock SET v = v + 1 WHERE id = 1`);
    await rawQuery(b, 'SET SESSION innodb_lock_wait_timeout = 1');
    const native = await nativeError(b, `UPDATE ${P}_lock SET v = v + 1 WHERE id = 1`);
    await rawQuery(a, 'ROLLBACK');
    const error = mapMysqlError(native, ctx);
    expect(error.constructor).toBe(QueryError);
    expect((error as QueryError).vendorCode).toBe('1205');
    expect(error.retryable).toBe(true);
  }, 10_000);

  it('1317 KILL QUERY -> plain QueryError with the vendor code (core decides timeout vs abort)', async () => {
    const [{ id } = { id: 0 }] = await rawQuery<{ id: number }[]>(b, 'SELECT CONNECTION_ID() AS id');
    const running = nativeError(b, 'SELECT SLEEP(5)');
    await new Promise((resolve) => setTimeout(resolve, 100));
    await rawQuery(a, `KILL QUERY ${id}`);
    const error = mapMysqlError(await running, ctx);
    expect(error.constructor).toBe(QueryError);
    expect((error as QueryError).vendorCode).toBe('1317');
    expect(error.retryable).toBe(false);
  }, 10_000);

  it('1064 syntax error -> QueryError', async () => {
    const error = mapMysqlError(await nativeError(a, 'SELEC 1'), ctx);
    expect(error.constructor).toBe(QueryError);
    expect((error as QueryError).vendorCode).toBe('1064');
    expect((error as QueryError).sqlState).toBe('42000');
    expect((error as QueryError).dialect).toBe('mysql');
  });

  it('a session killed by the server -> retryable ConnectionError', async () => {
    const victim = await rawConnection();
    const [{ id } = { id: 0 }] = await rawQuery<{ id: number }[]>(victim, 'SELECT CONNECTION_ID() AS id');
    const running = nativeError(victim, 'SELECT SLEEP(5)');
    await new Promise((resolve) => setTimeout(resolve, 100));
    await rawQuery(a, `KILL ${id}`);
    const lost = mapMysqlError(await running, ctx);
    expect(lost).toBeInstanceOf(ConnectionError);
    expect(lost.retryable).toBe(true);
    // The next command on the dead connection fails too, with mysql2's "closed state" error.
    const closed = mapMysqlError(await nativeError(victim, 'SELECT 1'), ctx);
    expect(closed).toBeInstanceOf(ConnectionError);
    expect(closed.retryable).toBe(true);
  }, 10_000);
});

describe('mapMysqlError on real connection failures', () => {
  function connectError(options: Record<string, unknown>): Promise<unknown> {
    const url = new URL(MYSQL_URL);
    const conn = createConnection({ host: url.hostname, port: Number(url.port || 3306), user: decodeURIComponent(url.username), ...options });
    conn.on('error', () => {});
    return new Promise((resolve) => conn.connect((error) => {
      conn.destroy();
      resolve(error);
    }));
  }

  it('ECONNREFUSED -> retryable ConnectionError naming the host', async () => {
    const port = await closedPort();
    const native = await connectError({ host: '127.0.0.1', port });
    const error = mapMysqlError(native, { alias: 'main', host: `127.0.0.1:${port}`, connecting: true });
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.retryable).toBe(true);
    expect((error as ConnectionError).host).toBe(`127.0.0.1:${port}`);
    expect(error.message).toMatch(new RegExp(`^main: cannot connect \\(127\\.0\\.0\\.1:${port}\\): `));
  });

  it('1045 access denied -> non-retryable ConnectionError, in and out of the connect phase', async () => {
    const native = await connectError({ password: 'wrong-Secret-1', database: 'test' });
    expect((native as { errno?: number }).errno).toBe(1045);
    for (const connecting of [true, false]) {
      const error = mapMysqlError(native, { alias: 'main', connecting });
      expect(error).toBeInstanceOf(ConnectionError);
      expect(error.retryable).toBe(false);
      expect(error.message).not.toContain('wrong-Secret-1');
    }
  });

  it('1049 unknown database while connecting -> non-retryable ConnectionError', async () => {
    const native = await connectError({ database: 'driver_mysql_err_nodb' });
    expect((native as { errno?: number }).errno).toBe(1049);
    const error = mapMysqlError(native, { alias: 'main', connecting: true });
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.retryable).toBe(false);
  });
});

describe('mapMysqlError on errors the test server cannot produce on demand', () => {
  // Native shape as mysql2 builds it for a server error packet.
  const serverError = (errno: number, message: string, code = 'ER_X', sqlState = 'HY000') =>
    Object.assign(new Error(message), { errno, code, sqlState, sqlMessage: message });

  it.each([
    [1927, 'Connection was killed', true],
    [1053, 'Server shutdown in progress', true],
    [2013, 'Lost connection to server during query', true],
    [2006, 'Server has gone away', true],
    [1040, 'Too many connections', true],
  ])('%i -> ConnectionError (retryable %s)', (errno, message, retryable) => {
    const error = mapMysqlError(serverError(errno, message), ctx);
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.retryable).toBe(retryable);
  });

  it.each([
    ['ECONNRESET'],
    ['ETIMEDOUT'],
    ['EPIPE'],
    ['PROTOCOL_CONNECTION_LOST'],
  ])('%s -> retryable ConnectionError', (code) => {
    const error = mapMysqlError(Object.assign(new Error(`socket ${code}`), { code }), ctx);
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.retryable).toBe(true);
  });

  it('3819 MySQL check constraint names the constraint', () => {
    const error = mapMysqlError(serverError(3819, "Check constraint 'qty_ck' is violated.", 'ER_CHECK_CONSTRAINT_VIOLATED'), ctx);
    expect(error).toBeInstanceOf(CheckViolationError);
    expect((error as CheckViolationError).constraint).toBe('qty_ck');
  });

  it("MySQL 8 'table.key' duplicate key names are split into table and constraint", () => {
    const error = mapMysqlError(serverError(1062, "Duplicate entry 'a' for key 'users.email_uq'", 'ER_DUP_ENTRY', '23000'), ctx);
    expect((error as UniqueViolationError).table).toBe('users');
    expect((error as UniqueViolationError).constraint).toBe('email_uq');
    expect(error.message).toBe("main: Duplicate entry '***' for key 'users.email_uq'");
  });

  it('passes DalErrors through and wraps non-errors', () => {
    const own = new PoolClosedError('closed');
    expect(mapMysqlError(own, ctx)).toBe(own);
    const odd = mapMysqlError('weird', ctx);
    expect(odd).toBeInstanceOf(QueryError);
    expect(odd.message).toBe('main: weird');
  });

  it('is what the dialect uses', () => {
    const error = mysqlDialect.mapError(serverError(1213, 'Deadlock found', 'ER_LOCK_DEADLOCK', '40001'), { alias: 'x', sql: 'UPDATE t' });
    expect(error).toBeInstanceOf(DeadlockError);
    expect((error as DeadlockError).sql).toBe('UPDATE t');
  });
});

describe('mysqlDialect', () => {
  it('quotes identifiers with doubled backticks', () => {
    expect(mysqlDialect.quoteIdentifier('a`b c')).toBe('`a``b c`');
    expect(mysqlDialect.name).toBe('mysql');
    expect(mysqlDialect.translateTarget).toBe('mysql');
  });

  it('starts transactions, with the isolation level set first', () => {
    expect(mysqlDialect.beginTransactionSql()).toEqual(['START TRANSACTION']);
    expect(mysqlDialect.beginTransactionSql('read committed')).toEqual(['SET TRANSACTION ISOLATION LEVEL READ COMMITTED', 'START TRANSACTION']);
    expect(() => mysqlDialect.beginTransactionSql('chaos' as never)).toThrow(/isolation level/);
    expect(mysqlDialect.savepointSql('s1')).toBe('SAVEPOINT `s1`');
    expect(mysqlDialect.releaseSavepointSql!('s1')).toBe('RELEASE SAVEPOINT `s1`');
    expect(mysqlDialect.rollbackToSavepointSql('s1')).toBe('ROLLBACK TO SAVEPOINT `s1`');
  });
});

