import { ConfigError, type DatabaseConfig } from '@dal/core';

/**
 * Where an async connection runs its statements:
 * - `'inline'` (default): the calling thread, like knex and kysely; fastest, but a running statement
 *   cannot be interrupted at all (a timeout or abort cannot stop it).
 * - `'process'`: a child Node process per connection; `cancel()` kills it, which really stops the
 *   statement. Each statement is an IPC round trip (~50 µs).
 * - `'worker'`: a worker thread per connection; `cancel()` stops waiting at once, but SQLite keeps running
 *   the statement in the abandoned thread until it ends (Node cannot interrupt native code in a thread).
 */
export type SqliteMode = 'process' | 'worker' | 'inline';

/** Options of `createSqliteDriver`, also read from `DatabaseConfig.driverOptions` (which wins). */
export interface SqliteDriverOptions {
  /**
   * Execution mode of async connections (default `'inline'`). Choose `'process'` for a file whose
   * statements must stop on a timeout; an in-memory database should stay inline (it lives inside
   * its connection: killing a process to stop a statement destroys the whole database). Sync
   * connections are always inline.
   */
  mode?: SqliteMode;
  /** Prepared statements kept per connection (default 200). */
  statementCacheSize?: number;
  /** Return every integer as `bigint` instead of `number` (default false). */
  safeIntegers?: boolean;
  /** How long a statement waits for another connection's lock before SQLITE_BUSY (default 5000 ms). */
  busyTimeoutMs?: number;
  /** Open the file read-only. */
  readonly?: boolean;
  /** Fail instead of creating the file when it does not exist. */
  fileMustExist?: boolean;
  /** Extra pragmas run on open, after the defaults, e.g. `{ cache_size: -20000 }`. */
  pragmas?: Readonly<Record<string, string | number>>;
}

/** Everything a connection needs to open the database; plain data so it can cross a thread or process. */
export interface SqliteOpenOptions {
  readonly filename: string;
  readonly memory: boolean;
  readonly readonly: boolean;
  readonly fileMustExist: boolean;
  readonly busyTimeoutMs: number;
  readonly safeIntegers: boolean;
  readonly statementCacheSize: number;
  readonly pragmas: Readonly<Record<string, string | number>>;
}

const MODES: readonly string[] = ['process', 'worker', 'inline'];
const PRAGMA_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PRAGMA_VALUE = /^[A-Za-z0-9_.+-]+$/;

/** True for ':memory:', '' and URI names asking for an in-memory database. */
export function isMemoryDatabase(filename: string): boolean {
  return filename === ':memory:' || filename === '' || filename.startsWith('file::memory:') || /[?&]mode=memory\b/.test(filename);
}

/**
 * `'inline'` for every database: what users of better-sqlite3, knex and kysely expect, and 10-30x the
 * throughput of the other modes. `'process'` (timeouts that really stop a statement) is opt-in.
 */
export const DEFAULT_MODE: SqliteMode = 'inline';

/** Merge the driver's options with the config's `driverOptions` and validate them (a config with `tls` is refused). */
export function resolveSqliteOptions(config: DatabaseConfig, driverOptions: SqliteDriverOptions): { mode: SqliteMode; open: SqliteOpenOptions } {
  const merged = { ...driverOptions, ...(config.driverOptions as SqliteDriverOptions) };
  const where = `sqlite(${config.alias})`;
  // An embedded database has no connection to encrypt: a TLS setting here is a mistake, not a no-op.
  if (config.tls !== undefined) throw new ConfigError(`${where}: SQLite is embedded and takes no "tls" setting`);
  const mode = merged.mode ?? DEFAULT_MODE;
  if (!MODES.includes(mode)) throw new ConfigError(`${where}: driverOptions.mode must be 'process', 'worker' or 'inline'`);
  const statementCacheSize = merged.statementCacheSize ?? 200;
  if (!Number.isInteger(statementCacheSize) || statementCacheSize < 0) throw new ConfigError(`${where}: statementCacheSize must be an integer >= 0`);
  const busyTimeoutMs = merged.busyTimeoutMs ?? 5000;
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0 || busyTimeoutMs > 0x7fffffff) {
    throw new ConfigError(`${where}: busyTimeoutMs must be an integer between 0 and 2147483647`);
  }
  const pragmas = merged.pragmas ?? {};
  for (const [name, value] of Object.entries(pragmas)) {
    // Pragmas cannot take bound parameters, so only plain names and values are let through.
    if (!PRAGMA_NAME.test(name) || !PRAGMA_VALUE.test(String(value))) throw new ConfigError(`${where}: invalid pragma "${name}"`);
  }
  return {
    mode: mode as SqliteMode,
    open: {
      filename: config.database,
      memory: isMemoryDatabase(config.database),
      readonly: merged.readonly === true,
      fileMustExist: merged.fileMustExist === true,
      busyTimeoutMs,
      safeIntegers: merged.safeIntegers === true,
      statementCacheSize,
      pragmas,
    },
  };
}
