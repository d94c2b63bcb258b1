import v8 from 'node:v8';
import vm from 'node:vm';
import { DalError, DatabaseConfig, PoolManager, type CircuitStatus, type Database, type DatabaseConfigOptions, type DatabaseOptions, type Logger } from '@dal/core';
import { MysqlDatabase } from '@dal/driver-mysql';
import { PostgresDatabase } from '@dal/driver-postgres';
import { mysqlUrl, postgresUrl, startMariadb, startPostgres, stopMariadb, stopPostgres, terminatePostgresBackends, killMysqlConnections } from '@dal/test-utils';

/** One server backend under test, with how to fault it. */
export interface ServerBackend {
  readonly name: 'postgres' | 'mysql';
  readonly url: string;
  /** Host and port of the real server (targets for a FaultProxy). */
  readonly host: string;
  readonly port: number;
  open(config: DatabaseConfig, options?: DatabaseOptions): Database;
  /** SQL that keeps a connection busy on the server for `seconds`. */
  sleepSql(seconds: number): string;
  /** SQL returning `rows` rows of ~100 bytes each. */
  bulkSql(rows: number): string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Cut every session of the test database from the server side. */
  killAll(): Promise<number>;
  /** Sessions open on the test database with this application marker (see `serverSessions`). */
  sessionCountSql: string;
}

function hostPort(url: string, fallbackPort: number): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname || '127.0.0.1', port: parsed.port ? Number(parsed.port) : fallbackPort };
}

export const postgres: ServerBackend = {
  name: 'postgres',
  url: postgresUrl(),
  ...hostPort(postgresUrl(), 5432),
  open: (config, options) => new PostgresDatabase(config, options),
  sleepSql: (seconds) => `SELECT pg_sleep(${seconds})`,
  bulkSql: (rows) => `SELECT g, repeat('x', 100) AS pad FROM generate_series(1, ${rows}) AS g`,
  stop: stopPostgres,
  start: () => startPostgres(60_000),
  killAll: () => terminatePostgresBackends(),
  sessionCountSql: 'SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()',
};

export const mysql: ServerBackend = {
  name: 'mysql',
  url: mysqlUrl(),
  ...hostPort(mysqlUrl(), 3306),
  open: (config, options) => new MysqlDatabase(config, options),
  sleepSql: (seconds) => `SELECT SLEEP(${seconds})`,
  bulkSql: (rows) =>
    `SELECT seq AS g, REPEAT('x', 100) AS pad FROM (SELECT a.n * 100 + b.n * 10 + c.n + 1 AS seq FROM ` +
    `(SELECT 0 n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) a, ` +
    `(SELECT 0 n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) b, ` +
    `(SELECT 0 n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) c) s ` +
    `WHERE seq <= ${Math.min(rows, 1000)}`,
  stop: () => stopMariadb(),
  start: () => startMariadb(60_000),
  killAll: () => killMysqlConnections({ database: new URL(mysqlUrl()).pathname.slice(1) }),
  sessionCountSql: "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND COMMAND <> 'Daemon'",
};

export const serverBackends: readonly ServerBackend[] = [postgres, mysql];

let aliasCounter = 0;

/**
 * A config for `backend` with a unique alias (so each test gets its own pool) and resilience
 * settings that keep fault tests short; `overrides` win.
 */
export function configFor(backend: ServerBackend, overrides: Partial<DatabaseConfigOptions> = {}): DatabaseConfig {
  aliasCounter += 1;
  return DatabaseConfig.fromUrl(backend.url, {
    alias: `fault_${backend.name}_${process.pid}_${aliasCounter}`,
    env: 'test',
    connectionCreationTimeoutMs: 2_000,
    connectionAcquisitionTimeoutMs: 3_000,
    queryExecutionTimeoutMs: 10_000,
    poolCreationTimeoutMs: 10_000,
    ...overrides,
  });
}

/**
 * A config with the defaults a user gets (only a unique alias, and `overrides` for what a test is
 * about): fault tests that shorten timeouts or turn the breaker off hide the outages users see.
 */
export function defaultConfigFor(backend: ServerBackend, overrides: Partial<DatabaseConfigOptions> = {}): DatabaseConfig {
  aliasCounter += 1;
  return DatabaseConfig.fromUrl(backend.url, { alias: `fault_${backend.name}_${process.pid}_${aliasCounter}`, env: 'test', ...overrides });
}

/** The circuit breaker status of this config's pool. */
export function circuit(config: DatabaseConfig): CircuitStatus | undefined {
  return PoolManager.getPoolStatus(config.hash())?.circuit;
}

/** A logger that records every call, for asserting on warnings. */
export function captureLogger(): { logger: Logger; warnings: Array<{ data: Record<string, unknown>; message: string }> } {
  const warnings: Array<{ data: Record<string, unknown>; message: string }> = [];
  return {
    warnings,
    logger: {
      warn: (data, message) => warnings.push({ data, message }),
      error: () => undefined,
      info: () => undefined,
      debug: () => undefined,
    },
  };
}

/** Poll `check` until it returns true; throws after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what = 'condition'): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await sleep(50);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Connections of this config's pool currently handed out (0 when the pool is gone). */
export function inUse(config: DatabaseConfig): number {
  return PoolManager.getPoolStatus(config.hash())?.sizes.inUse ?? 0;
}

/** Settle `promise`, returning the rejection (or failing when it resolved) and how long it took. */
export async function rejection(promise: Promise<unknown>): Promise<{ error: unknown; elapsedMs: number }> {
  const started = performance.now();
  try {
    await promise;
  } catch (error) {
    return { error, elapsedMs: performance.now() - started };
  }
  throw new Error('expected a rejection, but the call succeeded');
}

/** Name of a DalError's class, or a description of what else was thrown (for readable asserts). */
export function kindOf(error: unknown): string {
  if (DalError.isInstance(error)) return error.name;
  return error instanceof Error ? `untyped ${error.name}: ${error.message}` : `non-error ${String(error)}`;
}

/** Close a database without waiting long for connections a failed test left checked out. */
export async function closeQuietly(db: Database | undefined): Promise<void> {
  await db?.close({ timeoutMs: 2_000 }).catch(() => undefined);
}

v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

/**
 * Run a full garbage collection after `afterMs`, as any busy app eventually does: timers that
 * only weak references keep alive (AbortSignal.timeout inside AbortSignal.any on Node 20) vanish.
 */
export function garbageCollectSoon(afterMs = 100): void {
  setTimeout(collectGarbage, afterMs);
}
