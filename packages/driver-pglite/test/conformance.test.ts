import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseConfig, PoolManager, type DatabaseConfigOptions } from '@dal/core';
import { describeConformance } from '@dal/conformance';
import { afterAll } from 'vitest';
import { PgliteDatabase } from '../src/index.js';

// One data directory for the whole run, as a server would be: every Database of the suite sees the same tables.
const dir = mkdtempSync(join(tmpdir(), 'dal-conformance-pglite-'));
afterAll(async () => {
  await PoolManager.closeAll();
  rmSync(dir, { recursive: true, force: true });
});

const noServer = 'PGlite is embedded: there is no server, network or password';
const noCancel = "PGlite runs a statement to its end inside its WASM engine, on the caller's thread: no timer or abort can interrupt it";

const noSync = 'PGlite runs on this thread only: a synchronous connection through a worker would need a second instance on the same data directory';
const oneSession = 'one PGlite session: transactions of different connections take turns, so they cannot deadlock';

const base = new DatabaseConfig({ database: join(dir, 'db'), alias: 'pglite' });
const oneConnection = 'PGlite has one session per database, so every pool holds one connection (a larger poolMax is a ConfigError)';

/** The suite's settings, its pool sizes brought down to PGlite's one connection. */
function onOneConnection(overrides: Partial<DatabaseConfigOptions> = {}): Partial<DatabaseConfigOptions> {
  const sized = { ...overrides };
  if (sized.poolMax !== undefined) sized.poolMax = 1;
  if (sized.poolMin !== undefined) sized.poolMin = Math.min(sized.poolMin, 1);
  return sized;
}

describeConformance({
  name: 'pglite',
  createDatabase: (overrides, options) => new PgliteDatabase(base.with(onOneConnection(overrides)), options),
  types: { int: 'INTEGER', bigint: 'BIGINT', text: 'TEXT', varchar: 'VARCHAR', decimal: 'NUMERIC(12,2)', timestamp: 'TIMESTAMPTZ', boolean: 'BOOLEAN', bytes: 'BYTEA', autoIncrementKey: 'SERIAL PRIMARY KEY' },
  slowStatement: (seconds, marker) => `SELECT /* ${marker} */ COUNT(*) AS [n] FROM generate_series(1, ${Math.round(seconds * 3_000_000)})`,
  networked: false,
  skip: {
    'sync connection': noSync,
    'connectionCreationTimeoutMs fires on time against a server that never answers': noServer,
    'poolCreationTimeoutMs bounds building the pool': noServer,
    'a refused port is a ConnectionError, quickly': noServer,
    'an unknown host name is a ConnectionError that names the host, quickly': noServer,
    'wrong credentials are a ConnectionError that is not retryable and never shows the password': noServer,
    'connections older than maxLifetimeMs are replaced, younger ones reused': `${noServer}: no session id to compare`,
    'a killed session is discarded, never handed out again': `${noServer}: no session to kill`,
    'sessions killed while in use fail their callers but never open the breaker (default settings)': `${noServer}: no session to kill`,
    'a per-call timeoutMs rejects with QueryTimeoutError within timeout + 100 ms and stops the statement': noCancel,
    'queryExecutionTimeoutMs is the default timeout': noCancel,
    'an AbortSignal cancels the statement with AbortedError': noCancel,
    'a timeout inside a transaction leaves the transaction to the caller, who can roll back': noCancel,
    ...Object.fromEntries(['db.execute', 'db.executeFirst', 'db.query', 'conn.execute', 'tx.execute'].map((entry) => [`${entry}: its timeout applies`, noCancel])),
    'syncConnection works on this backend, and a released one is gone with the pool': noSync,
    'syncConnection().execute: counted in the metrics under its tags, logged when slow': noSync,
    'syncConnection().execute: a server error is the same typed error, counted, and never opens the breaker': noSync,
    'syncConnection().execute: its timeout applies': noSync,
    'a real deadlock is DeadlockError, and transaction({ retry }) re-runs the loser to success': oneSession,
    'without retry, the deadlock victim sees DeadlockError': oneSession,
    'an exhausted pool rejects with PoolTimeoutError after the acquisition timeout, losing no slot': `${oneConnection}; pglite.test.ts checks exhaustion, FIFO and PoolTimeoutError on its pool of one`,
    'idle connections above poolMin are closed after idleTimeoutMs': `${oneConnection}: none is ever above poolMin`,
    'poolMin connections are opened up front and kept warm through idle eviction': `${oneConnection}: poolMin cannot be 2`,
    // No DriverConnection.stream yet: core falls back to execute (correct rows, whole result in memory).
    'a million-row stream keeps the heap flat and holds one connection until it ends': 'no cursor streaming in this driver yet: results are read whole',
    'break stops the statement on the server and frees the connection': `${noCancel}, and results are read whole (no streaming yet)`,
    'a batch past timeoutMs fails with QueryTimeoutError and is cancelled; time spent between batches does not count': noCancel,
  },
});
