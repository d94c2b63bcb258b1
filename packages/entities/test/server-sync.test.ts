import type { SyncConnection } from '@dal/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../src/index.js';
import { entityName, mysqlTarget, postgresTarget, type EntityTarget } from './helpers.js';

/** The entity methods on the worker-backed sync connections of PostgreSQL and MySQL. */
function describeServerSync(target: EntityTarget): void {
  describe(`@dal/entities on a ${target.name} SyncConnection`, () => {
    const db = target.createDatabase(`entities_sync_${target.name}`);
    let conn: SyncConnection;

    beforeAll(() => {
      conn = db.syncConnection();
    });
    afterAll(async () => {
      conn.release();
      await db.close();
      target.dispose();
    });

    it('SyncConnection has the entity methods, and they return values, not promises', async () => {
      const users = entityName('sync_users');
      const since = new Date('2020-01-01T00:00:00.000Z');
      const [phil, karen] = conn.saveEntities(users, [{ name: 'Phil', age: 30 }, { name: 'Karen', surname: 'Brown', age: 25 }]);
      expect(phil!.id).toBeTypeOf('string');
      const updated = conn.saveEntity(users, { id: phil!.id, name: 'Bob', department: 'Engineering', since, prefs: { theme: 'dark', tags: ['a', 'b'] } });
      expect(updated).not.toBeInstanceOf(Promise);
      expect(conn.getEntity(users, phil!.id, { deserialize: true })).toMatchObject({ name: 'Bob', age: 30, department: 'Engineering', since, prefs: { theme: 'dark', tags: ['a', 'b'] } });
      expect(conn.findEntities(users, { where: '[age] < ?', params: [28] }).map((u) => u['name'])).toEqual(['Karen']);
      expect(conn.countEntities(users, { where: '[department] = ?', params: ['Engineering'] })).toBe(1);
      expect(conn.deleteEntity(users, karen!.id)).toBe(true);
      expect(conn.getEntity(users, karen!.id)).toBeNull();
      expect(conn.restoreEntity(users, karen!.id)).toBe(true);
      expect(conn.getEntityHistory(users, karen!.id).map((h) => h.version)).toEqual([1, 2, 3]);
      expect(conn.getEntityByVersion(users, phil!.id, 1, { deserialize: true })).toMatchObject({ name: 'Phil', age: 30 });
      // The async path reads what the sync connection stored.
      expect(await db.withConnection((c) => c.getEntity(users, phil!.id, { deserialize: true }))).toMatchObject({ name: 'Bob', since });
    });

    it('entity writes inside a sync transaction roll back with it', () => {
      const items = entityName('sync_items');
      const kept = conn.saveEntity(items, { label: 'kept' });
      expect(() =>
        conn.transaction((tx) => {
          tx.saveEntity(items, { id: kept.id, label: 'changed' });
          throw new Error('undo');
        }),
      ).toThrow('undo');
      expect(conn.getEntity(items, kept.id)).toMatchObject({ label: 'kept' });
    });
  });
}

describeServerSync(postgresTarget());
describeServerSync(mysqlTarget());
