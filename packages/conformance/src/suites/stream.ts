import { AbortedError, ConfigError, PoolManager, QueryTimeoutError, type Connection, type Database } from '@dal/core';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { conformanceTest as test, eventually, marker, tableName } from '../harness.js';
import type { ConformanceTarget } from '../target.js';

/**
 * Rows `{ i, pad }` for i = 1..? (up to a million), `pad` the second parameter: six copies of a
 * ten-row table joined, portable and free of the recursion limits some servers set (MariaDB: 1000).
 */
const DIGITS = 'WITH [d]([x]) AS (SELECT 0 UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)';
const NUMBER = '([a].[x] + 10 * [b].[x] + 100 * [c].[x] + 1000 * [e].[x] + 10000 * [f].[x] + 100000 * [g].[x] + 1)';
const SERIES = `${DIGITS} SELECT ${NUMBER} AS [i], ? AS [pad] FROM [d] [a], [d] [b], [d] [c], [d] [e], [d] [f], [d] [g] WHERE ${NUMBER} <= ?`;
/** SERIES in order of i. */
const ORDERED = `${SERIES} ORDER BY [i]`;
const PAD = 'p'.repeat(100);

/**
 * `conn.stream` / `db.stream`: every row in order, in bounded memory; leaving early (break, an
 * error, an abort, a timeout) stops the statement on the server and frees the connection.
 */
