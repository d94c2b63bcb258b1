import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Throwaway TLS servers for tests: a CA and a server certificate made with openssl, a
 * PostgreSQL 15 cluster and a MariaDB instance using them, each on a free port in a temp dir,
 * removed again by `stop()`.
 *
 * ```ts
 * const pg = await startTlsPostgres({ requireTls: true });
 * try { ... DatabaseConfig.fromUrl(`${pg.url}?sslmode=verify-full&sslrootcert=${pg.certificates.caPath}`) ... }
 * finally { await pg.stop(); }
 * ```
 */

export const PG_BIN = '/usr/lib/postgresql/15/bin';
const COMMAND_TIMEOUT_MS = 120_000;

/** The address the test servers listen on. */
export const TLS_SERVER_HOST = '127.0.0.1';
/** The names the server certificate carries unless a test issues another (subjectAltName entries). */
export const DEFAULT_SERVER_NAMES: readonly string[] = ['DNS:localhost', `IP:${TLS_SERVER_HOST}`];

/** Files and PEM text of a throwaway CA and a server certificate it signed. */
export interface TestCertificates {
  readonly dir: string;
  /** The CA that signed the server certificate. */
  readonly ca: string;
  readonly caPath: string;
  /** Another CA, which signed nothing the servers use (for "wrong CA" tests). */
  readonly otherCa: string;
  readonly otherCaPath: string;
  /** Server certificate (SAN `DEFAULT_SERVER_NAMES` unless reissued) and its key. */
  readonly serverCertPath: string;
  readonly serverKeyPath: string;
}

/** A login that needs a password, created on the TLS test servers. */
export interface PasswordLogin {
  readonly user: string;
  readonly password: string;
}

export interface TlsTestServer {
  readonly kind: 'postgres' | 'mysql';
  readonly host: string;
  readonly port: number;
  /** Superuser URL without TLS parameters (postgres: user postgres, mysql: user dal), database `test`. */
  readonly url: string;
  readonly certificates: TestCertificates;
  /** A user that authenticates with a password (PostgreSQL: scram-sha-256; MariaDB: native password). */
  readonly passwordLogin: PasswordLogin;
  /** True when the server refuses plaintext sessions. */
  readonly requiresTls: boolean;
  /**
   * Give the server a new certificate from the same CA naming `names` (subjectAltName entries
   * such as 'DNS:db.example'), effective for new sessions once this resolves.
   */
  reissueCertificate(names?: readonly string[]): Promise<void>;
  /** Stop the server and delete its directory. */
  stop(): Promise<void>;
}

export interface TlsServerOptions {
  /** Refuse plaintext sessions (PostgreSQL: hostnossl reject; MariaDB: --require-secure-transport). */
  readonly requireTls?: boolean;
}

const PASSWORD_LOGIN: PasswordLogin = { user: 'dal_tls_pw', password: 'tls-pw-7d3f9a' };

/** Run a program without a shell (optionally as another account); rejects with its stderr. */
export function run(file: string, args: readonly string[], options: { uid?: number; gid?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: COMMAND_TIMEOUT_MS, killSignal: 'SIGKILL', ...options }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`${file} ${args.join(' ')} failed: ${String(stderr).trim() || error.message}`));
      else resolve(String(stdout));
    });
  });
}

/** A TCP port nothing listens on right now (bound, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, TLS_SERVER_HOST, resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Make a CA, a second unrelated CA and a server certificate signed by the first, in a new temp dir.
 * @throws {Error} when openssl fails.
 */
export async function createTestCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), 'dal-tls-certs-'));
  const path = (name: string) => join(dir, name);
  const newCa = (name: string) =>
    run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', path(`${name}.key`), '-out', path(`${name}.crt`)]);
  await newCa('dal-test-ca');
  await newCa('dal-other-ca');
  const certificates = {
    dir,
    ca: await readFile(path('dal-test-ca.crt'), 'utf8'),
    caPath: path('dal-test-ca.crt'),
    otherCa: await readFile(path('dal-other-ca.crt'), 'utf8'),
    otherCaPath: path('dal-other-ca.crt'),
    serverCertPath: path('server.crt'),
    serverKeyPath: path('server.key'),
  };
  await issueServerCertificate(certificates, DEFAULT_SERVER_NAMES);
  return certificates;
}

/** (Re)write `serverCertPath`/`serverKeyPath`: a new key and a certificate naming `names`, signed by the test CA. */
async function issueServerCertificate(certificates: TestCertificates, names: readonly string[]): Promise<void> {
  const path = (name: string) => join(certificates.dir, name);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=dal-test-server', '-keyout', certificates.serverKeyPath, '-out', path('server.csr')]);
  await writeFile(path('server.ext'), `subjectAltName=${names.join(',')}\nextendedKeyUsage=serverAuth\n`);
  await run('openssl', [
    'x509', '-req', '-in', path('server.csr'), '-CA', certificates.caPath, '-CAkey', path('dal-test-ca.key'),
    '-CAcreateserial', '-days', '2', '-extfile', path('server.ext'), '-out', certificates.serverCertPath,
  ]);
}

