import {
  ForeignKeyViolationError,
  NotNullViolationError,
  QueryError,
  UniqueViolationError,
  type Database,
} from '@dal/core';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { conformanceTest as test, tableName } from '../harness.js';
import type { ConformanceTarget } from '../target.js';

/** The same server-side failure maps to the same error class on every backend. */
export function errorsSuite(target: ConformanceTarget): void {
  describe('errors', () => {
    let db: Database;
    const parent = tableName(target, 'parent');
    const child = tableName(target, 'child');
    const { int, varchar } = target.types;

    beforeAll(async () => {
      db = target.createDatabase();
      await db.execute(`DROP TABLE IF EXISTS [${child}]`);
      await db.execute(`DROP TABLE IF EXISTS [${parent}]`);
      await db.execute(`CREATE TABLE [${parent}] ([id] ${int} PRIMARY KEY, [email] ${varchar}(100) NOT NULL UNIQUE)`);
      await db.execute(
        `CREATE TABLE [${child}] ([id] ${int} PRIMARY KEY, [parent_id] ${int} NOT NULL, FOREIGN KEY ([parent_id]) REFERENCES [${parent}] ([id]))`,
      );
      await db.execute(`INSERT INTO [${parent}] ([id], [email]) VALUES (?, ?)`, [1, 'a@example.com']);
    });
    afterAll(async () => {
      await db.execute(`DROP TABLE IF EXISTS [${child}]`).catch(() => undefined);
      await db.execute(`DROP TABLE IF EXISTS [${parent}]`).catch(() => undefined);
      await db.close();
    });

    test(target, 'a duplicate key is UniqueViolationError', async () => {
      const err = await db.execute(`INSERT INTO [${parent}] ([id], [email]) VALUES (?, ?)`, [2, 'a@example.com']).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UniqueViolationError);
      expect(err).toBeInstanceOf(QueryError);
      expect((err as UniqueViolationError).code).toBe('DAL_UNIQUE_VIOLATION');
      expect((err as UniqueViolationError).message).not.toContain('a@example.com'.replace('a@', 'zz'));
      expect((err as UniqueViolationError).cause).toBeDefined();
    });

    test(target, 'a duplicate primary key is UniqueViolationError', async () => {
      const err = await db.execute(`INSERT INTO [${parent}] ([id], [email]) VALUES (?, ?)`, [1, 'other@example.com']).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UniqueViolationError);
    });

    test(target, 'a missing parent is ForeignKeyViolationError', async () => {
      const err = await db.execute(`INSERT INTO [${child}] ([id], [parent_id]) VALUES (?, ?)`, [1, 999]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ForeignKeyViolationError);
      expect((err as ForeignKeyViolationError).code).toBe('DAL_FOREIGN_KEY_VIOLATION');
    });

    test(target, 'a null in a NOT NULL column is NotNullViolationError', async () => {
      const err = await db.execute(`INSERT INTO [${parent}] ([id], [email]) VALUES (?, ?)`, [3, null]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotNullViolationError);
    });

    test(target, 'a failed statement leaves the connection usable', async () => {
      await db.withConnection(async (conn) => {
        await conn.execute(`INSERT INTO [${parent}] ([id], [email]) VALUES (?, ?)`, [1, 'dup@example.com']).catch(() => undefined);
        expect(await conn.execute(`SELECT COUNT(*) AS [n] FROM [${parent}]`)).toEqual([{ n: 1 }]);
      });
    });
  });
}
