import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PG_URL } from './helpers.js';

const MYSQL_URL = process.env['DAL_MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306/test';

// A program that never calls db.close(): one statement, then a slow one issued from a timer once
// the pooled connection sat idle. Idle sockets must not keep it alive, the statement in flight
// must: it runs without a timeout, so no timer of core's keeps the program alive meanwhile.
const SCRIPT = `
import { DatabaseConfig, DatabaseFactory } from '@dal/core';
const db = DatabaseFactory.createDatabase(process.env.BACKEND, DatabaseConfig.fromUrl(process.env.URL));
console.log(JSON.stringify(await db.execute('SELECT 1 AS [one]')));
setTimeout(async () => console.log(JSON.stringify(await db.execute(process.env.SLOW, [], { timeoutMs: Infinity }))), 300);
`;
/** Far beyond what the script needs (a few hundred ms plus startup), far below forever. */
const KILL_AFTER_MS = 15_000;

function runForgetfulProgram(env: Record<string, string>): Promise<{ code: number | null; stdout: string; ms: number }> {
  const started = performance.now();
  // From this package's folder: the built packages, as an application would import them.
  const child = spawn(process.execPath, ['--input-type=module', '-e', SCRIPT], {
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
    ['postgres', PG_URL, 'SELECT 2 AS [two] FROM pg_sleep(0.5)'],
    ['mysql', MYSQL_URL, 'SELECT SLEEP(0.5) + 2 AS [two]'],
  ])('%s', async (backend, url, slow) => {
    const { code, stdout, ms } = await runForgetfulProgram({ BACKEND: backend, URL: url, SLOW: slow });
    expect(stdout).toBe('[{"one":1}]\n[{"two":2}]\n');
    expect(code).toBe(0);
    expect(ms).toBeLessThan(8_000);
  });
});
