import { createRequire } from 'node:module';
import type { DatabaseConfig, Driver, DriverCapabilities, DriverConnectOptions, DriverConnection, SyncDriverConnection } from '@dal/core';
import { SqliteConnection, SqliteSyncConnection } from './sqlite-connection.js';
import { sqliteDialect } from './sqlite-dialect.js';
import { DEFAULT_MODE, isMemoryDatabase, resolveSqliteOptions, type SqliteDriverOptions, type SqliteMode } from './sqlite-options.js';
import { SqliteWorkerConnection } from './sqlite-worker-connection.js';

const nativeVersion = (createRequire(import.meta.url)('better-sqlite3/package.json') as { version: string }).version;

/**
 * The SQLite backend on better-sqlite3. Async connections run in a child process, a worker thread
 * or inline (see `SqliteMode`); `connectSync` opens a natively synchronous connection.
 *
 * ```ts
 * const driver = createSqliteDriver({ mode: 'worker' });
 * const conn = await driver.connect(new DatabaseConfig({ database: 'app.db' }), { signal: AbortSignal.timeout(5000) });
 * ```
 */
export class SqliteDriver implements Driver {
  readonly specVersion = 'v1' as const;
  readonly dialect = sqliteDialect;
  readonly capabilities: DriverCapabilities;
  readonly clientName = `better-sqlite3 ${nativeVersion}`;
  /** Execution mode of async connections unless `config.driverOptions.mode` says otherwise; undefined: `DEFAULT_MODE` (`'inline'`). */
  readonly mode: SqliteMode | undefined;
  readonly #options: SqliteDriverOptions;

  constructor(options: SqliteDriverOptions = {}) {
    this.#options = { ...options };
    this.mode = options.mode;
    // Every mode can cancel: process and worker connections stop their statement; an inline one
    // ends a wait for a lock, the only time core has a timer on it (its statements run synchronously).
    this.capabilities = Object.freeze({ cancel: true, savepoints: true, transactionalDdl: true, returning: true, sync: true, multiRowInsert: true });
  }

  /**
   * One connection for ':memory:' (each connection would be a separate database) and for inline
   * mode (statements on one thread never overlap; more connections only let readers go on while a
   * transaction is open, so raise poolMax for that); up to 4 for files otherwise.
   */
  defaultPoolSize(config: DatabaseConfig): { min: number; max: number } {
    const mode = (config.driverOptions as SqliteDriverOptions).mode ?? this.mode ?? DEFAULT_MODE;
    return isMemoryDatabase(config.database) || mode === 'inline' ? { min: 1, max: 1 } : { min: 1, max: 4 };
  }

  /**
   * Open one async connection in the configured mode.
   * @throws {ConfigError} for invalid driver options; {ConnectionError} when the database cannot be opened or `signal` aborts.
   */
  connect(config: DatabaseConfig, options: DriverConnectOptions): Promise<DriverConnection> {
    let resolved: ReturnType<typeof resolveSqliteOptions>;
    try {
      resolved = resolveSqliteOptions(config, this.#options);
      if (resolved.mode === 'inline') return Promise.resolve(SqliteConnection.open(resolved.open, config.alias));
    } catch (error) {
      return Promise.reject(error);
    }
    return SqliteWorkerConnection.open(resolved.open, config.alias, resolved.mode, options.signal);
  }

  /**
   * Open a synchronous connection on the calling thread.
   * @throws {ConfigError} for invalid driver options; {ConnectionError} when the database cannot be opened.
   */
  connectSync(config: DatabaseConfig): SyncDriverConnection {
    return SqliteSyncConnection.open(resolveSqliteOptions(config, this.#options).open, config.alias);
  }
}

/**
 * Create the SQLite driver; core's `DatabaseFactory.createDatabase('sqlite', config)` calls this.
 * `options` may be `config.driverOptions` as they are.
 *
 * ```ts
 * const driver = createSqliteDriver({ mode: 'inline' });
 * ```
 */
export function createSqliteDriver(options: SqliteDriverOptions = {}): SqliteDriver {
  return new SqliteDriver(options);
}
