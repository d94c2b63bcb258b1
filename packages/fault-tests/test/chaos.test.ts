import { PoolManager, UniqueViolationError, type Database, type DatabaseConfig } from '@dal/core';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bank } from './bank.js';
import { closeQuietly, defaultConfigFor, inUse, kindOf, mysql as mysqlBackend, postgres as postgresBackend, sleep, waitFor, type ServerBackend } from './support.js';

// Issue #12: stay up through faults with the settings a user gets. Sixteen workers move money
// between accounts in transactions with `retry`, each transfer under a unique id that the app
// retries on failure (a duplicate key on a retry means the earlier attempt committed), while
// random sessions are killed every 0.5-1 s and, in the second run, the server restarts once.
// Only the pool size is set (10, as in the measurements); everything else is default.
const WORKERS = 16;
const POOL_MAX = 10;
const KILLS_ONLY_MS = 20_000;
const WITH_RESTART_MS = 30_000;
const CALL_LIMIT_MS = 20_000;
const bank = new Bank('chaos');
/** MariaDB sessions are told apart by user: the app connects as this one, with grants on the test database only. */
const MYSQL_APP_USER = 'dal_chaos';

interface ChaosTarget {
  readonly backend: ServerBackend;
  /** The app's config (defaults but for the pool size and, on MariaDB, its own user). */
  config(): DatabaseConfig;
  /** Terminate one random session of the app's pool from the server side; false when none was found. */
  killRandomSession(config: DatabaseConfig): Promise<boolean>;
  /** True when a brand-new raw client connection answers a query (the server is back). */
  answers(): Promise<boolean>;
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
}

const postgres: ChaosTarget = {
  backend: postgresBackend,
  config: () => defaultConfigFor(postgresBackend, { poolMax: POOL_MAX }),
  async killRandomSession(config) {
    return withPgClient(async (client) => {
      const result = await client.query(
        'SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = $1 ORDER BY random() LIMIT 1',
        [`dal:${config.alias}`],
      );
      return result.rows[0]?.killed === true;
    });
  },
  answers: () => withPgClient(async (client) => (await client.query('SELECT 1')).rowCount === 1),
  setUp: async () => undefined,
  tearDown: async () => undefined,
};

const mariadb: ChaosTarget = {
  backend: mysqlBackend,
  config: () => defaultConfigFor(mysqlBackend, { poolMax: POOL_MAX, user: MYSQL_APP_USER, password: 'chaos' }),
  async killRandomSession() {
    return withMysqlAdmin(async (admin) => {
      const [rows] = await admin.query<mysql.RowDataPacket[]>(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ? AND COMMAND <> 'Daemon' ORDER BY RAND() LIMIT 1",
        [MYSQL_APP_USER],
      );
      const id = rows[0]?.['ID'] as number | undefined;
      if (id === undefined) return false;
      // It may have ended meanwhile ("Unknown thread id"): that is a kill that found nothing.
      return admin.query(`KILL ${Number(id)}`).then(() => true, () => false);
    });
  },
  answers: () => withMysqlAdmin(async (admin) => (await admin.query<mysql.RowDataPacket[]>('SELECT 1 AS v'))[0].length === 1),
  async setUp() {
    const database = new URL(mysqlBackend.url).pathname.slice(1);
    await withMysqlAdmin(async (admin) => {
      await admin.query(`CREATE USER IF NOT EXISTS '${MYSQL_APP_USER}'@'%' IDENTIFIED BY 'chaos'`);
      await admin.query(`CREATE USER IF NOT EXISTS '${MYSQL_APP_USER}'@'localhost' IDENTIFIED BY 'chaos'`);
      for (const host of ['%', 'localhost']) await admin.query(`GRANT ALL ON \`${database}\`.* TO '${MYSQL_APP_USER}'@'${host}'`);
    });
  },
  async tearDown() {
    await withMysqlAdmin(async (admin) => {
      for (const host of ['%', 'localhost']) await admin.query(`DROP USER IF EXISTS '${MYSQL_APP_USER}'@'${host}'`);
    });
  },
};

async function withPgClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: postgresBackend.url, connectionTimeoutMillis: 1_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function withMysqlAdmin<T>(fn: (admin: mysql.Connection) => Promise<T>): Promise<T> {
  const admin = await mysql.createConnection({ uri: mysqlBackend.url, connectTimeout: 1_000 });
  admin.on('error', () => undefined);
  try {
    return await fn(admin);
  } finally {
    await admin.end().catch(() => undefined);
  }
}

interface Attempt {
  readonly startedAt: number;
  readonly endedAt: number;
  /** 'ok', 'committed-earlier' (duplicate key on a retry) or the error's class. */
  readonly outcome: string;
}

interface RunFigures {
  attempts: number;
  failed: number;
  failedShare: number;
  failures: Record<string, number>;
  acknowledged: number;
  kills: number;
  longestCallMs: number;
  /** From the server answering a new client again to the first acknowledged transfer (restart run only). */
  firstAckAfterServerBackMs?: number;
}

/**
 * Run the workload for `durationMs` while `chaos` runs beside it; returns every attempt and the
 * ids whose transfer the app saw committed.
 */
