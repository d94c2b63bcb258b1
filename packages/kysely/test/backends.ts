// The three backends as the query-builder tests use them (also imported by packages/drizzle's tests).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DatabaseConfig, type Database, type DatabaseConfigOptions } from '@dal/core';
import { MysqlDatabase } from '@dal/driver-mysql';
import { PostgresDatabase } from '@dal/driver-postgres';
import { SqliteDatabase } from '@dal/driver-sqlite';
import { mysqlUrl, postgresUrl } from '@dal/test-utils';

export type Overrides = Partial<DatabaseConfigOptions>;

export interface TestBackend {
  readonly name: 'postgres' | 'mysql' | 'sqlite';
  /** A Database with the defaults a user gets, plus `overrides`; `alias` keeps pools apart. */
  open(alias: string, overrides?: Overrides): Database;
  /** A statement that sleeps `seconds` on the server, carrying `marker` so `isRunning` finds exactly it. */
  sleepSql(seconds: number, marker: string): string;
  /** True while a statement containing `marker` still runs on the server (false for SQLite, which has none). */
  isRunning(marker: string): Promise<boolean>;
  /** Remove what open() left behind (SQLite's temp files). */
  cleanup(): void;
}

function serverBackend(name: 'postgres' | 'mysql', url: string, activeSql: string): TestBackend {
  const Ctor = name === 'postgres' ? PostgresDatabase : MysqlDatabase;
  const open = (alias: string, overrides: Overrides = {}): Database => new Ctor(DatabaseConfig.fromUrl(url, { alias, ...overrides }));
  let admin: Database | undefined;
  return {
    name,
    open,
    sleepSql: (seconds, marker) =>
      name === 'postgres' ? `SELECT pg_sleep(${seconds}), '${marker}' AS marker` : `SELECT SLEEP(${seconds}), '${marker}' AS marker`,
    async isRunning(marker) {
      admin ??= open(`${name}_admin_probe`, { poolMax: 1 });
      const rows = await admin.execute<{ n: number | string }>(activeSql, [`%${marker}%`]);
      return Number(rows[0]?.n) > 0;
    },
    cleanup() {
      void admin?.close();
      admin = undefined;
    },
  };
}

function sqliteBackend(): TestBackend {
  // Made on first use, so a suite that filters SQLite out leaves no directory behind.
  let dir: string | undefined;
  return {
    name: 'sqlite',
    open(alias, overrides = {}) {
      dir ??= mkdtempSync(join(tmpdir(), 'dal-builders-'));
      return new SqliteDatabase(new DatabaseConfig({ database: join(dir, 'test.db'), backend: 'sqlite', alias, ...overrides }));
    },
    // A recursive count that takes minutes: only a killed process stops it.
    sleepSql: (_seconds, marker) =>
      `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000000) SELECT count(*), '${marker}' AS marker FROM c`,
    isRunning: async () => false,
    cleanup() {
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    },
  };
}

/** The backends, PostgreSQL and MariaDB at the URLs of @dal/test-utils, SQLite in a temp file. */
export function testBackends(): TestBackend[] {
  return [
    serverBackend(
      'postgres',
      postgresUrl(),
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND query LIKE ? AND query NOT LIKE '%pg_stat_activity%'",
    ),
    serverBackend(
      'mysql',
      mysqlUrl(),
      "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND INFO LIKE ? AND INFO NOT LIKE '%PROCESSLIST%'",
    ),
    sqliteBackend(),
  ];
}

/** Poll `probe` until it is false; true if it still was after `timeoutMs`. */
export async function stillTrueAfter(probe: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!(await probe())) return false;
    if (Date.now() > deadline) return true;
    await sleep(50);
  }
}

/** Poll `probe` until it is true; false if it never was within `timeoutMs`. */
export async function eventually(probe: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}

/** A marker unique to one test, for finding its statement on the server. */
export function uniqueMarker(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}
