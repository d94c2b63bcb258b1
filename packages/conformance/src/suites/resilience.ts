import { ConnectionError, PoolManager, QueryError, type Connection, type Database } from '@dal/core';
import { describe, expect } from 'vitest';
import { conformanceTest as test, marker } from '../harness.js';
import type { ConformanceTarget } from '../target.js';

/**
 * The pool's circuit breaker measures whether new connections can be opened: SQL errors and
 * sessions broken while in use never open it. (Opening, probing and closing are exercised against
 * real outages in packages/fault-tests.)
 */
export function resilienceSuite(target: ConformanceTarget): void {
  describe('circuit breaker', () => {
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
      const db = target.createDatabase({ alias: `breaker_sql_${target.name}` });
      try {
        for (let i = 0; i < 5; i++) await expect(db.execute('SELEC 1')).rejects.toBeInstanceOf(QueryError);
        expect(PoolManager.getPoolStatus(db.config.hash())!.circuit!.state).toBe('closed');
        expect(await db.execute('SELECT 1 AS [one]')).toEqual([{ one: 1 }]);
      } finally {
        await db.close();
      }
    });

    test(target, 'sessions killed while in use fail their callers but never open the breaker (default settings)', async () => {
      const db = target.createDatabase({ alias: `breaker_${target.name}`, poolMax: 3 });
      const admin = target.createDatabase({ alias: `breaker_admin_${target.name}` });
      try {
        await db.execute('SELECT 1');
        const threshold = (db.config.circuitBreaker as { failureThreshold: number }).failureThreshold;
        // More kills than the breaker's threshold, each a real broken session.
        for (let i = 0; i <= threshold; i++) expect(await killMidStatement(db, admin)).toBeInstanceOf(ConnectionError);
        const status = PoolManager.getPoolStatus(db.config.hash())!;
        expect(status.circuit).toMatchObject({ state: 'closed', opens: 0, rejected: 0 });
        expect(status.metrics.errorsByCategory.circuitOpen).toBe(0);
        // The broken sessions were replaced: the next calls work at once.
        const started = performance.now();
        expect(await db.execute('SELECT 1 AS [one]')).toEqual([{ one: 1 }]);
        expect(performance.now() - started).toBeLessThan(1_000);
        expect(PoolManager.getPoolStatus(db.config.hash())!.sizes.inUse).toBe(0);
      } finally {
        await admin.close();
        await db.close();
      }
    }, 30_000);
  });
}
