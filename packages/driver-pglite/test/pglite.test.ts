import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { ConfigError, DatabaseConfig, DatabaseFactory, PoolManager, PoolTimeoutError, type Connection } from '@dal/core';
import { afterAll, describe, expect, it } from 'vitest';
import { PGLITE_BACKEND, PgliteDatabase } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'dal-pglite-'));
afterAll(async () => {
  await PoolManager.closeAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('@dal/driver-pglite', () => {
  it('is a pool of one: waiters are served in FIFO order, and past the acquisition timeout get PoolTimeoutError', async () => {
    const db = new PgliteDatabase(new DatabaseConfig({ database: ':memory:', alias: 'pglite_one', connectionAcquisitionTimeoutMs: 300 }));
    try {
      const held = await db.connection();
      expect(PoolManager.getPoolStatus(db.config.hash())!.sizes).toMatchObject({ max: 1, inUse: 1 });
      const order: number[] = [];
      const waiters = [1, 2, 3].map((n) => db.withConnection(async (c) => {
        order.push(n);
        await c.execute('SELECT 1');
      }));
      await new Promise((resolve) => setTimeout(resolve, 50));
      await held.release();
      await Promise.all(waiters);
      expect(order).toEqual([1, 2, 3]);

      const again = await db.connection();
      const started = performance.now();
      const error = await db.connection().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PoolTimeoutError);
      expect(performance.now() - started).toBeGreaterThanOrEqual(250);
      await again.release();
      // No slot was lost.
      expect(await db.execute<{ n: number }>('SELECT 2 AS [n]')).toEqual([{ n: 2 }]);
    } finally {
      await db.close();
    }
  });

  it('refuses a pool of more than one connection, and tls, with ConfigError', async () => {
    const wide = new PgliteDatabase(new DatabaseConfig({ database: ':memory:', alias: 'pglite_wide', poolMax: 4 }));
    const error = await wide.execute('SELECT 1').catch((e: unknown) => e);
    await wide.close();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/one connection per database/);
    expect(() => new DatabaseConfig({ database: 'x', backend: 'pglite', tls: { mode: 'require' } })).toThrow(/embedded/);
  });

  it('registers itself on import: fromUrl and the factory load it lazily, like a built-in', async () => {
    expect(DatabaseFactory.backends()).toContain('pglite');
    const config = DatabaseConfig.fromUrl(`pglite://${join(dir, 'by_url')}?alias=pglite_url`);
    expect(config).toMatchObject({ backend: 'pglite', database: join(dir, 'by_url'), alias: 'pglite_url' });
    const db = DatabaseFactory.fromUrl('pglite::memory:?alias=pglite_factory');
    try {
      expect(await db.execute<{ v: string }>('SELECT [x] AS [v] FROM (VALUES (?)) AS [t]([x])', ['hi'])).toEqual([{ v: 'hi' }]);
    } finally {
      await db.close();
    }
    // Another package cannot take the name or the scheme.
    expect(() => DatabaseFactory.registerBackend('pglite', { ...PGLITE_BACKEND, packageName: '@acme/pglite' })).toThrow(/already taken by @dal\/driver-pglite/);
    expect(() => DatabaseFactory.registerBackend('pglite2', { ...PGLITE_BACKEND, packageName: '@acme/pglite' })).toThrow(/"pglite:" of @acme\/pglite is already taken by @dal\/driver-pglite/);
  });

  it('when the driver package is missing, the first use rejects with DriverNotInstalledError naming both packages', async () => {
    // A process outside this workspace: only core is reachable (by path), as in an app that forgot the driver.
    const core = pathToFileURL(join(import.meta.dirname, '../../core/dist/index.js')).href;
    const script = `
      const { DatabaseFactory } = await import(${JSON.stringify(core)});
      DatabaseFactory.registerBackend('pglite', ${JSON.stringify(PGLITE_BACKEND)});
      const db = DatabaseFactory.fromUrl('pglite::memory:');
      const e = await db.execute('SELECT 1').catch((e) => e);
      await db.close();
      console.log(JSON.stringify({ name: e.name, code: e.code, packageName: e.packageName, message: e.message }));`;
    const file = join(dir, 'app.mjs');
    writeFileSync(file, script);
    // Without the test runner's NODE_PATH, which would reach every workspace package.
    const { stdout } = await promisify(execFile)(process.execPath, [file], { cwd: dir, env: { PATH: process.env['PATH'] ?? '' } });
    const error = JSON.parse(stdout) as { name: string; code: string; packageName: string; message: string };
    expect(error).toMatchObject({ name: 'DriverNotInstalledError', packageName: '@dal/driver-pglite' });
    expect(error.message).toContain('npm install @dal/driver-pglite @electric-sql/pglite');
  });

  it('Databases on one data directory share its one instance, and take turns per transaction', async () => {
    const path = join(dir, 'shared');
    const a = new PgliteDatabase(new DatabaseConfig({ database: path, alias: 'pglite_a' }));
    const b = new PgliteDatabase(new DatabaseConfig({ database: path, alias: 'pglite_b', queryExecutionTimeoutMs: 5_000 }));
    try {
      await a.execute('CREATE TABLE [turns] ([n] INTEGER)');
      let bDone = false;
      await a.withConnection((conn) => conn.transaction(async (tx: Connection) => {
        await tx.execute('INSERT INTO [turns] ([n]) VALUES (1)');
        // b's statement waits for a's transaction instead of running inside it.
        const other = b.execute('INSERT INTO [turns] ([n]) VALUES (2)').then(() => (bDone = true));
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(bDone).toBe(false);
        await tx.execute('INSERT INTO [turns] ([n]) VALUES (3)');
        void other;
        throw new Error('roll back');
      })).catch(() => undefined);
      await expect.poll(() => bDone).toBe(true);
      // a's transaction rolled back alone; b's insert committed on its own.
      expect(await b.execute('SELECT [n] FROM [turns] ORDER BY [n]')).toEqual([{ n: 2 }]);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
