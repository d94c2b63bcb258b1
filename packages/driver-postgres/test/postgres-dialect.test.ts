import { TransactionError, type IsolationLevel } from '@dal/core';
import { describe, expect, it } from 'vitest';
import { postgresDialect } from '../src/index.js';

describe('postgresDialect', () => {
  it('names the built-in translate target', () => {
    expect(postgresDialect.name).toBe('postgres');
    expect(postgresDialect.translateTarget).toBe('postgres');
  });

  it.each([
    ['users', '"users"'],
    ['col name', '"col name"'],
    ['say "hi"', '"say ""hi"""'],
    ['"', '""""'],
  ])('quotes %s as %s', (name, quoted) => {
    expect(postgresDialect.quoteIdentifier(name)).toBe(quoted);
  });

  it.each([
    [undefined, 'BEGIN'],
    ['read uncommitted', 'BEGIN ISOLATION LEVEL READ UNCOMMITTED'],
    ['read committed', 'BEGIN ISOLATION LEVEL READ COMMITTED'],
    ['repeatable read', 'BEGIN ISOLATION LEVEL REPEATABLE READ'],
    ['serializable', 'BEGIN ISOLATION LEVEL SERIALIZABLE'],
  ] as const)('begins a transaction at %s', (level, sql) => {
    expect(postgresDialect.beginTransactionSql(level)).toEqual([sql]);
  });

  it('rejects an unknown isolation level instead of splicing it into SQL', () => {
    expect(() => postgresDialect.beginTransactionSql('snapshot; DROP TABLE x' as IsolationLevel)).toThrow(TransactionError);
    expect(() => postgresDialect.beginTransactionSql('toString' as IsolationLevel)).toThrow(TransactionError);
  });

  it('writes savepoint statements with quoted names', () => {
    expect(postgresDialect.savepointSql('sp_1')).toBe('SAVEPOINT "sp_1"');
    expect(postgresDialect.releaseSavepointSql!('sp_1')).toBe('RELEASE SAVEPOINT "sp_1"');
    expect(postgresDialect.rollbackToSavepointSql('a"b')).toBe('ROLLBACK TO SAVEPOINT "a""b"');
  });
});
