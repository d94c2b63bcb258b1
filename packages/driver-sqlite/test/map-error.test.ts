import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CheckViolationError,
  ConnectionError,
  ForeignKeyViolationError,
  NotNullViolationError,
  QueryError,
  SerializationFailureError,
  TimeoutError,
  UniqueViolationError,
} from '@dal/core';
import { mapSqliteConnectError, mapSqliteError } from '../src/map-error.js';
import { tempDir, thrown } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function schemaDb(): Database.Database {
  const db = new Database(':memory:');
  db.pragma('foreign_keys = ON');
  db.exec(`
    CREATE TABLE driver_sqlite_parent (id INTEGER PRIMARY KEY, email TEXT UNIQUE, a INT, b INT, UNIQUE (a, b));
    CREATE TABLE driver_sqlite_child (id INTEGER PRIMARY KEY, parent_id INT NOT NULL REFERENCES driver_sqlite_parent(id),
      qty INT CONSTRAINT qty_positive CHECK (qty > 0));
    INSERT INTO driver_sqlite_parent (id, email, a, b) VALUES (1, 'secret-value@example.com', 1, 2);
  `);
  return db;
}

describe('mapSqliteError with real better-sqlite3 errors', () => {
  const db = schemaDb();
  const cases: Array<[string, string, new (...args: never[]) => Error, string, Record<string, unknown>]> = [
    ['unique', "INSERT INTO driver_sqlite_parent (id, email) VALUES (2, 'secret-value@example.com')", UniqueViolationError, 'SQLITE_CONSTRAINT_UNIQUE', { table: 'driver_sqlite_parent', column: 'email' }],
    ['composite unique', 'INSERT INTO driver_sqlite_parent (id, a, b) VALUES (3, 1, 2)', UniqueViolationError, 'SQLITE_CONSTRAINT_UNIQUE', { table: 'driver_sqlite_parent', column: undefined }],
    ['primary key', 'INSERT INTO driver_sqlite_parent (id) VALUES (1)', UniqueViolationError, 'SQLITE_CONSTRAINT_PRIMARYKEY', { table: 'driver_sqlite_parent', column: 'id' }],
    ['foreign key', 'INSERT INTO driver_sqlite_child (parent_id, qty) VALUES (99, 1)', ForeignKeyViolationError, 'SQLITE_CONSTRAINT_FOREIGNKEY', {}],
    ['not null', 'INSERT INTO driver_sqlite_child (parent_id, qty) VALUES (NULL, 1)', NotNullViolationError, 'SQLITE_CONSTRAINT_NOTNULL', { table: 'driver_sqlite_child', column: 'parent_id' }],
    ['check', 'INSERT INTO driver_sqlite_child (parent_id, qty) VALUES (1, -5)', CheckViolationError, 'SQLITE_CONSTRAINT_CHECK', { constraint: 'qty_positive' }],
    ['syntax', 'SELEC 1', QueryError, 'SQLITE_ERROR', {}],
    ['missing table', 'SELECT * FROM driver_sqlite_nope', QueryError, 'SQLITE_ERROR', {}],
  ];

  it.each(cases)('%s', (_label, sql, expectedClass, code, fields) => {
    const native = thrown(() => db.prepare(sql).run());
    expect((native as { code?: string }).code).toBe(code);
    const mapped = mapSqliteError(native, { alias: 'main', sql });
    expect(mapped).toBeInstanceOf(expectedClass);
    expect(mapped.constructor).toBe(expectedClass);
    expect(mapped.cause).toBe(native);
    expect(mapped.message).toBe(`main: ${(native as Error).message}`);
    expect(mapped.retryable).toBe(false);
    const q = mapped as QueryError;
    expect(q.dialect).toBe('sqlite');
    expect(q.vendorCode).toBe(code);
    expect(q.sql).toBe(sql);
    for (const [key, value] of Object.entries(fields)) expect(q[key as keyof QueryError]).toBe(value);
  });

  it('never puts bound parameter values in the message', () => {
    const secret = 'very-secret-param@example.com';
    db.prepare('INSERT INTO driver_sqlite_parent (id, email) VALUES (?, ?)').run(10, secret);
    const sql = 'INSERT INTO driver_sqlite_parent (id, email) VALUES (?, ?)';
    const mapped = mapSqliteError(thrown(() => db.prepare(sql).run(11, secret)), { alias: 'main', sql });
    expect(mapped).toBeInstanceOf(UniqueViolationError);
    expect(mapped.message).not.toContain(secret);
    expect(JSON.stringify(mapped)).not.toContain(secret);
  });

  it('maps binding errors without a code to QueryError', () => {
    const native = thrown(() => db.prepare('SELECT ?').all(1, 2));
    const mapped = mapSqliteError(native, { alias: 'main' });
    expect(mapped).toBeInstanceOf(QueryError);
    expect((mapped as QueryError).vendorCode).toBeUndefined();
  });

  it('maps a closed handle to a retryable ConnectionError', () => {
    const closed = new Database(':memory:');
    closed.close();
    const mapped = mapSqliteError(thrown(() => closed.prepare('SELECT 1')), { alias: 'main' });
    expect(mapped).toBeInstanceOf(ConnectionError);
    expect(mapped.retryable).toBe(true);
  });
});

