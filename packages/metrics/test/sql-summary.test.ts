import { describe, expect, it } from 'vitest';
import { redactSql, summarizeSql } from '../src/index.js';

describe('redactSql', () => {
  it('replaces string and number literals, drops comments, keeps identifiers and placeholders', () => {
    expect(redactSql("SELECT * FROM t1 WHERE a = 'x''y' AND b > 10.5 AND c = $1 -- note")).toBe('SELECT * FROM t1 WHERE a = ? AND b > ? AND c = $1 ');
    expect(redactSql('INSERT INTO `orders` (a, "b") VALUES (?, 1e3, 0x1F)')).toBe('INSERT INTO `orders` (a, "b") VALUES (?, ?, ?)');
    expect(redactSql("SELECT $$secret$$, E'it\\'s', /* hidden */ \"col 1\"")).toBe('SELECT ?, ?,  "col 1"');
  });
});

describe('summarizeSql', () => {
  it.each([
    ['SELECT "name" FROM "users" WHERE "id" = $1', 'SELECT', 'users'],
    ['select * from public.users', 'SELECT', 'public.users'],
    ['INSERT INTO `orders` (a) VALUES (?)', 'INSERT', 'orders'],
    ['UPDATE items SET x = 1', 'UPDATE', 'items'],
    ['DELETE FROM a WHERE id IN (SELECT id FROM b)', 'DELETE', undefined],
    ['SELECT * FROM a JOIN b ON a.id = b.id', 'SELECT', undefined],
    ['SELECT * FROM a, b', 'SELECT', undefined],
    ['SELECT 1', 'SELECT', undefined],
    ['BEGIN', 'BEGIN', undefined],
    ['  ', undefined, undefined],
  ])('%s', (sql, operation, collection) => {
    expect(summarizeSql(sql)).toEqual({ operation, collection });
  });
});
