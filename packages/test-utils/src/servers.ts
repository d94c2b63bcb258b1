import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Default URL of the local PostgreSQL test server (overridden by env `DAL_PG_URL`). */
export const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
/** Default URL of the local MariaDB test server (overridden by env `DAL_MYSQL_URL`). */
export const DEFAULT_MYSQL_URL = 'mysql://root@127.0.0.1:3306/test';

const COMMAND_TIMEOUT_MS = 60_000;
const PROBE_TIMEOUT_MS = 3_000;

/** The PostgreSQL test URL: env `DAL_PG_URL` or the local default. */
export function postgresUrl(): string {
  return process.env.DAL_PG_URL ?? DEFAULT_PG_URL;
}

/** The MariaDB test URL: env `DAL_MYSQL_URL` or the local default. */
export function mysqlUrl(): string {
  return process.env.DAL_MYSQL_URL ?? DEFAULT_MYSQL_URL;
}

interface RunResult {
  stdout: string;
  stderr: string;
}

/** Run a program without a shell; rejects with its stderr when it fails or outlives `timeoutMs`. */
function run(file: string, args: readonly string[], timeoutMs = COMMAND_TIMEOUT_MS): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`${file} ${args[0] ?? ''} failed: ${String(stderr).trim() || error.message}`));
      else resolve({ stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** The installed PostgreSQL major version (the only directory under /etc/postgresql). */
export function postgresVersion(): string {
  const versions = readdirSync('/etc/postgresql').filter((name) => /^\d+$/.test(name));
  if (versions.length === 0) throw new Error('no PostgreSQL cluster under /etc/postgresql');
  return versions.sort((a, b) => Number(b) - Number(a))[0]!;
}

/**
 * Stop the local PostgreSQL cluster (fast mode: sessions are cut, no waiting for clients).
 * @throws {Error} when pg_ctlcluster fails.
 */
export async function stopPostgres(): Promise<void> {
  await run('pg_ctlcluster', ['--skip-systemctl-redirect', postgresVersion(), 'main', 'stop', '-m', 'fast']).catch(async (error: unknown) => {
    // Stopping a stopped cluster is not an error for our purposes.
    if (!(await postgresIsRunning())) return;
    throw error;
  });
}

/**
 * Start the local PostgreSQL cluster and wait until it answers a query.
 * @throws {Error} when it does not answer within `timeoutMs`.
 */
export async function startPostgres(timeoutMs = 30_000): Promise<void> {
  if (!(await postgresIsRunning())) {
    await run('pg_ctlcluster', ['--skip-systemctl-redirect', postgresVersion(), 'main', 'start']).catch(async (error: unknown) => {
      if (!(await postgresIsRunning())) throw error;
    });
  }
  await waitUntilAnswers(postgresUrl(), timeoutMs);
}

async function postgresIsRunning(): Promise<boolean> {
  try {
    await run('pg_ctlcluster', [postgresVersion(), 'main', 'status'], PROBE_TIMEOUT_MS);
    return true;
  } catch {
    return false;
  }
}

const MARIADB_ARGS = [
  '--basedir=/usr',
  '--datadir=/var/lib/mysql',
  '--plugin-dir=/usr/lib/mysql/plugin',
  '--user=mysql',
  '--log-error=/var/log/mysql/error.log',
  '--pid-file=/run/mysqld/mysqld.pid',
  '--socket=/run/mysqld/mysqld.sock',
  '--port=3306',
];

/**
 * Shut the local MariaDB server down cleanly and wait until its process is gone.
 * @throws {Error} when it is still running after `timeoutMs`.
 */
export async function stopMariadb(timeoutMs = 60_000): Promise<void> {
  if (!(await mariadbIsRunning())) return;
  // mariadb-admin waits for the pid file to go, i.e. for the server to have stopped.
  await run('mariadb-admin', ['--protocol=socket', '-uroot', 'shutdown'], timeoutMs).catch(async (error: unknown) => {
    if (await mariadbIsRunning()) throw error;
  });
  const deadline = Date.now() + timeoutMs;
  while (await mariadbIsRunning()) {
    if (Date.now() > deadline) throw new Error('MariaDB did not stop in time');
    await sleep(100);
  }
}

/**
 * Start the local MariaDB server in the background and wait until it answers a query.
 * `service mariadb start` may report failure while the server is up, so a real query decides.
 * @throws {Error} when it does not answer within `timeoutMs`.
 */
export async function startMariadb(timeoutMs = 60_000): Promise<void> {
  if (!(await mariadbIsRunning())) {
    await run('install', ['-d', '-o', 'mysql', '-g', 'mysql', '/run/mysqld']);
    await run('start-stop-daemon', ['--start', '--oknodo', '--background', '--exec', '/usr/sbin/mariadbd', '--', ...MARIADB_ARGS]);
  }
  await waitUntilAnswers(mysqlUrl(), timeoutMs);
}

async function mariadbIsRunning(): Promise<boolean> {
  try {
    await run('mariadb-admin', ['--protocol=socket', '-uroot', '--connect-timeout=2', 'ping'], PROBE_TIMEOUT_MS);
    return true;
  } catch {
    // A server still shutting down may not answer ping yet keep its pid file.
    try {
      await run('start-stop-daemon', ['--status', '--exec', '/usr/sbin/mariadbd'], PROBE_TIMEOUT_MS);
      return true;
    } catch {
      return false;
    }
  }
}

interface ServerAddress {
  kind: 'postgres' | 'mysql';
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

function parseServerUrl(url: string): ServerAddress {
  const parsed = new URL(url);
  const kind = parsed.protocol.startsWith('postgres') ? 'postgres' : 'mysql';
  return {
    kind,
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : kind === 'postgres' ? 5432 : 3306,
    user: decodeURIComponent(parsed.username) || (kind === 'postgres' ? 'postgres' : 'root'),
    password: decodeURIComponent(parsed.password),
    database: decodeURIComponent(parsed.pathname.replace(/^\//, '')),
  };
}

/** Run one SQL text through the server's own command-line client; tab-separated rows come back. */
async function adminQuery(url: string, sql: string, options: { database?: string; timeoutMs?: number } = {}): Promise<string[][]> {
  const a = parseServerUrl(url);
  const database = options.database ?? a.database;
  const timeoutMs = options.timeoutMs ?? COMMAND_TIMEOUT_MS;
  let result: RunResult;
  if (a.kind === 'postgres') {
    const target = new URL(url);
    target.pathname = `/${encodeURIComponent(database)}`;
    target.searchParams.set('connect_timeout', String(Math.max(1, Math.ceil(timeoutMs / 1000))));
    result = await run('psql', [target.toString(), '-XAtq', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', sql], timeoutMs);
  } else {
    const args = ['-h', a.host, '-P', String(a.port), '-u', a.user, '--batch', '--skip-column-names', '--force'];
    args.push(`--connect-timeout=${Math.max(1, Math.ceil(timeoutMs / 1000))}`);
    if (a.password !== '') args.push(`-p${a.password}`);
    if (database !== '') args.push(database);
    result = await run('mariadb', [...args, '-e', sql], timeoutMs);
  }
  return result.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split('\t'));
}

/**
 * Wait until the server at `url` (postgres:// or mysql://) answers a real query, polling.
 * @throws {Error} when it does not within `timeoutMs`.
 */
export async function waitUntilAnswers(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const rows = await adminQuery(url, 'SELECT 1', { timeoutMs: Math.min(PROBE_TIMEOUT_MS, Math.max(1_000, deadline - Date.now())) });
      if (rows[0]?.[0] === '1') return;
    } catch (error) {
      last = error;
    }
    await sleep(100);
  }
  throw new Error(`server did not answer within ${timeoutMs} ms: ${last instanceof Error ? last.message : 'no answer'}`);
}

/**
 * Terminate every other backend connected to `database` with pg_terminate_backend, from an
 * admin session on the `postgres` database. Returns how many were terminated.
 * @throws {Error} when the admin session fails.
 */
export async function terminatePostgresBackends(database = parseServerUrl(postgresUrl()).database, url = postgresUrl()): Promise<number> {
  const rows = await adminQuery(
    url,
    `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = ${quoteLiteral(database)} AND pid <> pg_backend_pid()`,
    { database: 'postgres' },
  );
  return Number(rows[0]?.[0] ?? 0);
}

/**
 * KILL every other connection of the test user (optionally only those using `database`).
 * Returns how many were killed.
 * @throws {Error} when the admin session fails.
 */
export async function killMysqlConnections(options: { url?: string; database?: string } = {}): Promise<number> {
  const url = options.url ?? mysqlUrl();
  const { user } = parseServerUrl(url);
  const where = [`USER = ${quoteLiteral(user)}`, 'ID <> CONNECTION_ID()', "COMMAND <> 'Daemon'"];
  if (options.database !== undefined) where.push(`DB = ${quoteLiteral(options.database)}`);
  const ids = (await adminQuery(url, `SELECT ID FROM information_schema.PROCESSLIST WHERE ${where.join(' AND ')}`, { database: '' }))
    .map((row) => row[0])
    .filter((id): id is string => id !== undefined && /^\d+$/.test(id));
  if (ids.length === 0) return 0;
  // --force: a connection that ended meanwhile ("Unknown thread id") must not stop the others.
  await adminQuery(url, ids.map((id) => `KILL ${id};`).join(' '), { database: '' }).catch(() => undefined);
  return ids.length;
}

/** Names go into admin SQL as literals: accept only plain names, so no escaping rules matter. */
function quoteLiteral(value: string): string {
  if (!/^[A-Za-z0-9_$-]+$/.test(value)) throw new Error('only plain database and user names are supported');
  return `'${value}'`;
}
