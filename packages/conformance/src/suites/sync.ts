import {
  ConnectionReleasedError,
  DalError,
  PoolTimeoutError,
  QueryTimeoutError,
  TransactionError,
  UniqueViolationError,
  type Database,
  type SyncConnection,
} from '@dal/core';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { conformanceTest as test, eventually, marker, tableName } from '../harness.js';
import type { ConformanceTarget } from '../target.js';

/** What the caller gets from `fn`: its value, or the error it threw. */
function outcome(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (error) {
    return error;
  }
}

/**
 * `db.syncConnection()`: the same methods as an async connection, synchronously (SQLite on the
 * calling thread, server backends through a worker thread), with the same values and errors.
 */
export function syncSuite(target: ConformanceTarget): void {
  describe('sync connection', () => {
    let db: Database;
    let sync: SyncConnection;
    const table = tableName(target, 'sync');
    const t = target.types;
    const bytes = t.bytes === undefined ? '' : `, [bytes] ${t.bytes}`;

    beforeAll(async () => {
      db = target.createDatabase();
      await db.execute(`DROP TABLE IF EXISTS [${table}]`);
      await db.execute(
        `CREATE TABLE [${table}] ([id] ${t.int} PRIMARY KEY, [s] ${t.text}, [big] ${t.bigint}, [d] ${t.decimal}, [b] ${t.boolean}, [ts] ${t.timestamp}${bytes})`,
      );
      sync = db.syncConnection();
    });
    afterAll(async () => {
      sync.release();
      await db.execute(`DROP TABLE IF EXISTS [${table}]`).catch(() => undefined);
      await db.close();
    });

    test(target, 'syncConnection runs statements synchronously', async () => {
      let ticked = false;
      setImmediate(() => (ticked = true));
      expect(sync.execute(`INSERT INTO [${table}] ([id], [s]) VALUES (?, ?)`, [1, 'one'])).toEqual([]);
      expect(sync.query(`UPDATE [${table}] SET [s] = ? WHERE [id] = ?`, ['uno', 1]).affectedRows).toBe(1);
      expect(sync.executeMany(`INSERT INTO [${table}] ([id], [s]) VALUES (?, ?)`, [[2, 'two'], [3, 'three']]).affectedRows).toBe(2);
      expect(sync.executeFirst(`SELECT [s] FROM [${table}] WHERE [id] = ?`, [1])).toEqual({ s: 'uno' });
      expect(sync.executeFirst(`SELECT [s] FROM [${table}] WHERE [id] = ?`, [99])).toBeUndefined();
      expect(sync.execute<unknown[]>(`SELECT [id], [s] FROM [${table}] WHERE [id] <= ? ORDER BY [id]`, [3], { rowMode: 'array' }).map((r) => r[1])).toEqual([
        'uno',
        'two',
        'three',
      ]);
      // Nothing else ran on this thread meanwhile: the calls block it, by design.
      expect(ticked).toBe(false);
      await new Promise((r) => setImmediate(r));
      expect(ticked).toBe(true);
      // What the sync connection wrote, the pool sees.
      expect(Number((await db.executeFirst<{ n: unknown }>(`SELECT COUNT(*) AS [n] FROM [${table}] WHERE [id] <= ?`, [3]))!.n)).toBe(3);
      expect(sync.getVersionDetails()).toEqual(await db.withConnection((c) => c.getVersionDetails()));
    });

    test(target, 'sync transactions commit, roll back and nest with savepoints', async () => {
      sync.transaction((tx) => {
        expect(tx.inTransaction()).toBe(true);
        tx.execute(`INSERT INTO [${table}] ([id], [s]) VALUES (?, ?)`, [10, 'kept']);
        expect(
          outcome(() =>
            tx.transaction((inner) => {
              inner.execute(`INSERT INTO [${table}] ([id], [s]) VALUES (?, ?)`, [11, 'undone']);
              throw new Error('inner fails');
            }),
          ),
        ).toMatchObject({ message: 'inner fails' });
        tx.transaction((inner) => inner.execute(`INSERT INTO [${table}] ([id], [s]) VALUES (?, ?)`, [12, 'nested']));
      });
      expect(outcome(() => sync.transaction(() => {
        sync.execute(`INSERT INTO [${table}] ([id], [s]) VALUES (?, ?)`, [13, 'rolled back']);
        throw new Error('outer fails');
      }))).toMatchObject({ message: 'outer fails' });
      sync.beginTransaction();
      sync.execute(`INSERT INTO [${table}] ([id], [s]) VALUES (?, ?)`, [14, 'explicit']);
      expect(() => sync.beginTransaction()).toThrow(TransactionError);
      sync.rollbackTransaction();
      expect(sync.inTransaction()).toBe(false);
      const ids = await db.execute<{ id: unknown }>(`SELECT [id] FROM [${table}] WHERE [id] BETWEEN ? AND ? ORDER BY [id]`, [10, 19]);
      expect(ids.map((r) => Number(r.id))).toEqual([10, 12]);
    });

    test(target, 'values come back from a sync connection exactly as from the async path', async () => {
      const row = [
        20,
        'Zoë ✓ {"nested": [1, {"deep": null}]}',
        9007199254740993n,
        '12345.67',
        true,
        new Date('2024-01-02T03:04:05.678Z'),
        ...(t.bytes === undefined ? [] : [Buffer.from([0, 1, 2, 255])]),
      ];
      const columns = `[id], [s], [big], [d], [b], [ts]${t.bytes === undefined ? '' : ', [bytes]'}`;
      sync.execute(`INSERT INTO [${table}] (${columns}) VALUES (${row.map(() => '?').join(', ')})`, row);
      await db.execute(`INSERT INTO [${table}] (${columns}) VALUES (${row.map(() => '?').join(', ')})`, [21, ...row.slice(1)]);
      const select = `SELECT ${columns}, NULL AS [nothing], ? AS [param] FROM [${table}] WHERE [id] IN (?, ?) ORDER BY [id]`;
      const params = [{ nested: { list: [1, 'two', null] } }, 20, 21];
      const fromSync = sync.execute(select, params);
      const fromAsync = await db.execute(select, params);
      expect(fromSync).toEqual(fromAsync);
      // Same classes too (toEqual does not compare a Buffer with a Uint8Array strictly enough).
      for (const [key, value] of Object.entries(fromAsync[0]!)) {
        expect(Object.prototype.toString.call(fromSync[0]![key]), key).toBe(Object.prototype.toString.call(value));
        expect(Buffer.isBuffer(fromSync[0]![key]), key).toBe(Buffer.isBuffer(value));
      }
      // The sync connection reads what the async path wrote, and the other way round.
      expect({ ...fromSync[0], id: 0 }).toEqual({ ...fromSync[1], id: 0 });
      expect(sync.execute(select, params, { rowMode: 'array' })).toEqual(await db.execute(select, params, { rowMode: 'array' }));
    });

    test(target, 'sync errors are the same typed errors as async ones', async () => {
      const insert = `INSERT INTO [${table}] ([id], [s]) VALUES (?, ?)`;
      await db.execute(insert, [30, 'first']);
      const fromSync = outcome(() => sync.execute(insert, [30, 'again']));
      const fromAsync = await db.execute(insert, [30, 'again']).catch((e: unknown) => e);
      expect(fromSync).toBeInstanceOf(UniqueViolationError);
      expect(DalError.isInstance(fromSync)).toBe(true);
      for (const key of ['name', 'code', 'retryable', 'sqlState', 'vendorCode', 'dialect', 'constraint', 'sql', 'message'] as const) {
        expect((fromSync as Record<string, unknown>)[key], key).toEqual((fromAsync as Record<string, unknown>)[key]);
      }
      expect(((fromSync as Error).cause as Error).message).toBe(((fromAsync as Error).cause as Error).message);
      // The connection is usable afterwards, inside a transaction too.
      expect(outcome(() => sync.execute('SELEC 1'))).toMatchObject({ code: 'DAL_QUERY' });
      expect(sync.executeFirst('SELECT 1 AS [one]')).toEqual({ one: 1 });
    });

    test(target, 'a sync statement past its timeout is cancelled on the server with QueryTimeoutError', async () => {
      const timeoutMs = 500;
      const fast = target.createDatabase({ queryExecutionTimeoutMs: timeoutMs, alias: `sync_timeout_${target.name}` });
      const conn = fast.syncConnection();
      try {
        const mark = marker('sync_timeout');
        const started = performance.now();
        const error = outcome(() => conn.execute(target.slowStatement(5, mark)));
        const elapsed = performance.now() - started;
        expect(error).toBeInstanceOf(QueryTimeoutError);
        expect((error as QueryTimeoutError).timeoutMs).toBe(timeoutMs);
        expect(elapsed).toBeGreaterThanOrEqual(timeoutMs - 5);
        expect(elapsed).toBeLessThan(timeoutMs + 1_000);
        if (target.isRunningOnServer !== undefined) {
          expect(await eventually(async () => !(await target.isRunningOnServer!(db, mark)), 2_000)).toBe(true);
        }
        expect(conn.executeFirst('SELECT 2 AS [two]')).toEqual({ two: 2 });
      } finally {
        conn.release();
        await fast.close();
      }
    });

    test(target, 'sync connections are bounded by poolMax, and a released one is closed for good', async () => {
      const overrides = { poolMax: 2, alias: `sync_bound_${target.name}` };
      const dbs = [target.createDatabase(overrides), target.createDatabase(overrides), target.createDatabase(overrides)];
      try {
        const [a, b] = [dbs[0]!.syncConnection(), dbs[1]!.syncConnection()];
        expect(dbs[0]!.syncConnection()).toBe(a);
        const refused = outcome(() => dbs[2]!.syncConnection());
        expect(refused).toBeInstanceOf(PoolTimeoutError);
        expect((refused as Error).message).toContain('poolMax');
        a.release();
        expect(a.isReleased).toBe(true);
        expect(() => a.execute('SELECT 1')).toThrow(ConnectionReleasedError);
        const c = dbs[2]!.syncConnection();
        expect(c.executeFirst('SELECT 3 AS [three]')).toEqual({ three: 3 });
        expect(b.executeFirst('SELECT 4 AS [four]')).toEqual({ four: 4 });
      } finally {
        for (const each of dbs) await each.close();
      }
    });
  });
}
