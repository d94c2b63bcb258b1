import { CircuitOpenError, ConnectionError, PoolManager, QueryError, type Connection, type Database } from '@dal/core';
import { describe, expect } from 'vitest';
import { conformanceTest as test, eventually, marker } from '../harness.js';
import type { ConformanceTarget } from '../target.js';

/** The pool's circuit breaker counts connection failures only, rejects fast while open, and recovers. */
export function resilienceSuite(target: ConformanceTarget): void {
  describe('circuit breaker', () => {
    const breakerSettings = { failureThreshold: 2, recoveryTimeoutMs: 400, halfOpenMaxCalls: 1, windowSizeMs: 10_000 };

    /** Run a slow statement and kill its session from outside: a real connection failure. */
    async function killMidStatement(db: Database, admin: Database): Promise<unknown> {
      const conn: Connection = await db.connection();
      try {
        const id = await target.sessionId!(conn);
        const running = conn.execute(target.slowStatement(5, marker('kill')), [], { timeoutMs: 10_000 }).catch((e: unknown) => e);
        await new Promise((r) => setTimeout(r, 100));
        await target.killSession!(admin, id);
        return await running;
      } finally {
        await conn.release();
      }
    }

    test(target, 'SQL errors never open the breaker', async () => {
      const db = target.createDatabase({ alias: `breaker_sql_${target.name}`, circuitBreaker: breakerSettings });
      try {
        for (let i = 0; i < 5; i++) await expect(db.execute('SELEC 1')).rejects.toBeInstanceOf(QueryError);
        expect(PoolManager.getPoolStatus(db.config.hash())!.circuit!.state).toBe('closed');
        expect(await db.execute('SELECT 1 AS [one]')).toEqual([{ one: 1 }]);
      } finally {
        await db.close();
      }
    });

    test(target, 'connection failures open it: calls are rejected at once with CircuitOpenError, then it recovers', async () => {
      const db = target.createDatabase({ alias: `breaker_${target.name}`, poolMax: 3, circuitBreaker: breakerSettings });
      const admin = target.createDatabase({ alias: `breaker_admin_${target.name}` });
      try {
        await db.execute('SELECT 1');
        expect(await killMidStatement(db, admin)).toBeInstanceOf(ConnectionError);
        expect(await killMidStatement(db, admin)).toBeInstanceOf(ConnectionError);
        const status = PoolManager.getPoolStatus(db.config.hash())!;
        expect(status.circuit).toMatchObject({ state: 'open', opens: 1 });

        const started = performance.now();
        const rejected = await db.execute('SELECT 1').catch((e: unknown) => e);
        expect(rejected).toBeInstanceOf(CircuitOpenError);
        expect((rejected as CircuitOpenError).code).toBe('DAL_CIRCUIT_OPEN');
        expect(performance.now() - started).toBeLessThan(50);
        expect(PoolManager.getPoolStatus(db.config.hash())!.metrics.errorsByCategory.circuitOpen).toBeGreaterThanOrEqual(1);

        // After recoveryTimeoutMs a trial call goes through and closes it again.
        const recovered = await eventually(async () => {
          const result = await db.execute('SELECT 1 AS [one]').catch(() => undefined);
          return result !== undefined;
        }, 3_000, 100);
        expect(recovered).toBe(true);
        expect(PoolManager.getPoolStatus(db.config.hash())!.circuit!.state).toBe('closed');
        expect(PoolManager.getPoolStatus(db.config.hash())!.sizes.inUse).toBe(0);
      } finally {
        await admin.close();
        await db.close();
      }
    }, 30_000);
  });
}
