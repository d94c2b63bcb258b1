import { afterEach, describe, expect, it } from 'vitest';
import { closeAllPools, testDatabase } from './support/test-database.js';

// Callers that find every connection busy are served in the order they asked.
describe('pool: FIFO waiters', () => {
  afterEach(closeAllPools);

  it('hands a released connection to the callers in the order they started waiting', async () => {
    const { db, driver, status } = testDatabase({ poolMax: 1 });
    const held = await db.connection();
    const served: number[] = [];
    const calls = Array.from({ length: 6 }, (_, i) => db.execute<{ value: number }>('SELECT ?', [i]).then((rows) => served.push(rows[0]!.value)));
    await expect.poll(() => status().sizes.pending).toBe(6);
    expect(served).toEqual([]);
    await held.release();
    await Promise.all(calls);
    expect(served).toEqual([0, 1, 2, 3, 4, 5]);
    expect(driver.stats.opened).toBe(1);
    expect(driver.violations).toEqual([]);
  });

  it('serves waiters of db.connection() in order, one at a time, as each one releases', async () => {
    const { db, status } = testDatabase({ poolMax: 2 });
    const first = await db.connection();
    const second = await db.connection();
    const order: string[] = [];
    const waiters = ['a', 'b', 'c', 'd'].map((name) =>
      db.connection().then(async (conn) => {
        order.push(name);
        return conn;
      }),
    );
    await expect.poll(() => status().sizes.pending).toBe(4);
    await first.release();
    const a = await waiters[0]!;
    expect(order).toEqual(['a']);
    await second.release();
    const b = await waiters[1]!;
    expect(order).toEqual(['a', 'b']);
    await a.release();
    await b.release();
    await Promise.all(waiters.slice(2)).then((rest) => Promise.all(rest.map((c) => c.release())));
    expect(order).toEqual(['a', 'b', 'c', 'd']);
    expect(status().sizes).toMatchObject({ size: 2, inUse: 0, pending: 0 });
  });

  it('a waiter that gives up leaves the queue; the ones behind it keep their order', async () => {
    const { db, status } = testDatabase({ poolMax: 1 });
    const held = await db.connection();
    const served: number[] = [];
    const giveUp = new AbortController();
    const calls = [0, 1, 2, 3].map((i) =>
      db.execute<{ value: number }>('SELECT ?', [i], i === 1 ? { signal: giveUp.signal } : undefined).then(
        (rows) => served.push(rows[0]!.value),
        () => served.push(-1 - i),
      ),
    );
    await expect.poll(() => status().sizes.pending).toBe(4);
    giveUp.abort();
    await expect.poll(() => status().sizes.pending).toBe(3);
    await held.release();
    await Promise.all(calls);
    // -2: the second caller's abort, reported when it happened, before anyone was served.
    expect(served).toEqual([-2, 0, 2, 3]);
  });
});
