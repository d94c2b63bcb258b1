import { afterEach, describe, expect, it } from 'vitest';
import { PoolManager, onDalEvent, type DalEvent } from '../src/index.js';
import { closeAllPools, testDatabase } from './support/test-database.js';

// A connection held past leakDetectionThresholdMs is reported once, with where it was acquired.
describe('pool: leak report', () => {
  afterEach(closeAllPools);

  it('checkForLeakedConnections lists held connections with the acquiring stack, and logs each once', async () => {
    const { db, logs } = testDatabase();
    const held = await db.connection(); // acquired here: the stack must name this file
    await new Promise((r) => setTimeout(r, 30));
    const leaks = await PoolManager.checkForLeakedConnections({ thresholdMs: 20 });
    const mine = leaks.filter((l) => l.alias === db.alias);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.heldForMs).toBeGreaterThanOrEqual(20);
    expect(mine[0]!.stack).toContain('pool-leaks.test.ts');
    await PoolManager.checkForLeakedConnections({ thresholdMs: 20 });
    const warnings = logs.filter((l) => l.message.includes('leak threshold'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.data).toMatchObject({ alias: db.alias });
    await held.release();
    const after = await PoolManager.checkForLeakedConnections({ thresholdMs: 0 });
    expect(after.filter((l) => l.alias === db.alias)).toEqual([]);
  });

  it('the background check reports a connection held past leakDetectionThresholdMs, as a log line and an event', async () => {
    const { db, logs, config } = testDatabase({ leakDetectionThresholdMs: 100 });
    const events: DalEvent[] = [];
    const off = onDalEvent((e) => {
      if (e.type === 'leak' && e.hash === config.hash()) events.push(e);
    });
    try {
      const held = await db.connection();
      await expect.poll(() => logs.filter((l) => l.message.includes('leak threshold')).length, { timeout: 5_000 }).toBe(1);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ type: 'leak', alias: db.alias });
      // Reported once, however long it stays held.
      await new Promise((r) => setTimeout(r, 250));
      expect(logs.filter((l) => l.message.includes('leak threshold'))).toHaveLength(1);
      await held.release();
    } finally {
      off();
    }
  });

  it("env 'prod' keeps no acquisition stacks (they cost on every checkout), but still reports the leak", async () => {
    const { db } = testDatabase({ env: 'prod' });
    const held = await db.connection();
    await new Promise((r) => setTimeout(r, 20));
    const leaks = (await PoolManager.checkForLeakedConnections({ thresholdMs: 10 })).filter((l) => l.alias === db.alias);
    expect(leaks).toHaveLength(1);
    expect(leaks[0]!.stack).toBe('');
    await held.release();
  });
});
