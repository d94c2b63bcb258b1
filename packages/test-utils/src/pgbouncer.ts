import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { postgresUrl } from './servers.js';
import { TLS_SERVER_HOST, freePort } from './tls-servers.js';

/** Debian's pgbouncer package installs it here; `DAL_PGBOUNCER_PATH` overrides. */
const PGBOUNCER_PATH = process.env.DAL_PGBOUNCER_PATH ?? '/usr/sbin/pgbouncer';
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

export interface PgBouncerOptions {
  /** `pool_mode` (default 'transaction'). */
  readonly poolMode?: 'session' | 'transaction' | 'statement';
  /** Server connections per database/user pair (default 2, so clients visibly share them). */
  readonly defaultPoolSize?: number;
  /** Extra `[pgbouncer]` settings, written as `key = value`. */
  readonly settings?: Readonly<Record<string, string | number>>;
}

export interface PgBouncerTestServer {
  readonly host: string;
  readonly port: number;
  /** The database behind it: the PostgreSQL test server's (see `postgresUrl()`). */
  readonly database: string;
  readonly user: string;
  /** `postgres://user@host:port/database`, through PgBouncer. */
  readonly url: string;
  /** PgBouncer's log so far (for failure messages). */
  log(): Promise<string>;
  /** Stop PgBouncer and remove its directory; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Start PgBouncer on a free port of 127.0.0.1 in front of the PostgreSQL test server (trust auth,
 * transaction pooling with 2 server connections by default), from a config in a new temp dir.
 * As root it runs as the `postgres` account (PgBouncer refuses to run as root).
 *
 * ```ts
 * const bouncer = await startPgBouncer();
 * try { ... DatabaseConfig.fromUrl(bouncer.url, { pooler: 'pgbouncer-transaction' }) ... } finally { await bouncer.stop(); }
 * ```
 * @throws {Error} when pgbouncer is missing (install Debian's `pgbouncer`) or does not accept connections.
 */
export async function startPgBouncer(options: PgBouncerOptions = {}): Promise<PgBouncerTestServer> {
  const target = new URL(postgresUrl());
  const database = decodeURIComponent(target.pathname.slice(1));
  const user = decodeURIComponent(target.username) || 'postgres';
  const dir = await mkdtemp(join(tmpdir(), 'dal-pgbouncer-'));
  const logFile = join(dir, 'pgbouncer.log');
  const log = () => readFile(logFile, 'utf8').catch(() => '');
  let child: ChildProcess | undefined;
  // A test run that ends without calling stop() (a crash, a forgotten afterAll) must not leave PgBouncer behind.
  const killOnExit = () => child?.kill('SIGKILL');
  const stop = async () => {
    process.off('exit', killOnExit);
    if (child !== undefined) {
      const running = child;
      child = undefined;
      await stopProcess(running);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const port = await freePort();
    const settings: Record<string, string | number> = {
      listen_addr: TLS_SERVER_HOST,
      listen_port: port,
      unix_socket_dir: '',
      auth_type: 'trust',
      auth_file: join(dir, 'userlist.txt'),
      pool_mode: options.poolMode ?? 'transaction',
      default_pool_size: options.defaultPoolSize ?? 2,
      max_client_conn: 200,
      logfile: logFile,
      pidfile: join(dir, 'pgbouncer.pid'),
      admin_users: user,
      ...options.settings,
    };
    const ini = [
      '[databases]',
      `${database} = host=${target.hostname} port=${target.port || 5432} dbname=${database} user=${user}`,
      '[pgbouncer]',
      ...Object.entries(settings).map(([key, value]) => `${key} = ${value}`),
      '',
    ].join('\n');
    await writeFile(join(dir, 'pgbouncer.ini'), ini);
    // With trust auth PgBouncer still only admits users listed in the auth file.
    await writeFile(join(dir, 'userlist.txt'), `"${user}" ""\n`);
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      const owner = await account('postgres');
      for (const name of ['', 'pgbouncer.ini', 'userlist.txt']) await chown(join(dir, name), owner.uid, owner.gid);
    }
    child = spawn(PGBOUNCER_PATH, [...(asRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')], { stdio: 'ignore' });
    const started = child;
    await new Promise<void>((resolve, reject) => {
      started.once('spawn', resolve);
      started.once('error', (error) => reject(new Error(`cannot run ${PGBOUNCER_PATH} (install Debian's pgbouncer, or set DAL_PGBOUNCER_PATH): ${error.message}`)));
    });
    // Not kept alive by PgBouncer: stop() or the exit hook ends it.
    child.unref();
    process.once('exit', killOnExit);
    await waitForPort(TLS_SERVER_HOST, port, started, log);
    return { host: TLS_SERVER_HOST, port, database, user, url: `postgres://${encodeURIComponent(user)}@${TLS_SERVER_HOST}:${port}/${encodeURIComponent(database)}`, log, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

function account(name: string): Promise<{ uid: number; gid: number }> {
  const id = (flag: string) =>
    new Promise<number>((resolve, reject) =>
      execFile('id', [flag, name], (error, stdout) => (error === null ? resolve(Number(String(stdout).trim())) : reject(error))),
    );
  return Promise.all([id('-u'), id('-g')]).then(([uid, gid]) => ({ uid, gid }));
}

/** Resolve once something accepts TCP connections on host:port; reject when the process exits or time runs out. */
async function waitForPort(host: string, port: number, child: ChildProcess, log: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`pgbouncer exited (${child.exitCode ?? child.signalCode}) while starting: ${(await log()).trim()}`);
    }
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, host);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await sleep(50);
  }
  throw new Error(`pgbouncer did not listen on ${host}:${port} within ${START_TIMEOUT_MS} ms: ${(await log()).trim()}`);
}

/** SIGTERM (PgBouncer then closes its sockets at once), SIGKILL if it is still there after a while. */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
