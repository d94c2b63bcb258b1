import type { Database } from '@dal/core';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { conformanceTest as test, tableName } from '../harness.js';
import type { ConformanceTarget } from '../target.js';

/** Values that must round-trip alike on every backend (the common subset; see each driver's README for the rest). */
export function typesSuite(target: ConformanceTarget): void {
  describe('types', () => {
    let db: Database;
    const table = tableName(target, 'types');
    const t = target.types;

    beforeAll(async () => {
      db = target.createDatabase();
      await db.execute(`DROP TABLE IF EXISTS [${table}]`);
      await db.execute(
        `CREATE TABLE [${table}] ([id] ${t.int} PRIMARY KEY, [s] ${t.text}, [i] ${t.int}, [big] ${t.bigint}, [d] ${t.decimal}, [b] ${t.boolean}, [ts] ${t.timestamp})`,
      );
    });
    afterAll(async () => {
      await db.execute(`DROP TABLE IF EXISTS [${table}]`).catch(() => undefined);
      await db.close();
    });

    test(target, 'strings (unicode, quotes, empty), integers and null round-trip', async () => {
      const text = "Zoë's \"quoted\" ✓ [not an ident] ? ??";
      await db.execute(`INSERT INTO [${table}] ([id], [s], [i], [big]) VALUES (?, ?, ?, ?)`, [1, text, -42, 12]);
      await db.execute(`INSERT INTO [${table}] ([id], [s], [i]) VALUES (?, ?, ?)`, [2, '', null]);
      const rows = await db.execute<{ s: string; i: number | null; big: unknown }>(`SELECT [s], [i], [big] FROM [${table}] WHERE [id] IN (?, ?) ORDER BY [id]`, [1, 2]);
      expect(rows[0]).toEqual({ s: text, i: -42, big: 12 });
      expect(rows[1]).toEqual({ s: '', i: null, big: null });
    });

    test(target, '64-bit integers beyond 2^53 come back exact, as bigint', async () => {
      const big = 9007199254740993n; // 2^53 + 1: not representable as a JS number
      await db.execute(`INSERT INTO [${table}] ([id], [big]) VALUES (?, ?)`, [10, big]);
      const rows = await db.execute<{ big: unknown }>(`SELECT [big] FROM [${table}] WHERE [id] = ?`, [10]);
      expect(rows[0]!.big).toBe(big);
    });

    test(target, 'booleans and undefined are accepted as parameters', async () => {
      await db.execute(`INSERT INTO [${table}] ([id], [b], [s]) VALUES (?, ?, ?), (?, ?, ?)`, [30, true, undefined, 31, false, 'x']);
      const rows = await db.execute<{ b: unknown; s: unknown }>(`SELECT [b], [s] FROM [${table}] WHERE [id] IN (?, ?) ORDER BY [id]`, [30, 31]);
      // A boolean column reads back as true/false (PostgreSQL) or 1/0 (MySQL, SQLite).
      expect([true, 1]).toContain(rows[0]!.b);
      expect([false, 0]).toContain(rows[1]!.b);
      expect(rows[0]!.s).toBeNull();
      const filtered = await db.execute<{ id: number }>(`SELECT [id] FROM [${table}] WHERE [b] = ?`, [true]);
      expect(filtered.map((r) => Number(r.id))).toEqual([30]);
    });

    test(target, 'dates compare and order alike', async () => {
      const older = new Date('2024-01-02T03:04:05.678Z');
      const newer = new Date('2025-06-07T08:09:10.123Z');
      await db.execute(`INSERT INTO [${table}] ([id], [ts]) VALUES (?, ?), (?, ?)`, [4, older, 5, newer]);
      const rows = await db.execute<{ id: number }>(`SELECT [id] FROM [${table}] WHERE [ts] > ? ORDER BY [id]`, [new Date('2024-12-31T00:00:00Z')]);
      expect(rows.map((r) => Number(r.id))).toEqual([5]);
    });

    test(target, 'exact decimals are not rounded through floating point', async () => {
      await db.execute(`INSERT INTO [${table}] ([id], [d]) VALUES (?, ?)`, [6, '12345.67']);
      const rows = await db.execute<{ d: unknown }>(`SELECT [d] FROM [${table}] WHERE [id] = ?`, [6]);
      expect(Number(rows[0]!.d)).toBe(12345.67);
    });
  });
}
