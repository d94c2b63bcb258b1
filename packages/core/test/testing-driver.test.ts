import { describe, expect, it } from 'vitest';
import { ConnectionError, DatabaseConfig, DeadlockError, QueryError } from '../src/index.js';
import { TestDriver, TestDriverError, type TestConnection } from '../src/testing/index.js';

// The test driver itself (`@dal/core/testing`) does what its README section promises.
describe('@dal/core/testing: TestDriver', () => {
  const config = new DatabaseConfig({ database: 'driver-self-test', host: 'db1', user: 'app' });
  const open = async (driver = new TestDriver()) => (await driver.connect(config, { signal: new AbortController().signal })) as TestConnection;
  const object = { rowMode: 'object', timeoutMs: 1_000 } as const;

  it('answers literals, echoes, scripted tables and scripted statements, in either row mode', async () => {
    const driver = new TestDriver();
    driver.tables.set('users', [{ id: 1, name: 'Ada' }, { id: 2, name: 'Grace' }]);
    driver.script('INSERT INTO "users" VALUES (?)', { affectedRows: 1, insertId: 3 });
    const conn = await open(driver);
    expect((await conn.execute('SELECT 42', [], object)).rows).toEqual([{ value: 42 }]);
    expect((await conn.execute('SELECT ?', ['x'], object)).rows).toEqual([{ value: 'x' }]);
    expect((await conn.execute('SELECT * FROM "users"', [], { ...object, rowMode: 'array' })).rows).toEqual([[1, 'Ada'], [2, 'Grace']]);
    expect((await conn.execute('SELECT * FROM users', [], { ...object, firstRow: true })).rows).toEqual([{ id: 1, name: 'Ada' }]);
    expect(await conn.execute('INSERT INTO "users" VALUES (?)', [3], object)).toEqual({ rows: [], affectedRows: 1, insertId: 3 });
    expect(driver.stats).toMatchObject({ connectAttempts: 1, opened: 1, statements: 5 });
  });

  it('fails statements the way a server does, through its dialect', async () => {
    const driver = new TestDriver();
    const conn = await open(driver);
    const failure = await conn.execute('FAIL', [], object).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(TestDriverError);
    expect(driver.dialect.mapError(failure, { alias: 'a', sql: 'FAIL' })).toBeInstanceOf(QueryError);
    const deadlock = await conn.execute('DEADLOCK', [], object).catch((e: unknown) => e);
    expect(driver.dialect.mapError(deadlock, { alias: 'a' })).toBeInstanceOf(DeadlockError);
    const unknown = await conn.execute('VACUUM', [], object).catch((e: unknown) => e);
    expect((unknown as Error).message).toContain('does not know this statement');
  });

  it('HANG stops on cancel (after cancelLatencyMs), HANG NOCANCEL only on destroy, BREAK kills the session', async () => {
    const driver = new TestDriver();
    const conn = await open(driver);
    const hang = conn.execute('HANG', [], object).catch((e: TestDriverError) => e.code);
    expect(conn.running).toBe('HANG');
    await conn.cancel();
    expect(await hang).toBe('ECANCELED');
    const stubborn = conn.execute('HANG NOCANCEL', [], object).catch((e: TestDriverError) => e.code);
    await conn.cancel();
    expect(conn.running).toBe('HANG NOCANCEL');
    conn.destroy();
    expect(await stubborn).toBe('ECONNRESET');
    expect(driver.stats).toMatchObject({ cancels: 2, destroyed: 1 });
    const other = await open(driver);
    await expect(other.execute('BREAK', [], object)).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(other.broken).toBe(true);
    await expect(other.ping({ signal: AbortSignal.timeout(100) })).rejects.toMatchObject({ code: 'ECONNRESET' });
  });

  it('records a breach of the contract: two statements at once on one connection', async () => {
    const driver = new TestDriver();
    const conn = await open(driver);
    void conn.execute('SLEEP 50', [], object);
    await expect(conn.execute('SELECT 1', [], object)).rejects.toThrow(/one statement at a time/);
    expect(driver.violations).toHaveLength(1);
  });

  it('failConnect: refused and auth are ConnectionErrors (auth not retryable), per host; hang ends with the signal', async () => {
    const driver = new TestDriver();
    driver.failConnect('refused', { host: 'db1' });
    const refused = await open(driver).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConnectionError);
    expect(refused).toMatchObject({ retryable: true });
    await expect(driver.connect(config.with({ host: 'db2' }), { signal: AbortSignal.timeout(1_000) })).resolves.toBeDefined();
    driver.failConnect('auth');
    driver.failConnect(false, { host: 'db1' });
    await expect(open(driver)).rejects.toMatchObject({ code: 'DAL_CONNECTION', retryable: false });
    driver.failConnect('hang');
    const controller = new AbortController();
    const hanging = driver.connect(config, { signal: controller.signal }).catch((e: unknown) => e);
    controller.abort(new Error('gave up'));
    expect(await hanging).toMatchObject({ message: 'gave up' });
    expect(driver.stats).toMatchObject({ connectAttempts: 4, opened: 1 });
  });

  it('executeNow mode runs what answers at once synchronously and says "must wait" for the rest', async () => {
    const driver = new TestDriver({ executeNow: true });
    const conn = await open(driver);
    expect(conn.executeNow!('SELECT 1', [], object)).toEqual({ rows: [{ value: 1 }], affectedRows: 0 });
    expect(conn.executeNow!('SLEEP 10', [], object)).toBeUndefined();
    expect(() => conn.executeNow!('FAIL', [], object)).toThrow(TestDriverError);
    expect(driver.stats.statementsNow).toBe(2);
    expect((await open(new TestDriver())).executeNow).toBeUndefined();
  });
});
