import { QueryError, UniqueViolationError, type Dialect } from '@dal/core';
import { describe, expect, it } from 'vitest';
import { entityDialect } from '../src/entity-dialect.js';

/** A plugin's dialect that describes no table SQL: entities fall back to standard SQL. */
const plain: Dialect = {
  name: 'plain',
  translateTarget: { name: 'plain', identifierQuote: '"', placeholder: 'question' },
  quoteIdentifier: (name) => `"${name.replaceAll('"', '""')}"`,
  beginTransactionSql: () => ['BEGIN'],
  savepointSql: (n) => `SAVEPOINT ${n}`,
  releaseSavepointSql: (n) => `RELEASE SAVEPOINT ${n}`,
  rollbackToSavepointSql: (n) => `ROLLBACK TO SAVEPOINT ${n}`,
  mapError: (error) => new QueryError(String(error), { dialect: 'plain' }),
};

describe('entity SQL of a dialect that describes none', () => {
  const sql = entityDialect(plain);

  it('is standard SQL', () => {
    expect(sql.fieldColumn('date')).toBe('TIMESTAMP WITH TIME ZONE');
    expect(sql.addColumn('t', 'n', sql.fieldColumn('number'))).toBe('ALTER TABLE "t" ADD COLUMN "n" DOUBLE PRECISION');
    expect(sql.createIndex('t', { name: 'i', columns: ['a', 'b'], unique: true })).toBe('CREATE UNIQUE INDEX "i" ON "t" ("a", "b")');
    expect(sql.setNotNull('t', 'a', 'TEXT')).toBe('ALTER TABLE "t" ALTER COLUMN "a" SET NOT NULL');
    expect(sql.migrationLock).toBeUndefined();
    expect(sql.changeColumn('t', 'n', 'number', 'string')).toEqual(['ALTER TABLE "t" ALTER COLUMN "n" SET DATA TYPE TEXT']);
    expect(sql.changeColumn('t', 'n', 'string', 'json')).toEqual([]);
    expect(sql.limitOffset(10, 20)).toBe(' OFFSET 20 ROWS FETCH FIRST 10 ROWS ONLY');
    expect(sql.tableExists('t').sql).toContain('information_schema.tables');
    expect(sql.ddlLock).toBeUndefined();
    expect(sql.lockTimeout).toBeUndefined();
  });

  it('refuses, rather than guesses, what standard SQL cannot express', () => {
    // Replacing the field-type map instead of merging it would lose types.
    expect(() => sql.upsertTail('t', ['a'], '_types')).toThrow(/describes no JSON merge/);
    expect(() => sql.indexesOf('t')).toThrow(/describes no catalog of indexes/);
  });

  it('classifies schema errors by SQL-standard SQLSTATE only', () => {
    expect(sql.errorKind(new QueryError('x', { dialect: 'plain', sqlState: '42S02' }))).toBe('missing-object');
    expect(sql.errorKind(new QueryError('x', { dialect: 'plain', sqlState: '42S21' }))).toBe('duplicate-object');
    expect(sql.errorKind(new QueryError('no such table: t', { dialect: 'plain' }))).toBeUndefined();
    expect(sql.errorKind(new UniqueViolationError('x', { dialect: 'plain', sqlState: '23505' }))).toBeUndefined();
    expect(sql.errorKind(new Error('42S02'))).toBeUndefined();
  });

  it('takes what a dialect describes over the defaults', () => {
    const own = entityDialect({ ...plain, schemaSql: { columnTypes: { text: 'CLOB', double: 'FLOAT', bigint: 'NUMBER(19)', boolean: 'NUMBER(1)', timestamp: 'TIMESTAMP' } }, classifySchemaError: () => 'lock-timeout' });
    expect(own.addColumn('t', 'b', own.fieldColumn('boolean'))).toBe('ALTER TABLE "t" ADD COLUMN "b" NUMBER(1)');
    expect(own.typedParam('timestamp')).toBe('CAST(? AS TIMESTAMP)');
    expect(own.textColumn).toBe('CLOB');
    expect(own.errorKind(new QueryError('x', { dialect: 'plain' }))).toBe('lock-timeout');
  });
});