/** The uid/gid of a system account (initdb refuses to run as root). */
export async function account(name: string): Promise<{ uid: number; gid: number }> {
  return { uid: Number(await run('id', ['-u', name])), gid: Number(await run('id', ['-g', name])) };
}

/**
 * Start a PostgreSQL 15 cluster with `ssl = on` on a free port of 127.0.0.1, with trust auth for `postgres` and a scram-sha-256 login (`passwordLogin`).
 * @throws {Error} when initdb or pg_ctl fail (the directory is removed again).
 */
export function startTlsPostgres(options: TlsServerOptions = {}): Promise<TlsTestServer> {
  return retryOnPortClash(() => startTlsPostgresOnce(options));
}

async function startTlsPostgresOnce(options: TlsServerOptions): Promise<TlsTestServer> {
  const certificates = await createTestCertificates();
  const dir = await mkdtemp(join(tmpdir(), 'dal-tls-pg-'));
  const data = join(dir, 'data');
  const port = await freePort();
  // initdb and postgres refuse to run as root: run them as the postgres account, which owns the dir.
  const owner = process.getuid?.() === 0 ? await account('postgres') : undefined;
  const asPostgres = owner ?? {};
  // The server reads its key from the data directory, owned by it and private (it refuses others).
  const installCertificate = async () => {
    for (const [from, to] of [
      [certificates.serverCertPath, 'server.crt'],
      [certificates.serverKeyPath, 'server.key'],
    ] as const) {
      await writeFile(join(data, to), await readFile(from));
      if (owner !== undefined) await chown(join(data, to), owner.uid, owner.gid);
      await chmod(join(data, to), 0o600);
    }
  };
  const psql = (sql: string) => run('psql', ['-h', dir, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', sql]);
  let started = false;
  const stop = async () => {
    if (started) await run(join(PG_BIN, 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate', '-w'], asPostgres).catch(() => undefined);
    started = false;
    await rm(dir, { recursive: true, force: true });
    await rm(certificates.dir, { recursive: true, force: true });
  };
  try {
    if (owner !== undefined) await chown(dir, owner.uid, owner.gid);
    await run(join(PG_BIN, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '--no-instructions'], asPostgres);
    await installCertificate();
    await writeFile(
      join(data, 'postgresql.auto.conf'),
      [
        `port = ${port}`,
        `listen_addresses = '${TLS_SERVER_HOST}'`,
        `unix_socket_directories = '${dir}'`,
        'ssl = on',
        "ssl_cert_file = 'server.crt'",
        "ssl_key_file = 'server.key'",
        'fsync = off',
        'max_connections = 50',
        '',
      ].join('\n'),
    );
    // First matching line wins: the password login always needs its password; the rest is trusted.
    await writeFile(
      join(data, 'pg_hba.conf'),
      [
        'local all all trust',
        options.requireTls ? 'hostnossl all all 127.0.0.0/8 reject' : '',
        `host all ${PASSWORD_LOGIN.user} 127.0.0.0/8 scram-sha-256`,
        'host all all 127.0.0.0/8 trust',
        '',
      ].join('\n'),
    );
    await run(join(PG_BIN, 'pg_ctl'), ['start', '-D', data, '-w', '-t', '60', '-l', join(dir, 'server.log')], asPostgres).catch(async (error: unknown) => {
      const log = await readFile(join(dir, 'server.log'), 'utf8').catch(() => '');
      throw new Error(`${(error as Error).message}\n${log.slice(-2_000)}`);
    });
    started = true;
    await psql('CREATE DATABASE test');
    await psql(`CREATE ROLE ${PASSWORD_LOGIN.user} LOGIN PASSWORD '${PASSWORD_LOGIN.password}'`);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    kind: 'postgres',
    host: TLS_SERVER_HOST,
    port,
    url: `postgres://postgres@${TLS_SERVER_HOST}:${port}/test`,
    certificates,
    passwordLogin: PASSWORD_LOGIN,
    requiresTls: options.requireTls === true,
    reissueCertificate: async (names = DEFAULT_SERVER_NAMES) => {
      await issueServerCertificate(certificates, names);
      await installCertificate();
      // The postmaster reloads (TLS files included) asynchronously: wait until it has.
      const before = await psql('SELECT pg_conf_load_time()');
      await psql('SELECT pg_reload_conf()');
      await waitFor(async () => {
        if ((await psql('SELECT pg_conf_load_time()')) === before) throw new Error('configuration not reloaded yet');
      }, 10_000, () => readFile(join(dir, 'server.log'), 'utf8').catch(() => ''));
    },
    stop,
  };
}

/**
 * Start a MariaDB instance with --ssl-ca/--ssl-cert/--ssl-key on a free port (socket in its temp
 * dir), with a superuser `dal` (no password) and `passwordLogin`; `requireTls` adds
 * --require-secure-transport.
 * @throws {Error} when mariadb-install-db or mariadbd fail (the directory is removed again).
 */
export function startTlsMariadb(options: TlsServerOptions = {}): Promise<TlsTestServer> {
  return retryOnPortClash(() => startTlsMariadbOnce(options));
}

async function startTlsMariadbOnce(options: TlsServerOptions): Promise<TlsTestServer> {
  const certificates = await createTestCertificates();
  const dir = await mkdtemp(join(tmpdir(), 'dal-tls-mariadb-'));
  const data = join(dir, 'data');
  const socket = join(dir, 'mariadb.sock');
  const port = await freePort();
  // mariadbd refuses to run as root unless told to: the files are root's, as is this process.
  const user = process.getuid?.() === 0 ? ['--user=root'] : [];
  let server: ChildProcess | undefined;
  const admin = (sql: string) => run('mariadb', ['--no-defaults', `--socket=${socket}`, '-uroot', '--batch', '--skip-column-names', '-e', sql]);
  const stop = async () => {
    if (server !== undefined) {
      await admin('SHUTDOWN').catch(() => undefined);
      await waitForExit(server);
      server = undefined;
    }
    await rm(dir, { recursive: true, force: true });
    await rm(certificates.dir, { recursive: true, force: true });
  };
  try {
    await run('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=socket', '--skip-test-db', ...user]);
    const args = [
      '--no-defaults',
      `--datadir=${data}`,
      `--socket=${socket}`,
      `--port=${port}`,
      `--bind-address=${TLS_SERVER_HOST}`,
      `--pid-file=${join(dir, 'mariadb.pid')}`,
      `--log-error=${join(dir, 'error.log')}`,
      '--plugin-dir=/usr/lib/mysql/plugin',
      `--ssl-ca=${certificates.caPath}`,
      `--ssl-cert=${certificates.serverCertPath}`,
      `--ssl-key=${certificates.serverKeyPath}`,
      '--skip-name-resolve',
      '--innodb-buffer-pool-size=32M',
      '--skip-log-bin',
      ...(options.requireTls ? ['--require-secure-transport=ON'] : []),
      ...user,
    ];
    server = await spawnServer('/usr/sbin/mariadbd', args);
    await waitFor(() => admin('SELECT 1'), 60_000, () => readFile(join(dir, 'error.log'), 'utf8').catch(() => ''));
    await admin(
      [
        'CREATE DATABASE test',
        "CREATE USER 'dal'@'%' IDENTIFIED BY ''",
        "GRANT ALL ON *.* TO 'dal'@'%' WITH GRANT OPTION",
        `CREATE USER '${PASSWORD_LOGIN.user}'@'%' IDENTIFIED BY '${PASSWORD_LOGIN.password}'`,
        `GRANT ALL ON test.* TO '${PASSWORD_LOGIN.user}'@'%'`,
      ].join('; '),
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    kind: 'mysql',
    host: TLS_SERVER_HOST,
    port,
    url: `mysql://dal@${TLS_SERVER_HOST}:${port}/test`,
    certificates,
    passwordLogin: PASSWORD_LOGIN,
    requiresTls: options.requireTls === true,
    reissueCertificate: async (names = DEFAULT_SERVER_NAMES) => {
      await issueServerCertificate(certificates, names);
      // MariaDB re-reads --ssl-cert/--ssl-key for new sessions.
      await admin('FLUSH SSL');
    },
    stop,
  };
}

/** `freePort()` can race with another test file taking the same port: start again on a new one. */
export async function retryOnPortClash<T>(start: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (attempt >= attempts || !/Address already in use/i.test((error as Error).message)) throw error;
    }
  }
}

/** Start a server process in the background; `stop()` of its owner ends it. */
export async function spawnServer(file: string, args: readonly string[]): Promise<ChildProcess> {
  const child = spawn(file, args, { stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  // The test process may end while the server still runs; stop() is what ends it.
  child.unref();
  return child;
}

/** Poll `probe` until it resolves; on timeout, throw with the tail of the server's log. */
export async function waitFor(probe: () => Promise<unknown>, timeoutMs: number, log: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      await probe();
      return;
    } catch (error) {
      last = error;
      await sleep(200);
    }
  }
  throw new Error(`server did not start within ${timeoutMs} ms: ${last instanceof Error ? last.message : ''}\n${(await log()).slice(-2_000)}`);
}

/** Wait for a child process to exit, killing it after `timeoutMs`. */
export async function waitForExit(child: ChildProcess, timeoutMs = 30_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}
