import { AbortedError, PoolManager, QueryTimeoutError, TimeoutError, type Database } from '@dal/core';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { conformanceTest as test, eventually, marker } from '../harness.js';
import type { ConformanceTarget } from '../target.js';

/** Timeouts and aborts reach the caller on time AND stop the statement on the server. */
export function timeoutSuite(target: ConformanceTarget): void {
  describe('timeouts and cancellation', () => {
    let db: Database;
    beforeAll(() => {
      db = target.createDatabase({ poolMin: 0, poolMax: 2, queryExecutionTimeoutMs: 30_000 });
    });
    afterAll(async () => {
      await db.close();
    });

    const stoppedOnServer = async (mark: string): Promise<void> => {
      if (target.isRunningOnServer === undefined) return;
      await new Promise((r) => setTimeout(r, 100));
      const stopped = await eventually(async () => !(await target.isRunningOnServer!(db, mark)), 500);
      expect(stopped).toBe(true);
    };

    test(target, 'a per-call timeoutMs rejects with QueryTimeoutError within timeout + 100 ms and stops the statement', async () => {
      const mark = marker('timeout');
      await db.withConnection(async (conn) => {
        const started = performance.now();
        const err = await conn.execute(target.slowStatement(3, mark), [], { timeoutMs: 200 }).catch((e: unknown) => e);
        const elapsed = performance.now() - started;
        expect(err).toBeInstanceOf(QueryTimeoutError);
        expect(err).toBeInstanceOf(TimeoutError);
        expect((err as QueryTimeoutError).timeoutMs).toBe(200);
        expect(elapsed).toBeGreaterThanOrEqual(195);
        expect(elapsed).toBeLessThan(300);
        await stoppedOnServer(mark);
        // Usable again (or transparently replaced) right after.
        expect(await conn.execute('SELECT 1 AS [one]')).toEqual([{ one: 1 }]);
      });
      expect(PoolManager.getPoolStatus(db.config.hash())!.sizes.inUse).toBe(0);
    });

    test(target, 'queryExecutionTimeoutMs is the default timeout', async () => {
      const short = target.createDatabase({ poolMin: 0, poolMax: 1, queryExecutionTimeoutMs: 250 });
      try {
        const mark = marker('default');
        await short.withConnection(async (conn) => {
          const started = performance.now();
          const err = await conn.execute(target.slowStatement(3, mark)).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(QueryTimeoutError);
          expect((err as QueryTimeoutError).timeoutMs).toBe(250);
          expect(performance.now() - started).toBeLessThan(350);
        });
        expect(await short.execute('SELECT 2 AS [two]')).toEqual([{ two: 2 }]);
      } finally {
        await short.close();
      }
    });

    test(target, 'an AbortSignal cancels the statement with AbortedError', async () => {
      const mark = marker('abort');
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('user cancelled')), 150);
      const started = performance.now();
      const err = await db.execute(target.slowStatement(3, mark), [], { signal: controller.signal }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AbortedError);
      expect((err as AbortedError).code).toBe('DAL_ABORTED');
      expect(performance.now() - started).toBeLessThan(300);
      await stoppedOnServer(mark);
      expect(await db.execute('SELECT 1 AS [one]')).toEqual([{ one: 1 }]);
    });

    test(target, 'an already aborted signal never reaches the server', async () => {
      const controller = new AbortController();
      controller.abort();
      await expect(db.execute('SELECT 1', [], { signal: controller.signal })).rejects.toBeInstanceOf(AbortedError);
      expect(PoolManager.getPoolStatus(db.config.hash())!.sizes.inUse).toBe(0);
    });

    test(target, 'a timeout inside a transaction leaves the transaction to the caller, who can roll back', async () => {
      await db.withConnection(async (conn) => {
        await conn.beginTransaction();
        const err = await conn.execute(target.slowStatement(3, marker('tx')), [], { timeoutMs: 150 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(QueryTimeoutError);
        await conn.rollbackTransaction().catch(() => undefined);
        expect(conn.inTransaction()).toBe(false);
      });
      expect(await db.execute('SELECT 1 AS [one]')).toEqual([{ one: 1 }]);
    });
  });
}
