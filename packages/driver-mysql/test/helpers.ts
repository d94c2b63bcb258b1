import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { DatabaseConfig, type DatabaseConfigOptions } from '@dal/core';
import { createConnection, type Connection } from 'mysql2';
import type { MysqlConnection } from '../src/mysql-connection.js';
import { createMysqlDriver, type MysqlDriver, type MysqlDriverOptions } from '../src/mysql-driver.js';

export const MYSQL_URL = process.env['DAL_MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306/test';

/** A config for the test server, with overrides. */
export function testConfig(overrides: Partial<DatabaseConfigOptions> = {}): DatabaseConfig {
  return DatabaseConfig.fromUrl(MYSQL_URL, { alias: 'mysql_test', ...overrides });
}

/** Options every execute in the tests uses unless a test needs others. */
export const OBJECT_ROWS = { rowMode: 'object', timeoutMs: 10_000 } as const;
export const ARRAY_ROWS = { rowMode: 'array', timeoutMs: 10_000 } as const;

/** Opens driver connections and closes all of them (and the driver) in `close()`. */
export class Harness {
  readonly driver: MysqlDriver;
  readonly config: DatabaseConfig;
  readonly #open: MysqlConnection[] = [];

  constructor(config: DatabaseConfig = testConfig(), options?: MysqlDriverOptions) {
    this.config = config;
    this.driver = createMysqlDriver(options);
  }

  async connect(): Promise<MysqlConnection> {
    const conn = (await this.driver.connect(this.config, { signal: AbortSignal.timeout(5_000) })) as MysqlConnection;
    this.#open.push(conn);
    return conn;
  }

  async close(): Promise<void> {
    for (const conn of this.#open) conn.destroy();
    await this.driver.close();
  }
}

/** A raw mysql2 connection, independent of the driver under test (observer / killer). */
export async function rawConnection(): Promise<Connection> {
  const url = new URL(MYSQL_URL);
  const conn = createConnection({
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: url.pathname.slice(1),
  });
  conn.on('error', () => {});
  await new Promise<void>((resolve, reject) => conn.connect((error) => (error ? reject(error) : resolve())));
  return conn;
}

/** Run SQL on a raw mysql2 connection. */
export function rawQuery<T = Record<string, unknown>[]>(conn: Connection, sql: string, values: unknown[] = []): Promise<T> {
  return new Promise((resolve, reject) => conn.query(sql, values, (error, rows) => (error ? reject(error) : resolve(rows as T))));
}

/** Capture the rejection of a promise (fails the test if it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/** A TCP server that accepts connections and never sends a byte (a hung database). */
export async function silentServer(): Promise<{ port: number; sockets: Socket[]; server: Server }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { port: address.port, sockets, server };
}

/** A port on which nothing listens (bound once, then released). */
export async function closedPort(): Promise<number> {
  const { port, server } = await silentServer();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Poll `check` every 20 ms until it returns true or `timeoutMs` passes. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 3_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return check();
}
