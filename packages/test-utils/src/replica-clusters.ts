import type { ChildProcess } from 'node:child_process';
import { chown, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PG_BIN, TLS_SERVER_HOST, account, freePort, retryOnPortClash, run, spawnServer, waitFor, waitForExit } from './tls-servers.js';

/**
 * Throwaway replicated clusters for tests: a primary and a streaming replica of PostgreSQL 15,
 * or a primary and a GTID replica of MariaDB, each node on a free port of 127.0.0.1 in a temp
 * dir, all removed again by `stop()` (call it in `afterAll`, it is safe after a failed start).
 *
 * ```ts
 * const cluster = await startPostgresReplicaCluster();
 * try { ... new DatabaseConfig({ ...cluster.primary, replicas: [cluster.replica] }) ... }
 * finally { await cluster.stop(); }
 * ```
 */
export interface ReplicaNodeAddress {
  readonly host: string;
  readonly port: number;
}

export interface ReplicaCluster {
  readonly kind: 'postgres' | 'mysql';
  readonly primary: ReplicaNodeAddress;
  readonly replica: ReplicaNodeAddress;
  /** Database `test` exists on both. */
  readonly database: string;
  /** The application login: PostgreSQL `postgres`; MariaDB `dal_app`, with grants on `test.*` only (read_only binds it). */
  readonly user: string;
  /** Run SQL as an administrator on one node; rows come back tab-separated. */
  admin(node: 'primary' | 'replica', sql: string): Promise<string[][]>;
  /** Delay the replica's apply by `ms` (0 to stop delaying), effective once this resolves. */
  setReplayDelay(ms: number): Promise<void>;
  /** Wait until the replica has applied everything the primary has now. */
  waitForCatchUp(timeoutMs?: number): Promise<void>;
  stopNode(node: 'primary' | 'replica'): Promise<void>;
  startNode(node: 'primary' | 'replica'): Promise<void>;
  /** PostgreSQL only: promote the replica to a primary (`pg_ctl promote`). */
  promoteReplica(): Promise<void>;
  /**
   * PostgreSQL only: the two nodes trade roles, each keeping its port. The primary is stopped, the
   * replica promoted, and the old primary's data dir replaced by a `pg_basebackup -R -X stream`
   * of the new primary, started again as its standby. Afterwards `primary`, `replica` and every
   * `node` argument name the nodes by their new roles (so `primary.port` is the old replica's).
   */
  swapRoles(): Promise<void>;
  /** Stop every node and delete the directories. */
  stop(): Promise<void>;
}

const HOST = TLS_SERVER_HOST;

function rowsOf(text: string): string[][] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split('\t'));
}

/**
 * A PostgreSQL 15 primary (wal_level replica) and a hot standby made with `pg_basebackup -R -X stream`.
 * @throws {Error} when initdb, pg_basebackup or pg_ctl fail (everything is removed again).
 */
export function startPostgresReplicaCluster(): Promise<ReplicaCluster> {
  return retryOnPortClash(startPostgresReplicaClusterOnce);
}

