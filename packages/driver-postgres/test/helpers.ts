import { createServer, type Server, type Socket } from 'node:net';
import { DatabaseConfig, type DatabaseConfigOptions } from '@dal/core';
import pg from 'pg';
import { createPostgresDriver, type PostgresConnection } from '../src/index.js';

export const PG_URL = process.env['DAL_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A config for the test server; `alias` defaults to 'pgtest'. */
export function testConfig(overrides: Partial<DatabaseConfigOptions> = {}): DatabaseConfig {
  return DatabaseConfig.fromUrl(PG_URL, { alias: 'pgtest', ...overrides });
}

export const driver = createPostgresDriver();

/** Open a driver connection to the test server within 5 s. */
export function connectTest(overrides: Partial<DatabaseConfigOptions> = {}): Promise<PostgresConnection> {
  return driver.connect(testConfig(overrides), { signal: AbortSignal.timeout(5_000) });
}

/** A raw pg client (no @dal code) for setup, inspection and producing native errors. */
export async function rawClient(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: PG_URL });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** Run `fn` and return what it threw (fails the test when it does not throw). */
export async function caught(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

/** Poll `check` every 20 ms until it returns true, at most `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 2_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return check();
}

/** A local TCP server; `onSocket` decides what happens to each accepted socket. */
export async function localServer(onSocket: (socket: Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = await localServer(() => {});
  await server.close();
  return server.port;
}
