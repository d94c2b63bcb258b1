import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { PG_URL } from './helpers.js';

const MYSQL_URL = process.env['DAL_MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306/test';
const dir = mkdtempSync(join(tmpdir(), 'dal-exit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
// About half a second of SQLite work that answers 2.
const SQLITE_SLOW = 'WITH RECURSIVE [c]([x]) AS (SELECT 1 UNION ALL SELECT [x] + 1 FROM [c] WHERE [x] < 2000000) SELECT min([x]) + 1 AS [two] FROM [c]';

// A program that never calls db.close(): one statement, then a slow one issued from a timer once
// the pooled connection sat idle. Idle sockets must not keep it alive, the statement in flight
// must: it runs without a timeout, so no timer of core's keeps the program alive meanwhile.
// (A CommonJS script: a worker thread would inherit --input-type=module and refuse to start.)
const SCRIPT = `(async () => {
  const { DatabaseConfig, DatabaseFactory } = await import('@dal/core');
  const db = DatabaseFactory.createDatabase(process.env.BACKEND, DatabaseConfig.fromUrl(process.env.URL, JSON.parse(process.env.OPTIONS)));
  console.log(JSON.stringify(await db.execute('SELECT 1 AS [one]')));
  setTimeout(async () => console.log(JSON.stringify(await db.execute(process.env.SLOW, [], { timeoutMs: Infinity }))), 300);
})();`;
/** Far beyond what the script needs (a few hundred ms plus startup), far below forever. */
const KILL_AFTER_MS = 10_000;

function runForgetfulProgram(env: Record<string, string>): Promise<{ code: number | null; stdout: string; ms: number }> {
  const started = performance.now();
  // From this package's folder: the built packages, as an application would import them.
  const child = spawn(process.execPath, ['-e', SCRIPT], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
  return new Promise((resolve) => {
    child.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, ms: performance.now() - started });
    });
  });
}

describe('a program that forgets close() exits once its work is done', () => {
  it.each([
    ['postgres', PG_URL, {}, 'SELECT 2 AS [two] FROM pg_sleep(0.5)'],
    ['mysql', MYSQL_URL, {}, 'SELECT SLEEP(0.5) + 2 AS [two]'],
    // Connections with a thread or process of their own (inline ones have nothing to hold).
    ['sqlite', `sqlite://${join(dir, 'process.db')}`, { driverOptions: { mode: 'process' } }, SQLITE_SLOW],
    ['sqlite', `sqlite://${join(dir, 'worker.db')}`, { driverOptions: { mode: 'worker' } }, SQLITE_SLOW],
  ])('%s %j', async (backend, url, options, slow) => {
    const { code, stdout, ms } = await runForgetfulProgram({ BACKEND: backend, URL: url, OPTIONS: JSON.stringify(options), SLOW: slow });
    expect(stdout).toBe('[{"one":1}]\n[{"two":2}]\n');
    expect(code).toBe(0);
    expect(ms).toBeLessThan(8_000);
  }, 2 * KILL_AFTER_MS);
});
