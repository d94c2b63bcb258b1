import { AbortedError, PoolClosedError, PoolManager, PoolTimeoutError, TimeoutError, type Connection } from '@dal/core';
import { describe, expect } from 'vitest';
import { conformanceTest as test, eventually } from '../harness.js';
import type { ConformanceTarget } from '../target.js';

/** One pool behaviour for every backend. */
export function poolSuite(target: ConformanceTarget): void {
  describe('pool', () => {
    test(target, 'an exhausted pool rejects with PoolTimeoutError after the acquisition timeout, losing no slot', async () => {
      const db = target.createDatabase({ poolMin: 0, poolMax: 2, connectionAcquisitionTimeoutMs: 200 });
      try {
        const held = [await db.connection(), await db.connection()];
        const started = performance.now();
        const err = await db.connection().catch((e: unknown) => e);
        const waited = performance.now() - started;
        expect(err).toBeInstanceOf(PoolTimeoutError);
        expect(err).toBeInstanceOf(TimeoutError);
        expect((err as PoolTimeoutError).code).toBe('DAL_POOL_TIMEOUT');
        expect((err as PoolTimeoutError).message).toContain(db.config.alias);
        expect(waited).toBeGreaterThanOrEqual(190);
        expect(waited).toBeLessThan(200 + 150);
        await Promise.all(held.map((c) => c.release()));
        const status = PoolManager.getPoolStatus(db.config.hash())!;
        expect(status.sizes.inUse).toBe(0);
        expect(status.metrics.acquisitionTimeouts).toBe(1);
        await db.withConnection((c) => c.execute('SELECT 1'));
      } finally {
        await db.close();
      }
    });

    test(target, 'waiters are served first come, first served', async () => {
      const db = target.createDatabase({ poolMin: 0, poolMax: 1, connectionAcquisitionTimeoutMs: 5_000 });
      try {
        const first = await db.connection();
        const order: number[] = [];
        const waiters = [1, 2, 3].map((n) =>
          db.connection().then(async (c: Connection) => {
            order.push(n);
            await new Promise((r) => setTimeout(r, 5));
            await c.release();
          }),
        );
        await new Promise((r) => setTimeout(r, 20));
        expect(PoolManager.getPoolStatus(db.config.hash())!.sizes.pending).toBe(3);
        await first.release();
        await Promise.all(waiters);
        expect(order).toEqual([1, 2, 3]);
      } finally {
        await db.close();
      }
    });

    test(target, 'an aborted acquisition leaves the queue and rejects with AbortedError', async () => {
      const db = target.createDatabase({ poolMin: 0, poolMax: 1, connectionAcquisitionTimeoutMs: 5_000 });
      try {
        const held = await db.connection();
        const controller = new AbortController();
        const waiting = db.connection({ signal: controller.signal });
        controller.abort(new Error('user went away'));
        await expect(waiting).rejects.toBeInstanceOf(AbortedError);
        expect(PoolManager.getPoolStatus(db.config.hash())!.sizes.pending).toBe(0);
        await held.release();
      } finally {
        await db.close();
      }
    });

    test(target, 'pools are shared per config hash', async () => {
      const a = target.createDatabase({ poolMax: 3 });
      const b = target.createDatabase({ poolMax: 3 });
      try {
        expect(a.config.hash()).toBe(b.config.hash());
        const held = await a.connection();
        expect(PoolManager.getPoolStatus(b.config.hash())!.sizes.inUse).toBe(1);
        await held.release();
      } finally {
        await a.close();
        await b.close();
      }
    });

    test(target, 'idle connections above poolMin are closed after idleTimeoutMs', async () => {
      const db = target.createDatabase({ poolMin: 0, poolMax: 3, idleTimeoutMs: 100 });
      try {
        const held = await Promise.all([db.connection(), db.connection(), db.connection()]);
        await Promise.all(held.map((c) => c.release()));
        expect(PoolManager.getPoolStatus(db.config.hash())!.sizes.size).toBe(3);
        const drained = await eventually(() => PoolManager.getPoolStatus(db.config.hash())!.sizes.size === 0, 2_000);
        expect(drained).toBe(true);
        await db.withConnection((c) => c.execute('SELECT 1'));
      } finally {
        await db.close();
      }
    });

    test(target, 'poolMin connections are opened up front and kept warm through idle eviction', async () => {
      const db = target.createDatabase({ poolMin: 2, poolMax: 4, idleTimeoutMs: 100 });
      try {
        await db.execute('SELECT 1');
        expect(PoolManager.getPoolStatus(db.config.hash())!.sizes.size).toBe(2);
        const held = await Promise.all([db.connection(), db.connection(), db.connection(), db.connection()]);
        await Promise.all(held.map((c) => c.release()));
        expect(PoolManager.getPoolStatus(db.config.hash())!.sizes.size).toBe(4);
        expect(await eventually(() => PoolManager.getPoolStatus(db.config.hash())!.sizes.size === 2, 2_000)).toBe(true);
        // It stays at the minimum rather than draining to zero.
        await new Promise((r) => setTimeout(r, 300));
        expect(PoolManager.getPoolStatus(db.config.hash())!.sizes.size).toBe(2);
      } finally {
        await db.close();
      }
    });

    test(target, 'connections older than maxLifetimeMs are replaced, younger ones reused', async () => {
      const db = target.createDatabase({ poolMin: 0, poolMax: 1, maxLifetimeMs: 400 });
      try {
        const first = await db.withConnection((c) => target.sessionId!(c));
        expect(await db.withConnection((c) => target.sessionId!(c))).toEqual(first);
        await new Promise((r) => setTimeout(r, 500));
        const second = await db.withConnection((c) => target.sessionId!(c));
        expect(second).not.toEqual(first);
        expect(PoolManager.getPoolStatus(db.config.hash())!.metrics.connectionsDestroyed).toBeGreaterThanOrEqual(1);
      } finally {
        await db.close();
      }
    });

    test(target, 'a killed session is discarded, never handed out again', async () => {
      const db = target.createDatabase({ poolMin: 0, poolMax: 1 });
      try {
        const conn = await db.connection();
        const id = await target.sessionId!(conn);
        await conn.release();
        const admin = target.createDatabase({ alias: `admin_${target.name}` });
        await target.killSession!(admin, id);
        await admin.close();
        // The driver hears of the closed socket shortly after; from then on the dead connection
        // must never be handed out: the next caller gets a fresh, working one.
        await new Promise((r) => setTimeout(r, 200));
        expect(await db.execute('SELECT 1 AS [one]')).toEqual([{ one: 1 }]);
        const after = await db.withConnection((c) => target.sessionId!(c));
        expect(after).not.toEqual(id);
      } finally {
        await db.close();
      }
    });

    test(target, 'close drains, is safe twice, and later use is PoolClosedError', async () => {
      const db = target.createDatabase({ poolMax: 2 });
      const held = await db.connection();
      const closing = db.close({ timeoutMs: 2_000 });
      await held.release();
      await closing;
      await db.close();
      const err = await db.connection().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PoolClosedError);
      expect((err as PoolClosedError).code).toBe('DAL_POOL_CLOSED');
      expect(PoolManager.getPoolStatus(db.config.hash())).toBeUndefined();
      expect(await PoolManager.closePool(db.config.hash())).toBe(false);
    });

    test(target, 'closing a pool rejects its waiters with PoolClosedError', async () => {
      const db = target.createDatabase({ poolMin: 0, poolMax: 1, connectionAcquisitionTimeoutMs: 5_000 });
      const held = await db.connection();
      const waiting = db.connection();
      await new Promise((r) => setTimeout(r, 20));
      const closing = db.close({ timeoutMs: 100 });
      await expect(waiting).rejects.toBeInstanceOf(PoolClosedError);
      await closing;
      await held.release();
    });

    test(target, 'reports leaked connections with where they were acquired', async () => {
      const db = target.createDatabase({ env: 'test', poolMax: 2 });
      try {
        const held = await db.connection();
        await new Promise((r) => setTimeout(r, 60));
        const leaks = await PoolManager.checkForLeakedConnections({ thresholdMs: 50 });
        const mine = leaks.filter((l) => l.alias === db.config.alias);
        expect(mine).toHaveLength(1);
        expect(mine[0]!.heldForMs).toBeGreaterThanOrEqual(50);
        expect(mine[0]!.stack).toContain('acquired here');
        await held.release();
        const after = await PoolManager.checkForLeakedConnections({ thresholdMs: 50 });
        expect(after.filter((l) => l.alias === db.config.alias)).toHaveLength(0);
      } finally {
        await db.close();
      }
    });

    test(target, 'health checks and status report every pool', async () => {
      const db = target.createDatabase({ alias: `health_${target.name}` });
      try {
        await db.execute('SELECT 1');
        const health = await PoolManager.healthCheckAllPools();
        expect(health[`health_${target.name}`]).toBe(true);
        const status = PoolManager.getPoolStatus(db.config.hash())!;
        expect(status.alias).toBe(`health_${target.name}`);
        expect(status.metrics.queries).toBeGreaterThanOrEqual(1);
        expect(status.scaling).toEqual({ level: 'normal', advice: 'no action needed', timeoutRate: 0, windowMs: 300_000 });
        expect(PoolManager.getPoolMetrics()[db.config.hash()]).toBeDefined();
      } finally {
        await db.close();
      }
    });
  });
}
