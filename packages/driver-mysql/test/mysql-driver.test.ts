import { AbortedError, ConnectionError, QueryError } from '@dal/core';
import type { Connection } from 'mysql2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlDriver } from '../src/mysql-driver.js';
import { mysqlDialect } from '../src/mysql-dialect.js';
import {
  ARRAY_ROWS,
  closedPort,
  Harness,
  OBJECT_ROWS,
  rawConnection,
  rawQuery,
  rejectionOf,
  silentServer,
  testConfig,
  waitFor,
} from './helpers.js';

const T = 'driver_mysql_t';

let harness: Harness;
let observer: Connection;

beforeAll(async () => {
  harness = new Harness();
  observer = await rawConnection();
});

afterAll(async () => {
  await rawQuery(observer, `DROP TABLE IF EXISTS ${T}, ${T}_types, ${T}_tx, ${T}_conc`);
  observer.end();
  await harness.close();
});

async function commandOf(threadId: number | null): Promise<string | undefined> {
  const rows = await rawQuery<{ COMMAND: string }[]>(observer, 'SELECT COMMAND FROM information_schema.PROCESSLIST WHERE ID = ?', [threadId]);
  return rows[0]?.COMMAND;
}

describe('MysqlDriver', () => {
  it('reports its contract version, capabilities and client name', () => {
    const driver = createMysqlDriver();
    expect(driver.specVersion).toBe('v1');
    expect(driver.capabilities).toEqual({ cancel: true, savepoints: true, transactionalDdl: false, returning: false, sync: true, multiRowInsert: true });
    expect(driver.clientName).toMatch(/^mysql2 \d+\.\d+\.\d+/);
    expect(driver.dialect).toBe(mysqlDialect);
  });

  it('rejects an invalid server timeout margin', () => {
    expect(() => createMysqlDriver({ serverTimeoutMarginMs: -1 })).toThrow(RangeError);
  });

  it('connects, reports the server version and sets UTC plus the server-side statement bound', async () => {
    const conn = await harness.connect();
    const version = await conn.serverVersion();
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    expect(version.startsWith('5.5.5-')).toBe(false);
    const { rows } = await conn.execute<Record<string, unknown>>('SELECT @@session.time_zone AS tz, CONNECTION_ID() AS id', [], OBJECT_ROWS);
    expect(rows[0]?.['tz']).toBe('+00:00');
    expect(rows[0]?.['id']).toBe(conn.threadId);
    expect(conn.broken).toBe(false);
    if (/mariadb/i.test(version)) {
      const bound = await conn.execute<{ b: number }>('SELECT @@max_statement_time AS b', [], OBJECT_ROWS);
      expect(bound.rows[0]?.b).toBe((harness.config.queryExecutionTimeoutMs + 1_000) / 1_000);
    }
  });

  it('runs statements: affectedRows, insertId, object and array rows, text and prepared paths', async () => {
    const conn = await harness.connect();
    await conn.execute(`DROP TABLE IF EXISTS ${T}`, [], OBJECT_ROWS);
    await conn.execute(`CREATE TABLE ${T} (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50) NOT NULL)`, [], OBJECT_ROWS);
    const first = await conn.execute(`INSERT INTO ${T} (name) VALUES (?), (?)`, ['a', 'b'], OBJECT_ROWS);
    expect(first.affectedRows).toBe(2);
    expect(first.insertId).toBe(1);
    const third = await conn.execute(`INSERT INTO ${T} (name) VALUES (?)`, ['c'], OBJECT_ROWS);
    expect(third.insertId).toBe(3);
    const updated = await conn.execute(`UPDATE ${T} SET name = ? WHERE id >= ?`, ['z', 2], OBJECT_ROWS);
    expect(updated.affectedRows).toBe(2);
    expect(updated.insertId).toBeUndefined();
    const objects = await conn.execute(`SELECT id, name FROM ${T} WHERE id < ? ORDER BY id`, [3], OBJECT_ROWS);
    expect(objects.rows).toEqual([{ id: 1, name: 'a' }, { id: 2, name: 'z' }]);
    const arrays = await conn.execute(`SELECT id, name FROM ${T} ORDER BY id`, [], ARRAY_ROWS);
    expect(arrays.rows).toEqual([[1, 'a'], [2, 'z'], [3, 'z']]);
    const preparedArrays = await conn.execute(`SELECT id, name FROM ${T} WHERE id = ?`, [3], ARRAY_ROWS);
    expect(preparedArrays.rows).toEqual([[3, 'z']]);
    const deleted = await conn.execute(`DELETE FROM ${T}`, [], OBJECT_ROWS);
    expect(deleted.affectedRows).toBe(3);
  });

  it('round-trips every parameter type through the prepared and the text protocol', async () => {
    const conn = await harness.connect();
    await conn.execute(`DROP TABLE IF EXISTS ${T}_types`, [], OBJECT_ROWS);
    await conn.execute(
      `CREATE TABLE ${T}_types (id INT PRIMARY KEY, s VARCHAR(100), i INT, f DOUBLE, big BIGINT, ubig BIGINT UNSIGNED,
        dec_v DECIMAL(30,10), flag TINYINT(1), ts DATETIME(3), d DATE, n VARCHAR(10), u VARCHAR(10), bin VARBINARY(10), u8 VARBINARY(10), j JSON, arr JSON)`,
      [],
      OBJECT_ROWS,
    );
    const when = new Date('2024-02-29T23:59:58.123Z');
    const params = [
      1, 'héllo 😀 \'quoted\' \\ back', -42, 1.5, 9_223_372_036_854_775_807n, 18_446_744_073_709_551_615n,
      '12345678901234567890.0123456789', true, when, new Date('2024-03-01T00:00:00Z'), null, undefined,
      Buffer.from([0, 1, 2, 255]), new Uint8Array([9, 8, 7]), { a: 1, nested: { b: [true, null] } }, [1, 'two'],
    ];
    const placeholders = params.map(() => '?').join(', ');
    await conn.execute(`INSERT INTO ${T}_types VALUES (${placeholders})`, params, OBJECT_ROWS);
    const expected = {
      id: 1, s: 'héllo 😀 \'quoted\' \\ back', i: -42, f: 1.5, big: 9_223_372_036_854_775_807n, ubig: 18_446_744_073_709_551_615n,
      dec_v: '12345678901234567890.0123456789', flag: 1, ts: when, d: new Date('2024-03-01T00:00:00Z'), n: null, u: null,
      bin: Buffer.from([0, 1, 2, 255]), u8: Buffer.from([9, 8, 7]),
    };
    const prepared = await conn.execute<Record<string, unknown>>(`SELECT * FROM ${T}_types WHERE id = ?`, [1], OBJECT_ROWS);
    const text = await conn.execute<Record<string, unknown>>(`SELECT * FROM ${T}_types WHERE id = 1`, [], OBJECT_ROWS);
    for (const row of [prepared.rows[0], text.rows[0]]) {
      expect(row).toMatchObject(expected);
      // MySQL has a JSON type; MariaDB stores JSON as LONGTEXT (parsed when mysql2 gets its extended metadata).
      const json = typeof row?.['j'] === 'string' ? JSON.parse(row['j'] as string) : row?.['j'];
      expect(json).toEqual({ a: 1, nested: { b: [true, null] } });
      const arr = typeof row?.['arr'] === 'string' ? JSON.parse(row['arr'] as string) : row?.['arr'];
      expect(arr).toEqual([1, 'two']);
    }
    // Safe 64-bit values stay numbers; an exact bigint parameter finds its row.
    const safe = await conn.execute<{ v: unknown }>('SELECT CAST(? AS SIGNED) AS v', [9_007_199_254_740_991n], OBJECT_ROWS);
    expect(safe.rows[0]?.v).toBe(9_007_199_254_740_991);
    const byBig = await conn.execute<{ id: number }>(`SELECT id FROM ${T}_types WHERE big = ?`, [9_223_372_036_854_775_807n], OBJECT_ROWS);
    expect(byBig.rows).toEqual([{ id: 1 }]);
    const byDate = await conn.execute<{ id: number }>(`SELECT id FROM ${T}_types WHERE ts = ?`, [when], OBJECT_ROWS);
    expect(byDate.rows).toEqual([{ id: 1 }]);
    const arrayMode = await conn.execute<unknown[]>(`SELECT big, dec_v FROM ${T}_types WHERE id = ?`, [1], ARRAY_ROWS);
    expect(arrayMode.rows).toEqual([[9_223_372_036_854_775_807n, '12345678901234567890.0123456789']]);
  });

  it('does not touch the caller\'s parameter array', async () => {
    const conn = await harness.connect();
    const params = [undefined, { a: 1 }];
    const { rows } = await conn.execute<unknown[]>('SELECT ? AS a, ? AS b', params, ARRAY_ROWS);
    expect(rows[0]?.[0]).toBeNull();
    expect(params).toEqual([undefined, { a: 1 }]);
  });

  it('runs a statement that cannot be prepared through the text protocol', async () => {
    const conn = await harness.connect();
    if (!/mariadb/i.test(await conn.serverVersion())) return; // EXECUTE IMMEDIATE is MariaDB-only
    const { rows } = await conn.execute<unknown[]>("EXECUTE IMMEDIATE 'SELECT ? AS v' USING ?", [41], ARRAY_ROWS);
    expect(rows).toEqual([[41]]);
  });

  it('maps a server error with its errno and the native SQL', async () => {
    const conn = await harness.connect();
    const error = await rejectionOf(conn.execute('SELECT * FROM driver_mysql_missing WHERE a = ?', ['secret-value'], OBJECT_ROWS));
    expect(error).toBeInstanceOf(QueryError);
    expect((error as QueryError).vendorCode).toBe('1146');
    expect((error as QueryError).sqlState).toBe('42S02');
    expect((error as QueryError).sql).toBe('SELECT * FROM driver_mysql_missing WHERE a = ?');
    expect((error as QueryError).message).not.toContain('secret-value');
    expect((await conn.execute<{ x: number }>('SELECT 1 AS x', [], OBJECT_ROWS)).rows).toEqual([{ x: 1 }]);
  });

  it.each([
    ['SLEEP', 'SELECT SLEEP(10) AS s'],
    ['CPU-bound', 'SELECT COUNT(*) FROM information_schema.COLUMNS a, information_schema.COLUMNS b, information_schema.COLUMNS c'],
  ])('cancel() stops a %s statement on the server and leaves the connection usable', async (_name, sql) => {
    const conn = await harness.connect();
    const running = conn.execute(sql, [], OBJECT_ROWS);
    const outcome = rejectionOf(running);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await commandOf(conn.threadId)).toBe('Query');
    const started = Date.now();
    await conn.cancel();
    const error = await outcome;
    expect(Date.now() - started).toBeLessThan(200);
    expect(error).toBeInstanceOf(QueryError);
    expect((error as QueryError).vendorCode).toBe('1317');
    // The server sends the error before it finishes freeing the statement (a big join's temp data): allow it a moment.
    expect(await waitFor(async () => (await commandOf(conn.threadId)) === 'Sleep', 300)).toBe(true);
    expect(conn.broken).toBe(false);
    expect((await conn.execute<{ one: number }>('SELECT 1 AS one', [], OBJECT_ROWS)).rows).toEqual([{ one: 1 }]);
  }, 10_000);

  it('cancel() on an idle connection is a no-op', async () => {
    const conn = await harness.connect();
    await conn.cancel();
    expect((await conn.execute<{ one: number }>('SELECT ? AS one', [1], OBJECT_ROWS)).rows).toEqual([{ one: 1 }]);
  });

  it('raises the server-side bound for a longer call timeout and never lowers it', async () => {
    const conn = await harness.connect();
    if (!/mariadb/i.test(await conn.serverVersion())) return; // MySQL's max_execution_time is checked the same way below
    const read = async () => (await conn.execute<{ b: number }>('SELECT @@max_statement_time AS b', [], OBJECT_ROWS)).rows[0]?.b;
    expect(await read()).toBe(61);
    await conn.execute('SELECT ? AS x', [1], { rowMode: 'object', timeoutMs: 120_000 });
    expect(await read()).toBe(121);
    await conn.execute('SELECT ? AS x', [1], { rowMode: 'object', timeoutMs: 1_000 });
    expect(await read()).toBe(121);
  });

  it('sets no server-side bound with serverTimeoutMarginMs: false', async () => {
    const local = new Harness(testConfig(), { serverTimeoutMarginMs: false });
    try {
      const conn = await local.connect();
      if (!/mariadb/i.test(await conn.serverVersion())) return;
      await conn.execute('SELECT ? AS x', [1], { rowMode: 'object', timeoutMs: 500_000 });
      const { rows } = await conn.execute<{ b: number }>('SELECT @@max_statement_time AS b', [], OBJECT_ROWS);
      expect(rows[0]?.b).toBe(0);
    } finally {
      await local.close();
    }
  });

  it('the server-side bound stops a statement when nothing else does', async () => {
    const local = new Harness(testConfig({ queryExecutionTimeoutMs: 300 }), { serverTimeoutMarginMs: 0 });
    try {
      const conn = await local.connect();
      const started = Date.now();
      const error = await rejectionOf(conn.execute('SELECT SLEEP(3) AS s', [], { rowMode: 'object', timeoutMs: 300 }));
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(error).toBeInstanceOf(QueryError);
      expect(['1969', '3024']).toContain((error as QueryError).vendorCode);
    } finally {
      await local.close();
    }
  }, 10_000);

  it('aborts connecting to a server that accepts TCP and never answers', async () => {
    const silent = await silentServer();
    try {
      const driver = createMysqlDriver();
      const controller = new AbortController();
      const pending = rejectionOf(driver.connect(testConfig({ host: '127.0.0.1', port: silent.port }), { signal: controller.signal }));
      await waitFor(() => silent.sockets.length > 0, 2_000);
      const started = Date.now();
      controller.abort(new Error('gave up'));
      const error = await pending;
      expect(Date.now() - started).toBeLessThan(100);
      expect(error).toBeInstanceOf(ConnectionError);
      expect((error as Error).message).toContain('mysql_test');
      expect((error as Error).message).toContain(`127.0.0.1:${silent.port}`);
      expect(await waitFor(() => silent.sockets.every((s) => s.destroyed || s.readableEnded), 1_000)).toBe(true);
    } finally {
      for (const socket of silent.sockets) socket.destroy();
      silent.server.close();
    }
  });

  it('rejects at once for a signal that is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await rejectionOf(createMysqlDriver().connect(testConfig(), { signal: controller.signal }));
    expect(error).toBeInstanceOf(ConnectionError);
  });

  it('fails fast with a retryable ConnectionError on a closed port', async () => {
    const port = await closedPort();
    const started = Date.now();
    const error = await rejectionOf(createMysqlDriver().connect(testConfig({ host: '127.0.0.1', port }), { signal: AbortSignal.timeout(5_000) }));
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).retryable).toBe(true);
    expect((error as ConnectionError).host).toBe(`127.0.0.1:${port}`);
    expect((error as Error).message).toContain(`127.0.0.1:${port}`);
  });

  it('a wrong password gives a non-retryable ConnectionError without the password', async () => {
    const error = await rejectionOf(
      createMysqlDriver().connect(testConfig({ password: 'not-the-Pa55word' }), { signal: AbortSignal.timeout(5_000) }),
    );
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).retryable).toBe(false);
    expect((error as Error).message).toMatch(/Access denied/);
    expect((error as Error).message).toContain('mysql_test');
    expect((error as Error).message).not.toContain('not-the-Pa55word');
  });

  it('an unknown database gives a non-retryable ConnectionError', async () => {
    const error = await rejectionOf(
      createMysqlDriver().connect(testConfig({ database: 'driver_mysql_no_such_db' }), { signal: AbortSignal.timeout(5_000) }),
    );
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).retryable).toBe(false);
  });

  it('flags an idle connection killed by the server as broken, without an unhandled error', async () => {
    const conn = await harness.connect();
    await rawQuery(observer, `KILL ${conn.threadId}`);
    expect(await waitFor(() => conn.broken, 3_000)).toBe(true);
    const error = await rejectionOf(conn.execute('SELECT 1', [], OBJECT_ROWS));
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).retryable).toBe(true);
  });

  it('rejects a running statement with ConnectionError when the server kills the session', async () => {
    const conn = await harness.connect();
    const running = rejectionOf(conn.execute('SELECT SLEEP(5)', [], OBJECT_ROWS));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await rawQuery(observer, `KILL ${conn.threadId}`);
    const error = await running;
    expect(error).toBeInstanceOf(ConnectionError);
    expect(conn.broken).toBe(true);
  }, 10_000);

  it('destroy() rejects the running statement at once', async () => {
    const conn = await harness.connect();
    const running = rejectionOf(conn.execute('SELECT SLEEP(5)', [], OBJECT_ROWS));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    conn.destroy();
    const error = await running;
    expect(Date.now() - started).toBeLessThan(100);
    expect(error).toBeInstanceOf(ConnectionError);
    expect(conn.broken).toBe(true);
  });

  it('ping() answers, and rejects with AbortedError for an aborted signal', async () => {
    const conn = await harness.connect();
    await conn.ping({ signal: AbortSignal.timeout(1_000) });
    const controller = new AbortController();
    controller.abort();
    expect(await rejectionOf(conn.ping({ signal: controller.signal }))).toBeInstanceOf(AbortedError);
    await conn.close();
    expect(conn.broken).toBe(true);
    expect(await rejectionOf(conn.ping({ signal: AbortSignal.timeout(1_000) }))).toBeInstanceOf(ConnectionError);
  });

  it('close() ends the session on the server', async () => {
    const conn = await harness.connect();
    const id = conn.threadId;
    await conn.close();
    expect(await waitFor(async () => (await commandOf(id)) === undefined, 2_000)).toBe(true);
  });

  it('runs transactions with isolation levels and savepoints from the dialect', async () => {
    const conn = await harness.connect();
    await conn.execute(`DROP TABLE IF EXISTS ${T}_tx`, [], OBJECT_ROWS);
    await conn.execute(`CREATE TABLE ${T}_tx (id INT PRIMARY KEY) ENGINE=InnoDB`, [], OBJECT_ROWS);
    for (const sql of mysqlDialect.beginTransactionSql('serializable')) await conn.execute(sql, [], OBJECT_ROWS);
    await conn.execute(`INSERT INTO ${T}_tx VALUES (?)`, [1], OBJECT_ROWS);
    const level = await conn.execute<{ l: string }>(
      'SELECT trx_isolation_level AS l FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = CONNECTION_ID()',
      [],
      OBJECT_ROWS,
    );
    expect(level.rows).toEqual([{ l: 'SERIALIZABLE' }]);
    await conn.execute(mysqlDialect.savepointSql('sp 1'), [], OBJECT_ROWS);
    await conn.execute(`INSERT INTO ${T}_tx VALUES (?)`, [2], OBJECT_ROWS);
    await conn.execute(mysqlDialect.rollbackToSavepointSql('sp 1'), [], OBJECT_ROWS);
    await conn.execute(mysqlDialect.releaseSavepointSql!('sp 1'), [], OBJECT_ROWS);
    await conn.execute('COMMIT', [], OBJECT_ROWS);
    const { rows } = await conn.execute(`SELECT id FROM ${T}_tx`, [], ARRAY_ROWS);
    expect(rows).toEqual([[1]]);
  });

  it('keeps results apart on several connections used at once', async () => {
    const conns = await Promise.all([harness.connect(), harness.connect(), harness.connect(), harness.connect()]);
    const results = await Promise.all(
      conns.map(async (conn, c) => {
        const seen: number[] = [];
        for (let i = 0; i < 50; i++) {
          const { rows } = await conn.execute<{ v: number; id: number }>('SELECT ? AS v, CONNECTION_ID() AS id', [c * 1000 + i], OBJECT_ROWS);
          expect(rows[0]?.id).toBe(conn.threadId);
          seen.push(rows[0]?.v ?? -1);
        }
        return seen;
      }),
    );
    results.forEach((seen, c) => expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => c * 1000 + i)));
  });
});
