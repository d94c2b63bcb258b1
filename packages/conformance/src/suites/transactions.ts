import { DeadlockError, TransactionError, UniqueViolationError, type Database } from '@dal/core';
import { afterAll, beforeAll, beforeEach, describe, expect } from 'vitest';
import { conformanceTest as test, tableName } from '../harness.js';
import type { ConformanceTarget } from '../target.js';

/** Explicit transactions, transaction(), savepoints, executeMany atomicity and retry of deadlocks. */
export function transactionsSuite(target: ConformanceTarget): void {
  describe('transactions', () => {
    let db: Database;
    const table = tableName(target, 'tx');
    const { int } = target.types;
    const count = async (): Promise<number> => {
      const rows = await db.execute<{ n: number }>(`SELECT COUNT(*) AS [n] FROM [${table}]`);
      return Number(rows[0]!.n);
    };

    beforeAll(async () => {
      db = target.createDatabase({ poolMax: 4 });
      await db.execute(`DROP TABLE IF EXISTS [${table}]`);
      await db.execute(`CREATE TABLE [${table}] ([id] ${int} PRIMARY KEY, [v] ${int} NOT NULL)`);
    });
    beforeEach(async () => {
      await db.execute(`DELETE FROM [${table}]`);
    });
    afterAll(async () => {
      await db.execute(`DROP TABLE IF EXISTS [${table}]`).catch(() => undefined);
      await db.close();
    });

    test(target, 'commits and rolls back explicit transactions', async () => {
      await db.withConnection(async (conn) => {
        expect(conn.inTransaction()).toBe(false);
        await conn.beginTransaction();
        expect(conn.inTransaction()).toBe(true);
        await conn.execute(`INSERT INTO [${table}] ([id], [v]) VALUES (?, ?)`, [1, 1]);
        await conn.commitTransaction();
        expect(conn.inTransaction()).toBe(false);
        await conn.beginTransaction();
        await conn.execute(`INSERT INTO [${table}] ([id], [v]) VALUES (?, ?)`, [2, 2]);
        await conn.rollbackTransaction();
      });
      expect(await count()).toBe(1);
    });

    test(target, 'transaction() commits on return and rolls back on throw', async () => {
      await db.withConnection(async (conn) => {
        const result = await conn.transaction(async (tx) => {
          await tx.execute(`INSERT INTO [${table}] ([id], [v]) VALUES (?, ?)`, [1, 1]);
          return 'done';
        });
        expect(result).toBe('done');
        const err = await conn
          .transaction(async (tx) => {
            await tx.execute(`INSERT INTO [${table}] ([id], [v]) VALUES (?, ?)`, [2, 2]);
            throw new Error('boom');
          })
          .catch((e: unknown) => e);
        expect((err as Error).message).toBe('boom');
        expect(conn.inTransaction()).toBe(false);
      });
      expect(await count()).toBe(1);
    });

    test(target, 'nested transaction() uses a savepoint: the inner rollback keeps the outer work', async () => {
      await db.withConnection(async (conn) => {
        await conn.transaction(async (tx) => {
          await tx.execute(`INSERT INTO [${table}] ([id], [v]) VALUES (?, ?)`, [1, 1]);
          await tx
            .transaction(async (inner) => {
              await inner.execute(`INSERT INTO [${table}] ([id], [v]) VALUES (?, ?)`, [2, 2]);
              await inner.execute(`INSERT INTO [${table}] ([id], [v]) VALUES (?, ?)`, [1, 3]); // duplicate
            })
            .catch((e: unknown) => expect(e).toBeInstanceOf(UniqueViolationError));
          await tx.execute(`INSERT INTO [${table}] ([id], [v]) VALUES (?, ?)`, [3, 3]);
        });
      });
      const rows = await db.execute<{ id: number }>(`SELECT [id] FROM [${table}] ORDER BY [id]`);
      expect(rows.map((r) => Number(r.id))).toEqual([1, 3]);
    });

    test(target, 'misuse is a TransactionError', async () => {
      await db.withConnection(async (conn) => {
        await expect(conn.commitTransaction()).rejects.toBeInstanceOf(TransactionError);
        await expect(conn.rollbackTransaction()).rejects.toBeInstanceOf(TransactionError);
        await conn.beginTransaction();
        await expect(conn.beginTransaction()).rejects.toBeInstanceOf(TransactionError);
        await conn.rollbackTransaction();
      });
    });

    test(target, 'releasing a connection inside a transaction rolls it back', async () => {
      const conn = await db.connection();
      await conn.beginTransaction();
      await conn.execute(`INSERT INTO [${table}] ([id], [v]) VALUES (?, ?)`, [1, 1]);
      await conn.release();
      expect(await count()).toBe(0);
      await db.withConnection(async (again) => expect(again.inTransaction()).toBe(false));
    });

    test(target, 'executeMany is atomic: one failing row writes nothing', async () => {
      const err = await db
        .withConnection((conn) =>
          conn.executeMany(`INSERT INTO [${table}] ([id], [v]) VALUES (?, ?)`, [
            [1, 1],
            [2, 2],
            [1, 3],
          ]),
        )
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UniqueViolationError);
      expect(await count()).toBe(0);
    });

    test(target, 'a real deadlock is DeadlockError, and transaction({ retry }) re-runs the loser to success', async () => {
      await db.execute(`INSERT INTO [${table}] ([id], [v]) VALUES (?, ?), (?, ?)`, [1, 0, 2, 0]);
      const [a, b] = [await db.connection(), await db.connection()];
      const errors: unknown[] = [];
      let attempts = 0;
      // Each transaction locks one row, waits for the other to do the same, then wants the other's row.
      let lockedA!: () => void;
      let lockedB!: () => void;
      const aHasLock = new Promise<void>((r) => (lockedA = r));
      const bHasLock = new Promise<void>((r) => (lockedB = r));
      const run = (conn: typeof a, first: number, second: number, mine: () => void, theirs: Promise<void>) =>
        conn.transaction(
          async (tx) => {
            attempts++;
            await tx.execute(`UPDATE [${table}] SET [v] = [v] + 1 WHERE [id] = ?`, [first]);
            mine();
            await theirs;
            await tx.execute(`UPDATE [${table}] SET [v] = [v] + 1 WHERE [id] = ?`, [second]);
          },
          { retry: { maxRetries: 3, baseDelayMs: 10 } },
        );
      const results = await Promise.allSettled([
        run(a, 1, 2, lockedA, bHasLock).catch((e: unknown) => {
          errors.push(e);
          throw e;
        }),
        run(b, 2, 1, lockedB, aHasLock),
      ]);
      await a.release();
      await b.release();
      expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
      expect(attempts).toBeGreaterThanOrEqual(3); // two first attempts, at least one retry
      const rows = await db.execute<{ v: number }>(`SELECT [v] FROM [${table}] ORDER BY [id]`);
      expect(rows.map((r) => Number(r.v))).toEqual([2, 2]);
    }, 30_000);

    test(target, 'without retry, the deadlock victim sees DeadlockError', async () => {
      await db.execute(`INSERT INTO [${table}] ([id], [v]) VALUES (?, ?), (?, ?)`, [1, 0, 2, 0]);
      const [a, b] = [await db.connection(), await db.connection()];
      let lockedA!: () => void;
      let lockedB!: () => void;
      const aHasLock = new Promise<void>((r) => (lockedA = r));
      const bHasLock = new Promise<void>((r) => (lockedB = r));
      const run = (conn: typeof a, first: number, second: number, mine: () => void, theirs: Promise<void>) =>
        conn.transaction(async (tx) => {
          await tx.execute(`UPDATE [${table}] SET [v] = [v] + 1 WHERE [id] = ?`, [first]);
          mine();
          await theirs;
          await tx.execute(`UPDATE [${table}] SET [v] = [v] + 1 WHERE [id] = ?`, [second]);
        });
      const results = await Promise.allSettled([run(a, 1, 2, lockedA, bHasLock), run(b, 2, 1, lockedB, aHasLock)]);
      await a.release();
      await b.release();
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(rejected).toHaveLength(1);
      expect(rejected[0]!.reason).toBeInstanceOf(DeadlockError);
      expect((rejected[0]!.reason as DeadlockError).retryable).toBe(true);
    }, 30_000);
  });
}
