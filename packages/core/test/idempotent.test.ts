import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionError, QueryTimeoutError } from '../src/index.js';
import type { TestConnection } from '../src/testing/index.js';
import { closeAllPools, settle, testDatabase } from './support/test-database.js';

// `idempotent: true` re-runs a statement once on a fresh connection when its session broke before
// answering, within the same timeout, and never inside an explicit transaction.
describe('connection: idempotent statements', () => {
  afterEach(closeAllPools);

  /** A read whose first run loses its session; later runs answer. */
  function flakyRead(t: ReturnType<typeof testDatabase>): TestConnection[] {
    const ranOn: TestConnection[] = [];
    t.driver.script('SELECT "balance" FROM "accounts"', (_params, connection) => {
      ranOn.push(connection);
      if (ranOn.length === 1) connection.break();
      return [{ balance: 100 }];
    });
    return ranOn;
  }

  it('db.execute re-runs it once on a fresh connection', async () => {
    const t = testDatabase();
    const ranOn = flakyRead(t);
    await expect(t.db.execute('SELECT [balance] FROM [accounts]', [], { idempotent: true })).resolves.toEqual([{ balance: 100 }]);
    expect(ranOn).toHaveLength(2);
    expect(ranOn[0]).not.toBe(ranOn[1]);
    expect(ranOn[0]!.broken).toBe(true);
  });

  it('conn.executeFirst re-runs it too, and the Connection goes on with the fresh session', async () => {
    const t = testDatabase();
    const ranOn = flakyRead(t);
    await t.db.withConnection(async (conn) => {
      await expect(conn.executeFirst('SELECT [balance] FROM [accounts]', [], { idempotent: true })).resolves.toEqual({ balance: 100 });
      await expect(conn.execute('SELECT 5')).resolves.toEqual([{ value: 5 }]);
    });
    expect(ranOn[1]!.statements).toEqual(['SELECT "balance" FROM "accounts"', 'SELECT 5']);
  });

  it('without idempotent the caller gets the ConnectionError and nothing runs twice', async () => {
    const t = testDatabase();
    const ranOn = flakyRead(t);
    const { error } = await settle(t.db.execute('SELECT [balance] FROM [accounts]'));
    expect(error).toBeInstanceOf(ConnectionError);
    expect(ranOn).toHaveLength(1);
  });

  it('inside a transaction it is never re-run: the transaction died with the session', async () => {
    const t = testDatabase();
    const ranOn = flakyRead(t);
    const { error } = await settle(
      t.db.withConnection((conn) => conn.transaction((tx) => tx.execute('SELECT [balance] FROM [accounts]', [], { idempotent: true }))),
    );
    expect(error).toBeInstanceOf(ConnectionError);
    expect(ranOn).toHaveLength(1);
  });

  it('it is re-run once only: a second broken session is the caller’s error', async () => {
    const t = testDatabase();
    let runs = 0;
    t.driver.script('SELECT "x" FROM "t"', (_params, connection) => {
      runs++;
      connection.break();
      return [];
    });
    await expect(t.db.execute('SELECT [x] FROM [t]', [], { idempotent: true })).rejects.toBeInstanceOf(ConnectionError);
    expect(runs).toBe(2);
  });

  it('the re-run gets what is left of the first run’s timeout', async () => {
    const t = testDatabase();
    const call = settle(t.db.execute('SLEEP 5000', [], { idempotent: true, timeoutMs: 2_000 }));
    await expect.poll(() => t.driver.connections[0]?.running).toBe('SLEEP 5000');
    t.driver.connections[0]!.break();
    const { error } = await call;
    expect(error).toBeInstanceOf(QueryTimeoutError);
    const budget = (error as QueryTimeoutError).timeoutMs;
    expect(budget).toBeGreaterThan(0);
    expect(budget).toBeLessThan(2_000);
    expect(t.driver.connections.map((c) => c.statements)).toEqual([['SLEEP 5000'], ['SLEEP 5000']]);
  }, 15_000);

  it('a statement that timed out is not re-run (its session did not break)', async () => {
    const t = testDatabase();
    const { error } = await settle(t.db.execute('HANG', [], { idempotent: true, timeoutMs: 100 }));
    expect(error).toBeInstanceOf(QueryTimeoutError);
    expect(t.driver.connections.flatMap((c) => c.statements)).toEqual(['HANG']);
  });
});
