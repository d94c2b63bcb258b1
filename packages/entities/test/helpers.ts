import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseConfig, type Database } from '@dal/core';
import { MysqlDatabase } from '@dal/driver-mysql';
import { PostgresDatabase } from '@dal/driver-postgres';
import { SqliteDatabase } from '@dal/driver-sqlite';

export type BackendName = 'postgres' | 'mysql' | 'sqlite';

/** What a backend's test file hands to the shared scenarios. */
export interface EntityTarget {
  readonly name: BackendName;
  /** A Database on the shared test database; a new alias gives a separate pool and schema cache (a "second process"). */
  createDatabase(alias: string): Database;
  /** Remove what the target created (temp files). */
  dispose(): void;
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

/** A unique entity name for one test (dropped by `dropEntity`). */
export function entityName(base: string): string {
  return `dal_ent_${randomBytes(3).toString('hex')}_${base}`;
}
