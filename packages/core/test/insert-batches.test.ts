import { describe, expect, it } from 'vitest';
import { insertBatches } from '../src/connection/insert-batches.js';

const rows = (n: number, width = 2): unknown[][] => Array.from({ length: n }, (_, i) => Array.from({ length: width }, (_, j) => i * width + j));
const sizes = (sql: string, n: number, width = 2): number[] => insertBatches(sql, rows(n, width))!.map((b) => b.params.length / width);

describe('insertBatches (executeMany on a backend with multi-row INSERT)', () => {
  it('rewrites a plain single-row INSERT, keeping every value in order', () => {
    const batches = insertBatches('INSERT INTO [t] ([a], [b]) VALUES (?, ?)', rows(3))!;
    expect(batches).toEqual([
      { sql: 'INSERT INTO [t] ([a], [b]) VALUES (?, ?), (?, ?)', params: [0, 1, 2, 3] },
      { sql: 'INSERT INTO [t] ([a], [b]) VALUES (?, ?)', params: [4, 5] },
    ]);
  });

  it('uses power-of-two batches up to 512 rows, and ends with one row so insertId is the last row', () => {
    expect(sizes('insert into t values (?, ?)', 2)).toEqual([1, 1]);
    expect(sizes('insert into t values (?, ?)', 1_500)).toEqual([512, 512, 256, 128, 64, 16, 8, 2, 1, 1]);
    const all = sizes('insert into t values (?, ?)', 10_000);
    expect(all.reduce((a, b) => a + b, 0)).toBe(10_000);
    expect(new Set(all).size).toBeLessThanOrEqual(10);
    expect(all.at(-1)).toBe(1);
  });

  it('stays under 32,766 bound values per statement', () => {
    const wide = sizes(`INSERT INTO t VALUES (${Array(200).fill('?').join(', ')})`, 1_000, 200);
    expect(Math.max(...wide) * 200).toBeLessThanOrEqual(32_766);
    expect(wide.reduce((a, b) => a + b, 0)).toBe(1_000);
  });

  it('keeps statements around 1 MB of values, counting objects as the JSON sent for them', () => {
    const big = 'x'.repeat(100_000);
    const batches = insertBatches('INSERT INTO t (a) VALUES (?)', Array.from({ length: 100 }, () => [big]))!;
    expect(Math.max(...batches.map((b) => b.params.length))).toBeLessThanOrEqual(2);
    expect(batches.reduce((n, b) => n + b.params.length, 0)).toBe(100);
    const doc = { body: 'y'.repeat(100_000) };
    const docs = insertBatches('INSERT INTO t (a) VALUES (?)', Array.from({ length: 100 }, () => [doc]))!;
    expect(Math.max(...docs.map((b) => b.params.length))).toBeLessThanOrEqual(2);
    // Small rows still go 512 at a time.
    expect(insertBatches('INSERT INTO t (a) VALUES (?)', Array.from({ length: 1_000 }, (_, i) => [{ i }]))![0]!.params).toHaveLength(512);
  });

  it('does not flatten values that are arrays themselves', () => {
    const batches = insertBatches('INSERT INTO t (tags) VALUES (?)', [[['a', 'b']], [['c']]])!;
    expect(batches.map((b) => b.params)).toEqual([[['a', 'b']], [['c']]]);
  });

  it('accepts NULL and DEFAULT in the tuple, quoted names and a trailing semicolon', () => {
    expect(insertBatches('INSERT INTO "s"."t" ("a", `b`, [c]) VALUES (?, NULL, DEFAULT);', [[1], [2], [3]])?.[0]?.sql).toBe(
      'INSERT INTO "s"."t" ("a", `b`, [c]) VALUES (?, NULL, DEFAULT), (?, NULL, DEFAULT)',
    );
  });

  it('leaves everything else row by row', () => {
    for (const sql of [
      'INSERT INTO t (a) VALUES (?) RETURNING id',
      'INSERT INTO t (a) VALUES (?) ON CONFLICT DO NOTHING',
      'INSERT INTO t (a) VALUES (?) ON DUPLICATE KEY UPDATE a = a',
      "INSERT INTO t (a, b) VALUES (?, 'x')",
      'INSERT INTO t (a) VALUES (lower(?))',
      'INSERT INTO t (a) SELECT ?',
      'INSERT INTO t (a) VALUES ($1)',
      'INSERT INTO t (a) VALUES (??)',
      'UPDATE t SET a = ? WHERE id = 1',
      'INSERT INTO t (a) VALUES (?); DELETE FROM t',
    ]) {
      expect(insertBatches(sql, [[1], [2]]), sql).toBeUndefined();
    }
    expect(insertBatches('INSERT INTO t (a) VALUES (?)', [[1]])).toBeUndefined();
    expect(insertBatches('INSERT INTO t DEFAULT VALUES', [[], []])).toBeUndefined();
  });
});
