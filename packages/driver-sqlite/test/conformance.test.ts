import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseConfig, PoolManager } from '@dal/core';
import { describeConformance } from '@dal/conformance';
import { afterAll } from 'vitest';
import { SqliteDatabase, type SqliteMode } from '../src/index.js';

// One file per mode for the whole run, as a server would be: every Database of a suite sees the same tables.
const dir = mkdtempSync(join(tmpdir(), 'dal-conformance-'));
afterAll(async () => {
  await PoolManager.closeAll();
  rmSync(dir, { recursive: true, force: true });
});

const noServer = 'SQLite is embedded: there is no server, network or password';
const oneWriter = 'SQLite takes the write lock at BEGIN IMMEDIATE, so writers queue and cannot deadlock';
const onThisThread = "inline mode runs each statement on the caller's thread, where no timer or abort can interrupt it; the 'sqlite_process' run covers this";

/** The suite on one execution mode: the default (inline) and 'process', whose timeouts stop statements. */
function sqliteConformance(name: string, mode: SqliteMode, skip: Record<string, string>): void {
  const base = new DatabaseConfig({ database: join(dir, `${name}.db`), alias: name, driverOptions: { mode } });
  describeConformance({
    name,
    backend: 'sqlite',
    createDatabase: (overrides, options) => new SqliteDatabase(base.with({ ...overrides }), options),
    types: { int: 'INTEGER', bigint: 'BIGINT', text: 'TEXT', varchar: 'VARCHAR', decimal: 'NUMERIC', timestamp: 'TEXT', boolean: 'INTEGER', bytes: 'BLOB', autoIncrementKey: 'INTEGER PRIMARY KEY' },
    slowStatement: (seconds, marker) =>
      `WITH RECURSIVE /* ${marker} */ [c]([x]) AS (SELECT 1 UNION ALL SELECT [x] + 1 FROM [c] WHERE [x] < ${Math.round(seconds * 4_000_000)}) SELECT COUNT(*) AS [n] FROM [c]`,
    networked: false,
    skip: {
      'connectionCreationTimeoutMs fires on time against a server that never answers': noServer,
      'poolCreationTimeoutMs bounds building the pool': noServer,
      'a refused port is a ConnectionError, quickly': noServer,
      'an unknown host name is a ConnectionError that names the host, quickly': noServer,
      'wrong credentials are a ConnectionError that is not retryable and never shows the password': noServer,
      'connections older than maxLifetimeMs are replaced, younger ones reused': `${noServer}: no session id to compare`,
      'a killed session is discarded, never handed out again': `${noServer}; killing a connection's child process is tested in sqlite-driver.test.ts`,
      'a real deadlock is DeadlockError, and transaction({ retry }) re-runs the loser to success': oneWriter,
      'without retry, the deadlock victim sees DeadlockError': oneWriter,
      'sessions killed while in use fail their callers but never open the breaker (default settings)': `${noServer}: no session to kill`,
      'a sync statement past its timeout is cancelled on the server with QueryTimeoutError':
        "SQLite's sync connection runs each statement on the calling thread, where nothing can interrupt it (documented in the driver README)",
      ...skip,
    },
  });
}

sqliteConformance('sqlite', 'inline', {
  'a per-call timeoutMs rejects with QueryTimeoutError within timeout + 100 ms and stops the statement': onThisThread,
  'queryExecutionTimeoutMs is the default timeout': onThisThread,
  'an AbortSignal cancels the statement with AbortedError': onThisThread,
  'a timeout inside a transaction leaves the transaction to the caller, who can roll back': onThisThread,
  'a batch past timeoutMs fails with QueryTimeoutError and is cancelled; time spent between batches does not count': onThisThread,
});
sqliteConformance('sqlite_process', 'process', {});
