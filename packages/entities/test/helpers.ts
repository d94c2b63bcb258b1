import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseConfig, type Database } from '@dal/core';
import { MysqlDatabase } from '@dal/driver-mysql';
import { PgliteDatabase } from '@dal/driver-pglite';
import { PostgresDatabase } from '@dal/driver-postgres';
import { SqliteDatabase } from '@dal/driver-sqlite';

export type BackendName = 'postgres' | 'mysql' | 'sqlite' | 'pglite';

/** What a backend's test file hands to the shared scenarios. */
export interface EntityTarget {
  readonly name: BackendName;
  /** A Database on the shared test database; a new alias gives a separate pool and schema cache (a "second process"). */
  createDatabase(alias: string): Database;
  /** Remove what the target created (temp files). */
  dispose(): void;
  /** The backend has one connection per database (PGlite): more connections come from more Databases on the same data. */
  readonly poolOfOne?: boolean;
}

export function postgresTarget(): EntityTarget {
  const url = process.env['DAL_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
  return {
    name: 'postgres',
    createDatabase: (alias) => new PostgresDatabase(DatabaseConfig.fromUrl(url, { alias, poolMax: 6 })),
    dispose: () => undefined,
  };
}

export function mysqlTarget(): EntityTarget {
  const url = process.env['DAL_MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306/test';
  return {
    name: 'mysql',
    createDatabase: (alias) => new MysqlDatabase(DatabaseConfig.fromUrl(url, { alias, poolMax: 6 })),
    dispose: () => undefined,
  };
}

export function sqliteTarget(): EntityTarget {
  const dir = mkdtempSync(join(tmpdir(), 'dal-entities-'));
  const file = join(dir, 'entities.db');
  return {
    name: 'sqlite',
    createDatabase: (alias) => new SqliteDatabase(new DatabaseConfig({ database: file, alias, poolMax: 4 })),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
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
  };
}

/** A unique entity name for one test (dropped by `dropEntity`). */
export function entityName(base: string): string {
  return `dal_ent_${randomBytes(3).toString('hex')}_${base}`;
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
export async function slowInserts(backend: BackendName, conn: Executes, table: string): Promise<string[]> {
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
