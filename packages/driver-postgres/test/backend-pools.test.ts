import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConfigError, ConnectionError, DatabaseConfig, DatabaseFactory, PoolManager, type Database } from '@dal/core';

// A config that names no backend hashes alike for every backend, so pools are keyed by backend
// too (PoolManager's poolKey). The user exists on both servers of the test setup: PostgreSQL's
// trust login accepts the role root, MariaDB's root has no password.
const SHARED = { database: 'test', host: '127.0.0.1', user: 'root' };

const dir = mkdtempSync(join(tmpdir(), 'dal-backend-pools-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const opened: Database[] = [];
function open(backend: string, config: DatabaseConfig): Database {
  const db = DatabaseFactory.createDatabase(backend, config);
  opened.push(db);
  return db;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.close()));
});

async function version(db: Database): Promise<string> {
  const row = await db.executeFirst<{ v: string }>('SELECT VERSION() AS [v]');
  return String(row?.v);
}

describe("a Database never runs on another backend's pool", () => {
  it('"postgres" and "mysql" Databases from equal configs with the default port each answer from their own server', async () => {
    const pgConfig = new DatabaseConfig({ ...SHARED, alias: 'shared' });
    const myConfig = new DatabaseConfig({ ...SHARED, alias: 'shared' });
    expect(myConfig.hash()).toBe(pgConfig.hash());
    const pg = open('postgres', pgConfig);
    const my = open('mysql', myConfig);
    expect(await version(pg)).toMatch(/^PostgreSQL /);
    expect(await version(my)).toMatch(/MariaDB|^\d+\.\d+\.\d+/);
    expect(await version(my)).not.toMatch(/PostgreSQL/);
    expect(await version(pg)).toMatch(/^PostgreSQL /);

    // The user's config.hash() still finds the pool: the first opened, or the one of a given backend.
    const hash = pgConfig.hash();
    expect(PoolManager.getPoolStatus(hash)?.dialect).toBe('postgres');
    expect(PoolManager.getPoolStatus(hash, 'mysql')?.dialect).toBe('mysql');
    expect(PoolManager.getPoolStatus(hash, 'sqlite')).toBeUndefined();
    const metrics = PoolManager.getPoolMetrics(hash);
    expect(Object.keys(metrics).sort()).toEqual([hash, `${hash}:mysql`]);
    expect(metrics[`${hash}:mysql`]?.dialect).toBe('mysql');

    // Closing one Database closes its own pool only.
    await my.close();
    expect(PoolManager.getPoolStatus(hash, 'mysql')).toBeUndefined();
    expect(await version(pg)).toMatch(/^PostgreSQL /);
    expect(PoolManager.getPoolStatus(hash)?.dialect).toBe('postgres');
  });

  it('a SQLite config reused for "postgres" reaches PostgreSQL, never the SQLite pool', async () => {
    // SQLite ignores host and user; PostgreSQL gets its usual ones.
    const config = new DatabaseConfig({ ...SHARED, database: join(dir, 'reused.db'), alias: 'reused' });
    const sqlite = open('sqlite', config);
    expect((await sqlite.executeFirst<{ v: string }>('SELECT sqlite_version() AS [v]'))?.v).toMatch(/^3\./);
    const pg = open('postgres', config);
    // PostgreSQL itself answers: it has no database named after the file. (By name: the factory
    // loads the driver natively, beside a second copy of core's classes in vitest's module graph.)
    const error = await version(pg).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: ConnectionError.name, host: expect.stringMatching(/:5432$/) });
    expect((error as Error).message).toMatch(/database ".*reused\.db" does not exist/);
    expect(PoolManager.getPoolStatus(config.hash(), 'postgres')).toBeUndefined();
    expect((await sqlite.executeFirst<{ v: string }>('SELECT sqlite_version() AS [v]'))?.v).toMatch(/^3\./);
  });

  it('a config that names its backend is refused by a Database of another backend', () => {
    const config = new DatabaseConfig({ ...SHARED, backend: 'mysql' });
    expect(() => DatabaseFactory.createDatabase('postgres', config)).toThrow(ConfigError);
    expect(() => DatabaseFactory.createDatabase('mysql', config)).not.toThrow();
  });
});