async function runWorkload(
  db: Database,
  durationMs: number,
  chaos: (until: number) => Promise<void>,
): Promise<{ attempts: Attempt[]; acknowledged: Map<string, number> }> {
  const attempts: Attempt[] = [];
  const acknowledged = new Map<string, number>(); // id -> when the app saw it committed
  const until = performance.now() + durationMs;
  let sequence = 0;
  const worker = async (w: number): Promise<void> => {
    while (performance.now() < until) {
      const transfer = bank.randomTransfer(`t${process.pid}-${w}-${sequence++}`);
      // The app retries the same transfer until it is acknowledged or the run ends.
      for (let tries = 0; performance.now() < until || tries === 0; tries++) {
        const startedAt = performance.now();
        try {
          await bank.run(db, transfer, 3);
          attempts.push({ startedAt, endedAt: performance.now(), outcome: 'ok' });
          acknowledged.set(transfer.id, performance.now());
          break;
        } catch (error) {
          const endedAt = performance.now();
          if (tries > 0 && error instanceof UniqueViolationError) {
            attempts.push({ startedAt, endedAt, outcome: 'committed-earlier' });
            acknowledged.set(transfer.id, endedAt);
            break;
          }
          attempts.push({ startedAt, endedAt, outcome: kindOf(error) });
          await sleep(20);
        }
      }
    }
  };
  await Promise.all([...Array.from({ length: WORKERS }, (_, w) => worker(w)), chaos(until)]);
  return { attempts, acknowledged };
}

/** Kill a random session of the app every 0.5-1 s until `until`; returns how many were killed. */
async function killLoop(target: ChaosTarget, config: DatabaseConfig, until: number, paused: () => boolean): Promise<number> {
  let kills = 0;
  while (performance.now() < until) {
    await sleep(500 + Math.random() * 500);
    if (paused() || performance.now() >= until) continue;
    if (await target.killRandomSession(config).catch(() => false)) kills++;
  }
  return kills;
}

function figures(attempts: Attempt[], acknowledged: Map<string, number>, kills: number): RunFigures {
  const failures: Record<string, number> = {};
  for (const a of attempts) if (a.outcome !== 'ok' && a.outcome !== 'committed-earlier') failures[a.outcome] = (failures[a.outcome] ?? 0) + 1;
  const failed = Object.values(failures).reduce((sum, n) => sum + n, 0);
  return {
    attempts: attempts.length,
    failed,
    failedShare: attempts.length === 0 ? 1 : failed / attempts.length,
    failures,
    acknowledged: acknowledged.size,
    kills,
    longestCallMs: Math.round(Math.max(0, ...attempts.map((a) => a.endedAt - a.startedAt))),
  };
}

describe.each([postgres, mariadb])('chaos with default settings ($backend.name)', (target) => {
  let db: Database | undefined;
  let config: DatabaseConfig;

  beforeAll(async () => {
    await target.backend.start();
    await target.setUp();
    config = target.config();
    db = target.backend.open(config);
  }, 120_000);

  afterAll(async () => {
    await target.backend.start();
    if (db !== undefined) {
      await bank.drop(db).catch(() => undefined);
    }
    await closeQuietly(db);
    await target.tearDown().catch(() => undefined);
  }, 120_000);

  it('sessions killed every 0.5-1 s: fewer than 2 % of attempts fail, nothing is lost', async () => {
    const database = db!;
    await bank.create(database, 'BIGINT');
    let kills = 0;
    const { attempts, acknowledged } = await runWorkload(database, KILLS_ONLY_MS, async (until) => {
      kills = await killLoop(target, config, until, () => false);
    });
    const run = figures(attempts, acknowledged, kills);
    console.log(`[chaos] ${target.backend.name} kills only: ${JSON.stringify(run)}`);
    expect(run.kills).toBeGreaterThanOrEqual(10);
    expect(run.failedShare).toBeLessThan(0.02);
    expect(run.longestCallMs).toBeLessThan(CALL_LIMIT_MS);
    expect(PoolManager.getPoolStatus(config.hash())!.circuit).toMatchObject({ state: 'closed', opens: 0 });
    await waitFor(() => inUse(config) === 0, 2_000, 'pool back to 0 in use');
    await bank.checkBooks(database, acknowledged.keys());
  }, 90_000);

  it('sessions killed and the server restarted once: back within 2 s of the server answering, nothing lost', async () => {
    const database = db!;
    await bank.create(database, 'BIGINT');
    let kills = 0;
    let restarting = false;
    let serverBackAt = 0;
    let restartMs = 0;
    const { attempts, acknowledged } = await runWorkload(database, WITH_RESTART_MS, async (until) => {
      const killing = killLoop(target, config, until, () => restarting);
      await sleep(8_000);
      restarting = true;
      const stoppedAt = performance.now();
      await target.backend.stop();
      const starting = target.backend.start();
      // The moment a brand-new client gets an answer, polled every 20 ms.
      while (!(await target.answers().catch(() => false))) await sleep(20);
      serverBackAt = performance.now();
      restartMs = serverBackAt - stoppedAt;
      await starting;
      restarting = false;
      kills = await killing;
    });
    const run = figures(attempts, acknowledged, kills);
    const firstAck = Math.min(...[...acknowledged.values()].filter((t) => t >= serverBackAt));
    run.firstAckAfterServerBackMs = Math.round(firstAck - serverBackAt);
    console.log(`[chaos] ${target.backend.name} kills and one restart (${Math.round(restartMs)} ms down): ${JSON.stringify(run)}`);
    expect(run.firstAckAfterServerBackMs).toBeLessThan(2_000);
    expect(run.longestCallMs).toBeLessThan(CALL_LIMIT_MS);
    // Work resumed and went on after the restart.
    expect([...acknowledged.values()].filter((t) => t >= serverBackAt + 1_000).length).toBeGreaterThan(50);
    await waitFor(() => inUse(config) === 0, 2_000, 'pool back to 0 in use');
    await bank.checkBooks(database, acknowledged.keys());
  }, 120_000);
});
