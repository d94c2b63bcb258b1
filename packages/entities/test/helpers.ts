import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseConfig, EntityError, PoolManager, type Connection, type Database } from '@dal/core';
import { afterAll, beforeAll, expect } from 'vitest';
import { MysqlDatabase } from '@dal/driver-mysql';
import { PgliteDatabase } from '@dal/driver-pglite';
import { PostgresDatabase } from '@dal/driver-postgres';
import { SqliteDatabase } from '@dal/driver-sqlite';

export type BackendName = 'postgres' | 'mysql' | 'sqlite';

/** What a backend's test file hands to the shared scenarios. */
export interface EntityTarget {
  readonly name: BackendName | 'pglite';
  /** A Database on the shared test database; a new alias gives a separate pool and schema cache (a "second process"). */
  createDatabase(alias: string): Database;
  /** Remove what the target created (temp files). */
  dispose(): void;
  /** The backend has one connection per database (PGlite): more connections come from more Databases on the same data. */
  readonly poolOfOne?: boolean;
  /** Where the database is, for a child process: a URL, or SQLite's file. */
  readonly location: { url?: string; file?: string };
}

/** A target of a built-in backend, whose database a child process can open too. */
export type BuiltinTarget = EntityTarget & { readonly name: BackendName };

export function postgresTarget(): BuiltinTarget {
  const url = process.env['DAL_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
  return {
    name: 'postgres',
    createDatabase: (alias) => new PostgresDatabase(DatabaseConfig.fromUrl(url, { alias, poolMax: 6 })),
    dispose: () => undefined,
    location: { url },
  };
}

export function mysqlTarget(): BuiltinTarget {
  const url = process.env['DAL_MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306/test';
  return {
    name: 'mysql',
    createDatabase: (alias) => new MysqlDatabase(DatabaseConfig.fromUrl(url, { alias, poolMax: 6 })),
    dispose: () => undefined,
    location: { url },
  };
}

export function sqliteTarget(): BuiltinTarget {
  const dir = mkdtempSync(join(tmpdir(), 'dal-entities-'));
  const file = join(dir, 'entities.db');
  return {
    name: 'sqlite',
    createDatabase: (alias) => new SqliteDatabase(new DatabaseConfig({ database: file, alias, poolMax: 4 })),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
    location: { file },
  };
}

export function pgliteTarget(): EntityTarget {
  const dir = mkdtempSync(join(tmpdir(), 'dal-entities-pglite-'));
  return {
    name: 'pglite',
    poolOfOne: true,
    // One data directory: every alias (a "second process") shares its one PGlite instance.
    createDatabase: (alias) => new PgliteDatabase(new DatabaseConfig({ database: join(dir, 'db'), alias })),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
    // No second process may open a PGlite directory while this one has it.
    location: {},
  };
}

/** A unique entity name for one test (dropped by `dropEntity`). */
export function entityName(base: string): string {
  return `dal_ent_${randomBytes(3).toString('hex')}_${base}`;
}

/** A test file's database and held connection, and the entities its tests create. */
export interface EntityFixture {
  readonly db: Database;
  readonly conn: Connection;
  /** A unique entity name, whose tables are dropped after the file's tests. */
  entity(base: string): string;
}

/**
 * Open a Database (alias `alias`) and one connection before a describe block's tests; after
 * them, run `cleanup` (with the entities created), drop the entities' tables, release and close.
 */
export function entityFixture(target: EntityTarget, alias: string, cleanup?: (conn: Connection, entities: readonly string[]) => Promise<void>): EntityFixture {
  let db: Database | undefined;
  let conn: Connection | undefined;
  const created: string[] = [];
  beforeAll(async () => {
    db = target.createDatabase(alias);
    conn = await db.connection();
  });
  afterAll(async () => {
    try {
      if (conn !== undefined) {
        await cleanup?.(conn, created);
        for (const name of created) {
          for (const table of [name, `${name}_history`, `${name}_meta`]) await conn.execute(`DROP TABLE IF EXISTS [${table}]`);
        }
        await conn.release();
      }
    } finally {
      await db?.close();
      await PoolManager.closeAll();
      target.dispose();
    }
  });
  return {
    get db(): Database {
      if (db === undefined) throw new Error('the fixture database opens in beforeAll');
      return db;
    },
    get conn(): Connection {
      if (conn === undefined) throw new Error('the fixture connection opens in beforeAll');
      return conn;
    },
    entity(base) {
      const name = entityName(base);
      created.push(name);
      return name;
    },
  };
}

/** Anything that runs a statement: an async connection or a SyncConnection. */
interface Executes {
  execute(sql: string, params?: readonly unknown[]): unknown;
}

/**
 * Make every row inserted into `table` take real server time: PostgreSQL and MySQL sleep 250 ms
 * in a trigger (a sleep the server can cancel); SQLite, which has no sleep, counts a cross join in
 * one (a statement that cannot be interrupted). Returns the statements that undo it.
 */
export async function slowInserts(backend: EntityTarget['name'], conn: Executes, table: string): Promise<string[]> {
  const run = async (sql: string): Promise<void> => {
    await conn.execute(sql);
  };
  const trigger = `${table}_slow`;
  if (backend === 'postgres' || backend === 'pglite') {
    await run(`CREATE FUNCTION "${trigger}"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.25); RETURN NEW; END $$`);
    await run(`CREATE TRIGGER "${trigger}" BEFORE INSERT ON "${table}" FOR EACH ROW EXECUTE FUNCTION "${trigger}"()`);
    return [`DROP TRIGGER IF EXISTS "${trigger}" ON "${table}"`, `DROP FUNCTION IF EXISTS "${trigger}"()`];
  }
  if (backend === 'mysql') {
    await run(`CREATE TRIGGER \`${trigger}\` BEFORE INSERT ON \`${table}\` FOR EACH ROW SET @dal_slow = SLEEP(0.25)`);
    return [`DROP TRIGGER IF EXISTS \`${trigger}\``];
  }
  const burn = `${table}_burn`;
  await run(`CREATE TABLE "${burn}" ("x" INTEGER)`);
  await run(`INSERT INTO "${burn}" ("x") WITH RECURSIVE "n"("x") AS (SELECT 1 UNION ALL SELECT "x" + 1 FROM "n" WHERE "x" < 160) SELECT "x" FROM "n"`);
  await run(`CREATE TRIGGER "${trigger}" BEFORE INSERT ON "${table}" BEGIN SELECT COUNT(*) FROM "${burn}" "a", "${burn}" "b", "${burn}" "c"; END`);
  return [`DROP TRIGGER IF EXISTS "${trigger}"`, `DROP TABLE IF EXISTS "${burn}"`];
}

/** Expect `fn` to reject (or throw) an EntityError. */
export async function expectEntityError(fn: () => unknown): Promise<EntityError> {
  let caught: unknown;
  try {
    await fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(EntityError);
  expect((caught as EntityError).code).toBe('DAL_ENTITY');
  return caught as EntityError;
}