export function streamSuite(target: ConformanceTarget): void {
  describe('streaming results', () => {
    let db: Database;
    beforeAll(() => {
      db = target.createDatabase({ poolMin: 0, poolMax: 2, queryExecutionTimeoutMs: 30_000 });
    });
    afterAll(async () => {
      await db.close();
    });

    const inUse = (): number => PoolManager.getPoolStatus(db.config.hash())!.sizes.inUse;

    /** The session behind `conn` has no statement, result or transaction open on the server. */
    const idleOnServer = async (id: string | number | undefined): Promise<void> => {
      if (target.sessionBusy === undefined || id === undefined) return;
      expect(await eventually(async () => !(await target.sessionBusy!(db, id)), 2_000)).toBe(true);
    };

    /** After leaving a stream early on `conn`: the server stopped, the connection works and goes back to the pool. */
    const cleanedUp = async (conn: Connection, id: string | number | undefined): Promise<void> => {
      await idleOnServer(id);
      expect(await conn.execute('SELECT 1 AS [one]')).toEqual([{ one: 1 }]);
      await conn.release();
      expect(inUse()).toBe(0);
    };

    /** The session is busy on the server while a stream is open on it (a cursor, a result being sent). */
    const busyOnServer = async (id: string | number | undefined): Promise<void> => {
      if (target.sessionBusy !== undefined && id !== undefined) expect(await target.sessionBusy(db, id)).toBe(true);
    };

    test(target, 'stream yields every row in order, batch after batch, with parameters and array rows', async () => {
      const seen: number[] = [];
      for await (const row of db.stream<{ i: number; pad: string }>(ORDERED, ['x', 2_345], { batchSize: 100 })) {
        expect(row.pad).toBe('x');
        seen.push(Number(row.i));
      }
      expect(seen).toEqual(Array.from({ length: 2_345 }, (_, k) => k + 1));
      const tuples: unknown[][] = [];
      for await (const row of db.stream<unknown[]>(ORDERED, ['y', 3], { rowMode: 'array', batchSize: 2 })) tuples.push(row);
      expect(tuples.map((t) => [Number(t[0]), t[1]])).toEqual([[1, 'y'], [2, 'y'], [3, 'y']]);
      expect(inUse()).toBe(0);
    });

    test(
      target,
      'a million-row stream keeps the heap flat and holds one connection until it ends',
      async () => {
        // Live memory, not garbage awaiting collection: measured right after a full collection.
        const gc = fullGc();
        const live = (): number => {
          gc();
          return process.memoryUsage().heapUsed;
        };
        const before = live();
        let peak = before;
        let count = 0;
        let sum = 0;
        for await (const row of db.stream<{ i: number; pad: string }>(SERIES, [PAD, 1_000_000])) {
          count++;
          sum += Number(row.i);
          if (count % 250_000 === 0) {
            peak = Math.max(peak, live());
            if (count === 500_000) expect(inUse()).toBe(1);
          }
        }
        expect(count).toBe(1_000_000);
        expect(sum).toBe((1_000_000 * 1_000_001) / 2);
        // Held at once, a million such rows take about 200 MB; a stream holds a batch or two.
        expect(peak - before).toBeLessThan(32 * 1024 * 1024);
        expect(inUse()).toBe(0);
      },
      180_000,
    );

    test(target, 'break stops the statement on the server and frees the connection', async () => {
      const conn = await db.connection();
      const id = await target.sessionId?.(conn);
      let seen = 0;
      for await (const _row of conn.stream(SERIES, [PAD, 1_000_000], { batchSize: 500 })) {
        if (++seen === 1_200) await busyOnServer(id);
        if (seen === 1_500) break;
      }
      expect(seen).toBe(1_500);
      await cleanedUp(conn, id);
      // db.stream gives its connection back on break.
      for await (const _row of db.stream(SERIES, [PAD, 1_000_000], { batchSize: 500 })) {
        expect(inUse()).toBe(1);
        break;
      }
      expect(inUse()).toBe(0);
    });

    test(target, 'an error thrown in the loop stops the statement on the server and reaches the caller as it is', async () => {
      const conn = await db.connection();
      const id = await target.sessionId?.(conn);
      const thrown = new Error('the caller failed');
      const error = await (async () => {
        let seen = 0;
        for await (const _row of conn.stream(SERIES, [PAD, 1_000_000], { batchSize: 500 })) {
          if (++seen === 1_500) throw thrown;
        }
      })().catch((e: unknown) => e);
      expect(error).toBe(thrown);
      await cleanedUp(conn, id);
    });

    test(target, 'an aborted signal ends the stream with AbortedError and stops the statement on the server', async () => {
      const controller = new AbortController();
      const conn = await db.connection();
      const id = await target.sessionId?.(conn);
      let seen = 0;
      const error = await (async () => {
        for await (const _row of conn.stream(SERIES, [PAD, 1_000_000], { batchSize: 500, signal: controller.signal })) {
          if (++seen === 1_500) controller.abort();
        }
      })().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AbortedError);
      expect(seen).toBe(1_500);
      await cleanedUp(conn, id);
    });

    test(target, 'a batch past timeoutMs fails with QueryTimeoutError and is cancelled; time spent between batches does not count', async () => {
      const mark = marker('stream_timeout');
      await db.withConnection(async (conn) => {
        const started = performance.now();
        const error = await (async () => {
          for await (const _row of conn.stream(target.slowStatement(3, mark), [], { timeoutMs: 200 })) {
            // no row comes before the timeout
          }
        })().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(QueryTimeoutError);
        expect(performance.now() - started).toBeLessThan(1_500);
        if (target.isRunningOnServer !== undefined) {
          expect(await eventually(async () => !(await target.isRunningOnServer!(db, mark)), 1_000)).toBe(true);
        }
        expect(await conn.execute('SELECT 1 AS [one]')).toEqual([{ one: 1 }]);
        // Each batch comes quickly, so a caller slower than timeoutMs between batches is fine.
        let seen = 0;
        for await (const _row of conn.stream('SELECT 1 AS [i] UNION ALL SELECT 2 UNION ALL SELECT 3', [], { timeoutMs: 200, batchSize: 1 })) {
          seen++;
          await new Promise((resolve) => setTimeout(resolve, 300));
        }
        expect(seen).toBe(3);
      });
      expect(inUse()).toBe(0);
    });

    test(target, 'a stream inside a transaction sees its writes and leaves it open', async () => {
      const table = tableName(target, 'stream');
      await db.execute(`CREATE TABLE [${table}] ([id] ${target.types.int} PRIMARY KEY, [name] ${target.types.text})`);
      try {
        await db.withConnection(async (conn) => {
          await conn.transaction(async (tx) => {
            await tx.executeMany(`INSERT INTO [${table}] ([id], [name]) VALUES (?, ?)`, [[1, 'a'], [2, 'b'], [3, 'c']]);
            const names: string[] = [];
            for await (const row of tx.stream<{ name: string }>(`SELECT [name] FROM [${table}] ORDER BY [id]`, [], { batchSize: 2 })) names.push(row.name);
            expect(names).toEqual(['a', 'b', 'c']);
            for await (const _row of tx.stream(`SELECT [name] FROM [${table}] WHERE [id] > ?`, [100])) names.push('none expected');
            expect(names).toHaveLength(3);
            expect(tx.inTransaction()).toBe(true);
            await tx.execute(`INSERT INTO [${table}] ([id], [name]) VALUES (?, ?)`, [4, 'd']);
          });
        });
        expect(Number((await db.execute<{ n: number }>(`SELECT COUNT(*) AS [n] FROM [${table}]`))[0]!.n)).toBe(4);
      } finally {
        await db.execute(`DROP TABLE [${table}]`);
      }
    });

    test(target, 'bad input fails the first step with a typed error and holds no connection', async () => {
      const error = await (async () => {
        for await (const _row of db.stream('SELECT 1 AS [one]', [], { batchSize: 0 })) {
          // never reached
        }
      })().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      const failed = await (async () => {
        for await (const _row of db.stream('SELECT [nope] FROM [no_such_table_for_stream]')) {
          // never reached
        }
      })().catch((e: unknown) => e);
      expect((failed as { code?: string }).code).toMatch(/^DAL_/);
      expect(inUse()).toBe(0);
      expect(await db.execute('SELECT 1 AS [one]')).toEqual([{ one: 1 }]);
    });
  });
}

/** V8's full garbage collection, without starting the process with --expose-gc. */
function fullGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