async function startPostgresReplicaClusterOnce(): Promise<ReplicaCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'dal-replicas-pg-'));
  // initdb and postgres refuse to run as root: run them as the postgres account, which owns the dir.
  const owner: { uid?: number; gid?: number } = process.getuid?.() === 0 ? await account('postgres') : {};
  // Keyed by role: swapRoles() swaps the entries, each node keeps its dir, port and log.
  const nodes = {
    primary: { data: join(dir, 'primary'), log: join(dir, 'primary.log'), port: await freePort(), running: false },
    replica: { data: join(dir, 'replica'), log: join(dir, 'replica.log'), port: await freePort(), running: false },
  };
  const pgCtl = (node: 'primary' | 'replica', ...args: string[]) => run(join(PG_BIN, 'pg_ctl'), [...args, '-D', nodes[node].data], owner);
  const log = (node: 'primary' | 'replica') => nodes[node].log;
  const psql = async (node: 'primary' | 'replica', sql: string) =>
    rowsOf(await run('psql', ['-h', dir, '-p', String(nodes[node].port), '-U', 'postgres', '-d', 'test', '-XAtq', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', sql]));
  const startNode = async (node: 'primary' | 'replica') => {
    await pgCtl(node, 'start', '-w', '-t', '60', '-l', log(node)).catch(async (error: unknown) => {
      throw new Error(`${(error as Error).message}\n${(await readFile(log(node), 'utf8').catch(() => '')).slice(-2_000)}`);
    });
    nodes[node].running = true;
  };
  const stopNode = async (node: 'primary' | 'replica') => {
    if (!nodes[node].running) return;
    await pgCtl(node, 'stop', '-m', 'immediate', '-w').catch(() => undefined);
    nodes[node].running = false;
  };
  const stop = async () => {
    await stopNode('replica');
    await stopNode('primary');
    await rm(dir, { recursive: true, force: true });
  };
  /** Copy the primary into the replica's (empty) data dir and start it as a streaming standby. */
  const startStandby = async () => {
    await run(join(PG_BIN, 'pg_basebackup'), ['-h', HOST, '-p', String(nodes.primary.port), '-U', 'postgres', '-D', nodes.replica.data, '-R', '-X', 'stream', '--checkpoint=fast', '--no-sync'], owner);
    // The copy carries the primary's port; the later line wins.
    await writeFile(join(nodes.replica.data, 'postgresql.auto.conf'), `${await readFile(join(nodes.replica.data, 'postgresql.auto.conf'), 'utf8')}\nport = ${nodes.replica.port}\n`);
    await startNode('replica');
    await waitFor(async () => {
      if ((await psql('replica', 'SELECT pg_is_in_recovery()'))[0]?.[0] !== 't') throw new Error('replica not in recovery');
    }, 30_000, () => readFile(log('replica'), 'utf8').catch(() => ''));
  };
  const settings = (port: number) =>
    [`port = ${port}`, `listen_addresses = '${HOST}'`, `unix_socket_directories = '${dir}'`, 'fsync = off', 'max_connections = 60', 'max_wal_senders = 4', 'wal_level = replica', ''].join('\n');
  try {
    if (owner.uid !== undefined && owner.gid !== undefined) await chown(dir, owner.uid, owner.gid);
    await run(join(PG_BIN, 'initdb'), ['-D', nodes.primary.data, '-U', 'postgres', '-A', 'trust', '--no-sync', '--no-instructions'], owner);
    await writeFile(join(nodes.primary.data, 'postgresql.auto.conf'), settings(nodes.primary.port));
    await writeFile(
      join(nodes.primary.data, 'pg_hba.conf'),
      ['local all all trust', 'local replication all trust', `host all all ${HOST}/32 trust`, `host replication all ${HOST}/32 trust`, ''].join('\n'),
    );
    await startNode('primary');
    await run('psql', ['-h', dir, '-p', String(nodes.primary.port), '-U', 'postgres', '-d', 'postgres', '-XAtq', '-c', 'CREATE DATABASE test']);
    await startStandby();
  } catch (error) {
    await stop();
    throw error;
  }
  const cluster: ReplicaCluster = {
    kind: 'postgres',
    get primary() {
      return { host: HOST, port: nodes.primary.port };
    },
    get replica() {
      return { host: HOST, port: nodes.replica.port };
    },
    database: 'test',
    user: 'postgres',
    admin: psql,
    setReplayDelay: async (ms) => {
      await psql('replica', `ALTER SYSTEM SET recovery_min_apply_delay = '${Math.round(ms)}ms'`);
      const before = (await psql('replica', 'SELECT pg_conf_load_time()'))[0]?.[0];
      await psql('replica', 'SELECT pg_reload_conf()');
      await waitFor(async () => {
        if ((await psql('replica', 'SELECT pg_conf_load_time()'))[0]?.[0] === before) throw new Error('configuration not reloaded yet');
      }, 10_000, () => readFile(log('replica'), 'utf8').catch(() => ''));
    },
    waitForCatchUp: async (timeoutMs = 30_000) => {
      const lsn = (await psql('primary', 'SELECT pg_current_wal_lsn()'))[0]?.[0];
      await waitFor(async () => {
        const [row] = await psql('replica', `SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn`);
        if (row?.[0] !== 't') throw new Error(`replica has not replayed ${lsn} yet`);
      }, timeoutMs, () => readFile(log('replica'), 'utf8').catch(() => ''));
    },
    stopNode,
    startNode,
    promoteReplica: async () => {
      await pgCtl('replica', 'promote', '-w', '-t', '60');
    },
    swapRoles: async () => {
      await stopNode('primary');
      await pgCtl('replica', 'promote', '-w', '-t', '60');
      [nodes.primary, nodes.replica] = [nodes.replica, nodes.primary];
      // A fresh copy rather than pg_rewind, which needs wal_log_hints or checksums and a clean shutdown.
      await rm(nodes.replica.data, { recursive: true, force: true });
      await startStandby();
    },
    stop,
  };
  return cluster;
}

const APP_USER = 'dal_app';
const REPLICATION_LOGIN = { user: 'dal_repl', password: 'repl-5c1e' };

/**
 * A MariaDB primary (`--log-bin`, server id 1) and a `--read-only` replica (server id 2)
 * following it with `MASTER_USE_GTID=slave_pos`; the application user `dal_app` has grants on
 * `test.*` only, so `read_only` applies to it.
 * @throws {Error} when mariadb-install-db or mariadbd fail (everything is removed again).
 */
export function startMariadbReplicaCluster(): Promise<ReplicaCluster> {
  return retryOnPortClash(startMariadbReplicaClusterOnce);
}

async function startMariadbReplicaClusterOnce(): Promise<ReplicaCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'dal-replicas-mariadb-'));
  // mariadbd refuses to run as root unless told to: the files are root's, as is this process.
  const user = process.getuid?.() === 0 ? ['--user=root'] : [];
  const node = (name: 'primary' | 'replica', serverId: number) => ({
    name,
    serverId,
    data: join(dir, name),
    socket: join(dir, `${name}.sock`),
    errorLog: join(dir, `${name}.err`),
    port: 0,
    process: undefined as ChildProcess | undefined,
  });
  const nodes = { primary: node('primary', 1), replica: node('replica', 2) };
  nodes.primary.port = await freePort();
  nodes.replica.port = await freePort();
  const admin = async (name: 'primary' | 'replica', sql: string) =>
    rowsOf(await run('mariadb', ['--no-defaults', `--socket=${nodes[name].socket}`, '-uroot', '--batch', '--skip-column-names', '-e', sql]));
  const startNode = async (name: 'primary' | 'replica') => {
    const n = nodes[name];
    n.process = await spawnServer('/usr/sbin/mariadbd', [
      '--no-defaults',
      `--datadir=${n.data}`,
      `--socket=${n.socket}`,
      `--port=${n.port}`,
      `--bind-address=${HOST}`,
      `--pid-file=${join(dir, `${name}.pid`)}`,
      `--log-error=${n.errorLog}`,
      '--plugin-dir=/usr/lib/mysql/plugin',
      '--skip-name-resolve',
      '--innodb-buffer-pool-size=32M',
      `--server-id=${n.serverId}`,
      `--log-bin=${join(dir, `${name}-bin`)}`,
      '--binlog-format=ROW',
      `--relay-log=${join(dir, `${name}-relay`)}`,
      ...(name === 'replica' ? ['--read-only=ON'] : []),
      ...user,
    ]);
    await waitFor(() => admin(name, 'SELECT 1'), 60_000, () => readFile(n.errorLog, 'utf8').catch(() => ''));
  };
  const stopNode = async (name: 'primary' | 'replica') => {
    const child = nodes[name].process;
    if (child === undefined) return;
    await admin(name, 'SHUTDOWN').catch(() => child.kill('SIGKILL'));
    await waitForExit(child);
    nodes[name].process = undefined;
  };
  const stop = async () => {
    await stopNode('replica');
    await stopNode('primary');
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await run('mariadb-install-db', ['--no-defaults', `--datadir=${nodes.primary.data}`, '--auth-root-authentication-method=socket', '--skip-test-db', ...user]);
    // One install, copied: the replica starts from the same empty system tables.
    await cp(nodes.primary.data, nodes.replica.data, { recursive: true });
    await startNode('primary');
    await admin(
      'primary',
      [
        'CREATE DATABASE test',
        `CREATE USER '${APP_USER}'@'%' IDENTIFIED BY ''`,
        `GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER ON test.* TO '${APP_USER}'@'%'`,
        `CREATE USER '${REPLICATION_LOGIN.user}'@'%' IDENTIFIED BY '${REPLICATION_LOGIN.password}'`,
        `GRANT REPLICATION SLAVE ON *.* TO '${REPLICATION_LOGIN.user}'@'%'`,
      ].join('; '),
    );
    await startNode('replica');
    await admin(
      'replica',
      `CHANGE MASTER TO MASTER_HOST='${HOST}', MASTER_PORT=${nodes.primary.port}, MASTER_USER='${REPLICATION_LOGIN.user}', ` +
        `MASTER_PASSWORD='${REPLICATION_LOGIN.password}', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE`,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  const waitForCatchUp = async (timeoutMs = 30_000) => {
    const [[position = ''] = []] = await admin('primary', 'SELECT @@gtid_binlog_pos');
    const [[reached] = []] = await admin('replica', `SELECT MASTER_GTID_WAIT('${position}', ${timeoutMs / 1000})`);
    if (reached !== '0') throw new Error(`the replica did not reach ${position} within ${timeoutMs} ms`);
  };
  await waitForCatchUp().catch(async (error: unknown) => {
    await stop();
    throw error;
  });
  return {
    kind: 'mysql',
    primary: { host: HOST, port: nodes.primary.port },
    replica: { host: HOST, port: nodes.replica.port },
    database: 'test',
    user: APP_USER,
    admin,
    setReplayDelay: async (ms) => {
      await admin('replica', `STOP SLAVE; CHANGE MASTER TO MASTER_DELAY=${Math.ceil(ms / 1000)}; START SLAVE`);
    },
    waitForCatchUp,
    stopNode,
    startNode,
    promoteReplica: () => Promise.reject(new Error('promoteReplica: only the PostgreSQL cluster supports it')),
    swapRoles: () => Promise.reject(new Error('swapRoles: only the PostgreSQL cluster supports it')),
    stop,
  };
}