describe('locking errors produced with two real connections', () => {
  it('SQLITE_BUSY is a retryable QueryError', () => {
    const file = tmp.file('busy.db');
    const a = new Database(file);
    a.pragma('journal_mode = WAL');
    a.exec('CREATE TABLE driver_sqlite_busy (x INT)');
    const b = new Database(file, { timeout: 0 });
    a.exec('BEGIN IMMEDIATE');
    try {
      const native = thrown(() => b.exec('BEGIN IMMEDIATE'));
      expect((native as { code?: string }).code).toBe('SQLITE_BUSY');
      const mapped = mapSqliteError(native, { alias: 'main', sql: 'BEGIN IMMEDIATE' });
      expect(mapped.constructor).toBe(QueryError);
      expect(mapped.retryable).toBe(true);
    } finally {
      a.exec('ROLLBACK');
      a.close();
      b.close();
    }
  });

  it('SQLITE_BUSY_SNAPSHOT (stale WAL snapshot upgraded to write) is a SerializationFailureError', () => {
    const file = tmp.file('snapshot.db');
    const a = new Database(file);
    a.pragma('journal_mode = WAL');
    a.exec('CREATE TABLE driver_sqlite_snap (x INT); INSERT INTO driver_sqlite_snap VALUES (1)');
    const b = new Database(file, { timeout: 0 });
    try {
      b.exec('BEGIN');
      b.prepare('SELECT count(*) FROM driver_sqlite_snap').get();
      a.exec('INSERT INTO driver_sqlite_snap VALUES (2)');
      const native = thrown(() => b.exec('INSERT INTO driver_sqlite_snap VALUES (3)'));
      expect((native as { code?: string }).code).toBe('SQLITE_BUSY_SNAPSHOT');
      const mapped = mapSqliteError(native, { alias: 'main' });
      expect(mapped).toBeInstanceOf(SerializationFailureError);
      expect(mapped.retryable).toBe(true);
    } finally {
      if (b.inTransaction) b.exec('ROLLBACK');
      a.close();
      b.close();
    }
  });
});

describe('connection-level errors', () => {
  it('SQLITE_CANTOPEN is a non-retryable ConnectionError naming alias and file', () => {
    const file = tmp.file('missing.db');
    const native = thrown(() => new Database(file, { fileMustExist: true }));
    expect((native as { code?: string }).code).toBe('SQLITE_CANTOPEN');
    expect(mapSqliteError(native, { alias: 'main' })).toBeInstanceOf(ConnectionError);
    const mapped = mapSqliteConnectError(native, 'main', file);
    expect(mapped).toBeInstanceOf(ConnectionError);
    expect(mapped.retryable).toBe(false);
    expect(mapped.message).toContain('main');
    expect(mapped.message).toContain(file);
  });

  it('SQLITE_NOTADB is a non-retryable ConnectionError', () => {
    const file = tmp.file('garbage.db');
    writeFileSync(file, 'this is definitely not an SQLite database file, just some text'.repeat(100));
    const db = new Database(file);
    try {
      const native = thrown(() => db.prepare('SELECT * FROM sqlite_master').all());
      expect((native as { code?: string }).code).toBe('SQLITE_NOTADB');
      const mapped = mapSqliteError(native, { alias: 'main' });
      expect(mapped).toBeInstanceOf(ConnectionError);
      expect(mapped.retryable).toBe(false);
    } finally {
      db.close();
    }
  });

  it('a missing directory is a non-retryable ConnectionError', () => {
    const native = thrown(() => new Database(tmp.file('no/such/dir/x.db')));
    const mapped = mapSqliteError(native, { alias: 'main' });
    expect(mapped).toBeInstanceOf(ConnectionError);
    expect(mapped.retryable).toBe(false);
  });
});

describe('other inputs', () => {
  it('SQLITE_INTERRUPT stays a QueryError with its vendor code', () => {
    const mapped = mapSqliteError(new Database.SqliteError('interrupted', 'SQLITE_INTERRUPT'), { alias: 'main' });
    expect(mapped.constructor).toBe(QueryError);
    expect((mapped as QueryError).vendorCode).toBe('SQLITE_INTERRUPT');
  });

  it('passes DalErrors through untouched', () => {
    const original = new TimeoutError('main: slow', 10);
    expect(mapSqliteError(original, { alias: 'other' })).toBe(original);
  });
});
