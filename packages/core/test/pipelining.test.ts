import { afterEach, describe, expect, it } from 'vitest';
import { PoolClosedError, QueryTimeoutError } from '../src/index.js';
import { closeAllPools, testDatabase } from './support/test-database.js';

// Issue #16, engine-neutral: how core shares connections between pipelined pool shortcuts, on the
// test driver in pipelining mode (its connections flag `execute` on a shared connection).
describe('pipelining: the pool shortcuts on shared connections', () => {
  afterEach(closeAllPools);

  /** A pipelining test database with `size` connections open and idle. */
  async function warmed(size: number, options: Parameters<typeof testDatabase>[0] = {}) {
    const test = testDatabase({ poolMin: size, poolMax: size, ...options }, { pipelining: true });
    await Promise.all(Array.from({ length: size }, () => test.db.withConnection((c) => c.execute('SLEEP 5'))));
    expect(test.status().sizes.size).toBe(size);
    return test;
  }

  it('spreads statements over the connections with the fewest in flight, without waiting for one', async () => {
    const { db, driver, status } = await warmed(3);
    const calls = Array.from({ length: 9 }, () => db.execute('SLEEP 30'));
    expect(status().sizes.pending).toBe(0);
    expect(driver.connections.map((c) => c.pipelined)).toEqual([3, 3, 3]);
    await Promise.all(calls);
    expect(status().sizes.inUse).toBe(0);
    expect(driver.violations).toEqual([]);
  });

  it('keeps transactions and held connections exclusive while shortcuts pipeline around them', async () => {
    const { db, driver } = await warmed(2);
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      work.push(db.execute('SLEEP 2'));
      if (i % 4 === 0) work.push(db.withConnection((c) => c.transaction(async (tx) => tx.execute('SLEEP 3'))));
    }
    await Promise.all(work);
    expect(driver.violations).toEqual([]);
  });

  it('serves a caller waiting for a connection of its own although shortcuts keep arriving', async () => {
    const { db, driver } = await warmed(1);
    let stop = false;
    const traffic = Array.from({ length: 4 }, async () => {
      while (!stop) await db.execute('SLEEP 10');
    });
    await new Promise((resolve) => setTimeout(resolve, 30));
    const started = performance.now();
    await db.withConnection((c) => c.execute('SELECT 1'));
    const waitedMs = performance.now() - started;
    stop = true;
    await Promise.all(traffic);
    // The shortcuts stop joining the shared connection once someone queues, so it drains and goes to them.
    expect(waitedMs).toBeLessThan(500);
    expect(driver.violations).toEqual([]);
  });

  it('times out only the statement past its timeout; the connection goes back once its last statement settled', async () => {
    const { db, driver, status } = await warmed(1);
    const results = await Promise.allSettled([db.execute('SLEEP 40'), db.execute('HANG', [], { timeoutMs: 60 }), db.execute('SELECT 7')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(QueryTimeoutError);
    expect((results[2] as PromiseFulfilledResult<unknown>).value).toEqual([{ value: 7 }]);
    await expect.poll(() => status().sizes.inUse).toBe(0);
    expect(driver.stats.cancels).toBe(1);
  });

  it('a broken shared connection fails its statements and is not used again', async () => {
    const { db, driver } = await warmed(1);
    const results = await Promise.allSettled([db.execute('SLEEP 20'), db.execute('BREAK'), db.execute('SLEEP 20')]);
    expect(results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as Error).name))).toEqual(['ok', 'ConnectionError', 'ConnectionError']);
    expect(await db.execute('SELECT 2')).toEqual([{ value: 2 }]);
    expect(driver.connections[0]!.open).toBe(false);
  });

  it('closing the pool settles every statement in flight with its result or PoolClosedError', async () => {
    const { db } = await warmed(1);
    const inFlight = [db.execute('SELECT 1'), db.execute('HANG NOCANCEL'), db.execute('SLEEP 10')];
    const closing = db.close({ timeoutMs: 50 });
    const results = await Promise.allSettled(inFlight);
    await closing;
    expect(results[0]).toEqual({ status: 'fulfilled', value: [{ value: 1 }] });
    expect(results.slice(1).map((r) => r.status === 'rejected' && r.reason instanceof PoolClosedError)).toEqual([true, true]);
  });

  it('pipelining: false keeps one statement per connection', async () => {
    const { db, driver, status } = await warmed(1, { pipelining: false });
    const calls = [db.execute('SLEEP 20'), db.execute('SLEEP 20')];
    expect(status().sizes.pending).toBe(1);
    expect(driver.connections[0]!.pipelined).toBe(0);
    await Promise.all(calls);
  });
});
