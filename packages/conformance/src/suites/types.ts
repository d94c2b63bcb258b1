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
        `CREATE TABLE [${table}] ([id] ${t.int} PRIMARY KEY, [s] ${t.text}, [i] ${t.int}, [big] ${t.bigint}, [d] ${t.decimal}, [f] ${t.decimal}, [ts] ${t.timestamp})`,
      );
    });
    afterAll(async () => {
      await db.execute(`DROP TABLE IF EXISTS [${table}]`).catch(() => undefined);
      await db.close();
    });

    test(target, 'strings (unicode, quotes, empty), integers, null and 64-bit integers round-trip', async () => {
      const text = "Zoë's \"quoted\" ✓ [not an ident] ? ??";
      const big = 9007199254740993n; // 2^53 + 1: not representable as a JS number
      await db.execute(`INSERT INTO [${table}] ([id], [s], [i], [big]) VALUES (?, ?, ?, ?)`, [1, text, -42, big]);
      await db.execute(`INSERT INTO [${table}] ([id], [s], [i], [big]) VALUES (?, ?, ?, ?)`, [2, '', null, 12]);
      const rows = await db.execute<{ s: string; i: number | null; big: unknown }>(`SELECT [s], [i], [big] FROM [${table}] WHERE [id] IN (?, ?) ORDER BY [id]`, [1, 2]);
      expect(rows[0]!.s).toBe(text);
      expect(rows[0]!.i).toBe(-42);
      expect(BigInt(rows[0]!.big as bigint)).toBe(big);
      expect(rows[1]!.s).toBe('');
      expect(rows[1]!.i).toBeNull();
      expect(rows[1]!.big).toBe(12);
    });

    test(target, 'booleans and undefined are accepted as parameters', async () => {
      await db.execute(`INSERT INTO [${table}] ([id], [i], [s]) VALUES (?, ?, ?)`, [3, true, undefined]);
      const rows = await db.execute<{ i: unknown; s: unknown }>(`SELECT [i], [s] FROM [${table}] WHERE [id] = ?`, [3]);
      expect(Number(rows[0]!.i)).toBe(1);
      expect(rows[0]!.s).toBeNull();
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
