import { afterEach, describe, expect, it } from 'vitest';
import { AbortedError, ConnectionError, QueryError, QueryTimeoutError } from '../src/index.js';
import { closeAllPools, settle, sleep, testDatabase } from './support/test-database.js';

// Connections that run statements on the caller's thread (`DriverConnection.executeNow`, SQLite's
// inline mode): the pool's fast path must keep every rule of the async one.
describe('run in place (executeNow connections)', () => {
  afterEach(closeAllPools);

  const inPlace = (options: Parameters<typeof testDatabase>[0] = {}) => testDatabase(options, { executeNow: true });

  it('db.execute / executeFirst / query and conn.execute run on the caller’s thread, and are counted', async () => {
    const { db, driver, status } = inPlace();
    await expect(db.execute('SELECT ?', ['a'])).resolves.toEqual([{ value: 'a' }]);
    await expect(db.executeFirst('SELECT 2')).resolves.toEqual({ value: 2 });
    await expect(db.query('SELECT 3')).resolves.toMatchObject({ rows: [{ value: 3 }], affectedRows: 0 });
    await db.withConnection((conn) => conn.transaction((tx) => tx.execute('SELECT 4')));
    expect(driver.stats.statementsNow).toBe(driver.stats.statements);
    expect(driver.connections[0]!.statements).toEqual(['SELECT ?', 'SELECT 2', 'SELECT 3', 'BEGIN', 'SELECT 4', 'COMMIT']);
    const metrics = status().metrics;
    expect(metrics.queries).toBe(6);
    expect(metrics.acquisitions).toBe(4);
    expect(status().sizes).toMatchObject({ inUse: 0, idle: 1 });
  });

  it('a statement that must wait goes the async way, under its timeout and cancel', async () => {
    const { db, driver } = inPlace();
    const { error } = await settle(db.execute('SLEEP 5000', [], { timeoutMs: 100 }));
    expect(error).toBeInstanceOf(QueryTimeoutError);
    expect(driver.stats.cancels).toBe(1);
    await expect(db.execute('SELECT 1')).resolves.toEqual([{ value: 1 }]);
    expect(driver.violations).toEqual([]);
  });

  it('errors are mapped and counted; the connection is kept after a query error', async () => {
    const { db, driver, status } = inPlace();
    const { error } = await settle(db.execute('FAIL'));
    expect(error).toBeInstanceOf(QueryError);
    expect(error).toMatchObject({ code: 'DAL_QUERY', sql: 'FAIL' });
    expect(status().metrics.queryErrors).toBe(1);
    expect(status().sizes).toMatchObject({ inUse: 0, idle: 1 });
    await db.execute('SELECT 1');
    expect(driver.connections).toHaveLength(1);
  });

  it('a session that breaks in place fails its caller and is replaced for the next one', async () => {
    const { db, driver, status } = inPlace();
    expect((await settle(db.execute('BREAK'))).error).toBeInstanceOf(ConnectionError);
    await expect(db.execute('SELECT 1')).resolves.toEqual([{ value: 1 }]);
    expect(driver.connections).toHaveLength(2);
    expect(driver.connections[0]!.open).toBe(false);
    expect(status().circuit!.state).toBe('closed');
  });

  it('does not jump the queue: with callers waiting, an in-place call waits its turn', async () => {
    const { db } = inPlace({ poolMax: 1 });
    const held = await db.connection();
    const order: string[] = [];
    const first = db.connection().then((conn) => {
      order.push('first');
      return conn;
    });
    const second = db.execute('SELECT 2').then(() => order.push('second'));
    await sleep(20);
    await held.release();
    const conn = await first;
    await sleep(20);
    expect(order).toEqual(['first']);
    await conn.release();
    await second;
    expect(order).toEqual(['first', 'second']);
  });

  it('an aborted signal runs nothing', async () => {
    const { db, driver } = inPlace();
    await db.execute('SELECT 1');
    const before = driver.stats.statements;
    await expect(db.execute('SELECT 1', [], { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortedError);
    expect(driver.stats.statements).toBe(before);
  });

  it('a connection past maxLifetimeMs runs no further statement; it is closed and replaced', async () => {
    const { db, driver } = inPlace({ maxLifetimeMs: 100 });
    await db.execute('SELECT 1');
    await sleep(200);
    await db.execute('SELECT 2');
    expect(driver.connections[0]!.statements).toEqual(['SELECT 1']);
    expect(driver.connections.at(-1)!.statements).toEqual(['SELECT 2']);
    await expect.poll(() => driver.connections[0]!.closed).toBe(true);
  });

  it('a statement that ran past its timeout completes (nothing can interrupt it) and is logged as an overrun', async () => {
    const { db, driver, logs } = inPlace();
    driver.script('SELECT "busy"', () => {
      const until = performance.now() + 30;
      while (performance.now() < until); // keeps the thread 30 ms, as a slow native call would
      return [{ busy: true }];
    });
    await expect(db.execute('SELECT [busy]', [], { timeoutMs: 5 })).resolves.toEqual([{ busy: true }]);
    expect(logs.filter((l) => l.level === 'warn' && l.message.includes('ran past its timeout'))).toHaveLength(1);
    expect(driver.stats.cancels).toBe(0);
  });
});
