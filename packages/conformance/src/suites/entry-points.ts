import { AbortedError, PoolManager, QueryError, QueryTimeoutError, type Database, type ExecuteOptions, type Logger } from '@dal/core';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { conformanceTest as test, eventually, marker } from '../harness.js';
import type { ConformanceTarget } from '../target.js';

/** One way to run a statement, as an app would call it. */
interface EntryPoint {
  readonly name: string;
  /** Whether it takes a signal (a synchronous call cannot be aborted from outside). */
  readonly async: boolean;
  run(db: Database, sql: string, options: ExecuteOptions): Promise<unknown>;
}

const ENTRY_POINTS: readonly EntryPoint[] = [
  { name: 'db.execute', async: true, run: (db, sql, options) => db.execute(sql, [], options) },
  { name: 'db.executeFirst', async: true, run: (db, sql, options) => db.executeFirst(sql, [], options) },
  { name: 'db.query', async: true, run: (db, sql, options) => db.query(sql, [], options) },
  { name: 'conn.execute', async: true, run: (db, sql, options) => db.withConnection((conn) => conn.execute(sql, [], options)) },
  { name: 'tx.execute', async: true, run: (db, sql, options) => db.withConnection((conn) => conn.transaction((tx) => tx.execute(sql, [], options))) },
  {
    name: 'syncConnection().execute',
    async: false,
    run: async (db, sql, options) => {
      const { signal: _signal, ...syncOptions } = options;
      return db.syncConnection().execute(sql, [], syncOptions);
    },
  },
];

/** A logger that keeps every warning. */
function recordingLogger(): { logger: Logger; warnings: Array<{ message: string; data: Record<string, unknown> }> } {
  const warnings: Array<{ message: string; data: Record<string, unknown> }> = [];
  return { warnings, logger: { warn: (data, message) => warnings.push({ data, message }), error: () => undefined } };
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

/**
 * Every way to run a statement behaves the same: one table of behaviours, run through each
 * entry point. They all go through one pipeline in core (check, translate, run, record, map).
 */
export function entryPointsSuite(target: ConformanceTarget): void {
  describe('every entry point behaves the same', () => {
    const { logger, warnings } = recordingLogger();
    let db: Database;

    beforeAll(async () => {
      // Every statement counts as slow, so the slow-query log shows which paths record it.
      db = target.createDatabase({ alias: `entry_points_${target.name}`, slowQueryThresholdMs: 0.001, poolMin: 1, poolMax: 4 }, { logger });
      await db.execute('SELECT 1');
    });
    afterAll(async () => {
      await db.close();
    });

    const status = () => PoolManager.getPoolStatus(db.config.hash())!;

    for (const entry of ENTRY_POINTS) {
      test(target, `${entry.name}: counted in the metrics under its tags, logged when slow`, async () => {
        const operation = `ep_${entry.name.replace(/\W+/g, '_')}`;
        const before = status().metrics;
        const slowBefore = warnings.filter((w) => w.message === '[dal] slow query').length;
        await entry.run(db, 'SELECT 1 AS [one]', { tags: { operation } });
        const after = status().metrics;
        expect(after.queries).toBeGreaterThan(before.queries);
        expect(after.operations[operation]?.count).toBe(1);
        const slow = warnings.filter((w) => w.message === '[dal] slow query').slice(slowBefore);
        expect(slow.some((w) => (w.data['tags'] as Record<string, unknown> | undefined)?.['operation'] === operation)).toBe(true);
      });

      test(target, `${entry.name}: a server error is the same typed error, counted, and never opens the breaker`, async () => {
        const errorsBefore = status().metrics.queryErrors;
        const error = await failure(entry.run(db, 'SELEC 1', {}));
        expect(error).toBeInstanceOf(QueryError);
        expect((error as QueryError).code).toBe('DAL_QUERY');
        expect((error as QueryError).sql).toBeDefined();
        expect(status().metrics.queryErrors).toBeGreaterThan(errorsBefore);
        expect(status().circuit?.state ?? 'closed').toBe('closed');
      });

      test(target, `${entry.name}: its timeout applies`, async () => {
        const warned = warnings.length;
        const started = performance.now();
        // Short, since a statement run on the caller's thread cannot be stopped and runs to its end.
        const outcome = await entry.run(db, target.slowStatement(0.5, `ep_timeout_${entry.name}`), { timeoutMs: 100 }).then(
          () => 'completed',
          (error: unknown) => error,
        );
        if (outcome === 'completed') {
          // The statement ran on this thread, where nothing can interrupt it: it is reported instead.
          expect(warnings.slice(warned).some((w) => w.message.includes('ran past its timeout'))).toBe(true);
        } else {
          expect(outcome).toBeInstanceOf(QueryTimeoutError);
          expect(performance.now() - started).toBeLessThan(400);
        }
      });

      if (entry.async) {
        test(target, `${entry.name}: an aborted signal is honoured before anything runs`, async () => {
          const queriesBefore = status().metrics.queries;
          const controller = new AbortController();
          controller.abort(new Error('caller went away'));
          const error = await failure(entry.run(db, 'SELECT 1', { signal: controller.signal }));
          expect(error).toBeInstanceOf(AbortedError);
          // tx.execute's BEGIN and ROLLBACK ran; the aborted statement itself did not.
          expect(status().metrics.queries - queriesBefore).toBeLessThanOrEqual(entry.name === 'tx.execute' ? 2 : 0);
        });
      }
    }

    // Pipelining backends send these on one shared connection (issue #16); others queue them for it.
    test(target, 'pool shortcuts in flight together: an error or a timeout fails only its own statement', async () => {
      const single = target.createDatabase({ alias: `entry_points_together_${target.name}`, poolMin: 1, poolMax: 1 }, { logger: recordingLogger().logger });
      try {
        await single.execute('SELECT 1');
        const slow = marker('together');
        const settled = await Promise.allSettled([
          single.executeFirst('SELECT 1 AS [a]'),
          single.execute('SELEC 1'),
          // Short where nothing can stop it (no server), long enough elsewhere to see it stopped.
          single.execute(target.slowStatement(target.isRunningOnServer === undefined ? 0.5 : 3, slow), [], { timeoutMs: 100 }),
          single.query('SELECT 2 AS [b]'),
        ]);
        const [first, broken, timed, last] = settled;
        expect(first).toMatchObject({ status: 'fulfilled', value: { a: 1 } });
        expect(broken?.status === 'rejected' && broken.reason instanceof QueryError).toBe(true);
        // A statement run on the caller's thread cannot be interrupted: it completes instead.
        expect(timed?.status === 'fulfilled' || (timed?.status === 'rejected' && timed.reason instanceof QueryTimeoutError)).toBe(true);
        expect(last).toMatchObject({ status: 'fulfilled', value: { rows: [{ b: 2 }] } });
        if (target.isRunningOnServer !== undefined) expect(await eventually(async () => !(await target.isRunningOnServer!(db, slow)), 1_000)).toBe(true);
      } finally {
        await single.close();
      }
    });
  });
}
