import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConnectionError, WORKER_REPLY_GRACE_MS, connectSyncThroughWorker } from '@dal/core';
import { describe, expect, it } from 'vitest';
import { PG_URL, testConfig } from './helpers.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

/** Run an ES module script with node in this package (so it resolves @dal/core and the built driver); bounded. */
function runScript(source: string, timeoutMs = 15_000): { status: number | null; stdout: string; stderr: string; ms: number } {
  const started = performance.now();
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', source, PG_URL], { cwd: packageDir, encoding: 'utf8', timeout: timeoutMs });
  return { status: child.status, stdout: child.stdout, stderr: child.stderr, ms: performance.now() - started };
}

describe('PostgreSQL sync connection edges', () => {
  it('a process exits on its own with a sync connection still open', () => {
    const run = runScript(`
      import { DatabaseConfig } from '@dal/core';
      import { PostgresDatabase } from '@dal/driver-postgres';
      const db = new PostgresDatabase(DatabaseConfig.fromUrl(process.argv[1], { alias: 'exit_check' }));
      const sync = db.syncConnection();
      console.log(JSON.stringify(sync.execute('SELECT 1 AS [one]')));
      // No release, no close: the event loop must still end.
    `);
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('[{"one":1}]');
    expect(run.status).toBe(0);
    expect(run.ms).toBeLessThan(10_000);
  });

  it('where this thread may not block, syncConnection() fails with a clear DalError', () => {
    const run = runScript(`
      import { DatabaseConfig, DalError } from '@dal/core';
      import { PostgresDatabase } from '@dal/driver-postgres';
      // What a browser-like main thread does: Atomics.wait throws.
      Atomics.wait = () => { throw new TypeError('Atomics.wait cannot be called in this context'); };
      const db = new PostgresDatabase(DatabaseConfig.fromUrl(process.argv[1], { alias: 'no_block' }));
      try {
        db.syncConnection();
        console.log('opened');
      } catch (error) {
        console.log(JSON.stringify({ dal: DalError.isInstance(error), name: error.name, code: error.code, message: error.message }));
      }
      // Without SharedArrayBuffer (no cross-origin isolation) too.
      globalThis.SharedArrayBuffer = undefined;
      try { new PostgresDatabase(DatabaseConfig.fromUrl(process.argv[1], { alias: 'no_sab' })).syncConnection(); } catch (error) { console.log(error.code); }
      await db.close();
    `);
    expect(run.stderr).toBe('');
    const [first, second] = run.stdout.trim().split('\n');
    const error = JSON.parse(first!) as { dal: boolean; name: string; code: string; message: string };
    expect(error).toMatchObject({ dal: true, name: 'UnsupportedFeatureError', code: 'DAL_UNSUPPORTED' });
    expect(error.message).toContain('Atomics.wait');
    expect(error.message).toContain('await db.connection()');
    expect(second).toBe('DAL_UNSUPPORTED');
  });

  it('a worker that stops answering is terminated after timeout + grace, and the caller gets ConnectionError', () => {
    const timeoutMs = 300;
    const conn = connectSyncThroughWorker(testConfig({ alias: 'hanging', queryExecutionTimeoutMs: timeoutMs }), {
      workerUrl: new URL('./fixtures/hanging-sync-worker.mjs', import.meta.url),
    });
    const options = { rowMode: 'object', timeoutMs } as const;
    expect(conn.execute('SELECT 1 AS one', [], options).rows).toEqual([{ one: 1 }]);
    const started = performance.now();
    let error: unknown;
    try {
      conn.execute('SELECT 2 /* hang_this_worker */', [], options);
    } catch (e) {
      error = e;
    }
    const waited = performance.now() - started;
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toContain('did not answer');
    expect(waited).toBeGreaterThanOrEqual(timeoutMs + WORKER_REPLY_GRACE_MS - 5);
    expect(waited).toBeLessThan(timeoutMs + WORKER_REPLY_GRACE_MS + 1_000);
    // Gone for good: later calls fail at once instead of waiting again.
    const again = performance.now();
    expect(() => conn.execute('SELECT 1', [], options)).toThrow(ConnectionError);
    expect(performance.now() - again).toBeLessThan(50);
    conn.close();
  });

  it('a worker script that does not load fails at once with ConnectionError, not after the connect timeout', () => {
    const started = performance.now();
    expect(() => connectSyncThroughWorker(testConfig({ alias: 'no_script' }), { workerUrl: new URL('./fixtures/no-such-worker.mjs', import.meta.url) })).toThrow(
      expect.objectContaining({ code: 'DAL_CONNECTION', message: expect.stringContaining('could not load') }),
    );
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('a server that cannot be reached fails syncConnection() with ConnectionError, within connectionCreationTimeoutMs', () => {
    const started = performance.now();
    expect(() => connectSyncThroughWorker(testConfig({ alias: 'refused', port: 1, connectionCreationTimeoutMs: 2_000 }), {
      workerUrl: new URL('../dist/sync-worker.js', import.meta.url),
    })).toThrow(ConnectionError);
    expect(performance.now() - started).toBeLessThan(2_000 + 1_000);
  });
});
