import { execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { createUnroutableAddress, mysqlUrl, postgresUrl, terminatePostgresBackends, killMysqlConnections, waitUntilAnswers } from '../src/index.js';

/** A client session that sleeps on the server; resolves with its exit code when it ends. */
function sleepingSession(file: string, args: string[]): { exited: Promise<number | null>; kill(): void } {
  const child = spawn(file, args, { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { exited, kill: () => child.kill('SIGKILL') };
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('server control', () => {
  it('waitUntilAnswers succeeds against both servers and fails in time against a closed port', async () => {
    await waitUntilAnswers(postgresUrl(), 10_000);
    await waitUntilAnswers(mysqlUrl(), 10_000);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const started = Date.now();
    await expect(waitUntilAnswers(`postgres://postgres@127.0.0.1:${port}/test`, 1_000)).rejects.toThrow(/did not answer/);
    expect(Date.now() - started).toBeLessThan(5_000);
  }, 30_000);

  it('terminatePostgresBackends ends a sleeping session of the database', async () => {
    const session = sleepingSession('psql', [postgresUrl(), '-XAtqc', 'SELECT pg_sleep(30)']);
    try {
      let terminated = 0;
      await waitFor(async () => {
        terminated += await terminatePostgresBackends();
        return terminated > 0;
      }, 10_000);
      expect(await session.exited).not.toBe(0);
    } finally {
      session.kill();
    }
  }, 30_000);

  it('killMysqlConnections ends a sleeping session of the test user', async () => {
    const session = sleepingSession('mariadb', ['-h', '127.0.0.1', '-P', '3306', '-uroot', 'test', '-e', 'SELECT SLEEP(30)']);
    try {
      let killed = 0;
      await waitFor(async () => {
        killed += await killMysqlConnections({ database: 'test' });
        return killed > 0;
      }, 10_000);
      expect(await session.exited).not.toBe(0);
    } finally {
      session.kill();
    }
  }, 30_000);

  it('createUnroutableAddress gives an address whose SYNs are never answered, and close() removes it', async () => {
    const unroutable = createUnroutableAddress();
    let outcome: string;
    try {
      const socket = net.connect(5432, unroutable.address);
      outcome = await new Promise<string>((resolve) => {
        const timer = setTimeout(() => resolve('pending'), 1_500);
        socket.once('connect', () => resolve('connected'));
        socket.once('error', (error: NodeJS.ErrnoException) => {
          clearTimeout(timer);
          resolve(error.code ?? 'error');
        });
      });
      socket.destroy();
    } finally {
      unroutable.close();
    }
    expect(outcome).toBe('pending');
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(unroutable.namespace);
    expect(execFileSync('ip', ['-o', 'addr', 'show'], { encoding: 'utf8' })).not.toContain(unroutable.address.replace(/\.3$/, '.1'));
  }, 20_000);
});
