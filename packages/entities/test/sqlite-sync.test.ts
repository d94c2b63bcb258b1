import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseConfig, EntityError, QueryTimeoutError, type SyncConnection } from '@dal/core';
import { SqliteDatabase } from '@dal/driver-sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findEntities, saveEntity } from '../src/index.js';
import { entityName, slowInserts } from './helpers.js';

describe('@dal/entities on a SQLite SyncConnection', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dal-entities-sync-'));
  const db = new SqliteDatabase(new DatabaseConfig({ database: join(dir, 'sync.db'), alias: 'entities_sync' }));
  let conn: SyncConnection;

  beforeAll(() => {
    conn = db.syncConnection();
  });

  afterAll(async () => {
    conn.release();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs every operation synchronously, sharing the SQL of the async ones', () => {
    const users = entityName('sync_users');
    const [phil, karen] = conn.saveEntities(users, [{ name: 'Phil', age: 30 }, { name: 'Karen', surname: 'Brown', age: 25 }]);
    expect(phil!.id).toBeTypeOf('string');
    const updated = conn.saveEntity(users, { id: phil!.id, name: 'Bob', department: 'Engineering', since: new Date('2020-01-01T00:00:00.000Z') });
    expect(updated).not.toBeInstanceOf(Promise);
    expect(conn.getEntity(users, phil!.id, { deserialize: true })).toMatchObject({ name: 'Bob', age: 30, department: 'Engineering', since: new Date('2020-01-01T00:00:00.000Z') });
    expect(conn.findEntities(users, { where: '[age] < ?', params: [28], deserialize: true }).map((u) => u['name'])).toEqual(['Karen']);
    expect(findEntities(conn, users, { orderBy: '[name] DESC' }).map((u) => u['name'])).toEqual(['Karen', 'Bob']);
    expect(conn.countEntities(users, { where: '[department] = ?', params: ['Engineering'] })).toBe(1);
    expect(conn.deleteEntity(users, karen!.id)).toBe(true);
    expect(conn.getEntity(users, karen!.id)).toBeNull();
    expect(conn.restoreEntity(users, karen!.id)).toBe(true);
    expect(conn.getEntityHistory(users, karen!.id).map((h) => h.version)).toEqual([1, 2, 3]);
    const v1 = conn.getEntityByVersion(users, phil!.id, 1);
    saveEntity(conn, users, v1!);
    expect(conn.getEntity(users, phil!.id, { deserialize: true })).toMatchObject({ name: 'Phil', department: null, since: null });
    expect(() => conn.getEntity('bad name', 'x')).toThrow(EntityError);
    // The original's contract: null / false for what does not exist, what was stored from a save.
    expect(conn.getEntityByVersion(users, phil!.id, 99)).toBeNull();
    expect(conn.deleteEntity(users, 'missing')).toBe(false);
    expect(conn.restoreEntity(users, 'missing')).toBe(false);
    expect(updated).toMatchObject({ id: phil!.id, name: 'Bob', created_at: phil!.created_at, created_by: null, deleted_at: null });
    expect(updated.updated_at).toBeInstanceOf(Date);
    expect(conn.deleteEntity(users, karen!.id, { permanent: true })).toBe(true);
    expect(conn.getEntityHistory(users, karen!.id).map((h) => h.history_comment)).toEqual([null, 'deleted', 'restored', 'purged']);
  });

  it('bounds a whole operation by timeoutMs between statements, and rolls it back', async () => {
    const slow = entityName('sync_slow');
    conn.saveEntity(slow, { a: 0, b: 0, c: 0, d: 0 });
    const undo = await slowInserts('sqlite', conn, slow);
    try {
      let single = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 2; i++) {
        const started = performance.now();
        conn.saveEntity(slow, { a: 1 });
        single = Math.min(single, performance.now() - started);
      }
      // Four slow INSERTs, each within the budget: a synchronous statement cannot be interrupted,
      // so the operation stops at the first statement boundary past the deadline.
      const budget = Math.ceil(single * 1.5);
      let error: unknown;
      try {
        conn.saveEntities(slow, [{ a: 2 }, { b: 2 }, { c: 2 }, { d: 2 }], { timeoutMs: budget });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(QueryTimeoutError);
      expect((error as QueryTimeoutError).timeoutMs).toBe(budget);
      expect(conn.inTransaction()).toBe(false);
      expect(conn.countEntities(slow)).toBe(3);
      expect(conn.saveEntities(slow, [{ a: 2 }, { b: 2 }])).toHaveLength(2);
    } finally {
      for (const sql of undo) conn.execute(sql);
    }
  });

  it('commits and rolls back with the sync transaction', () => {
    const notes = entityName('sync_notes');
    conn.saveEntity(notes, { text: 'kept' });
    expect(() =>
      conn.transaction((tx) => {
        tx.saveEntity(notes, { text: 'lost', extra: true });
        throw new Error('undo');
      }),
    ).toThrow('undo');
    expect(conn.findEntities(notes).map((n) => n['text'])).toEqual(['kept']);
    // The rolled-back transaction also took the new column with it; the cache recovers.
    const again = conn.saveEntity(notes, { text: 'again', extra: false });
    expect(conn.getEntity(notes, again.id, { deserialize: true })!['extra']).toBe(false);
  });
});
