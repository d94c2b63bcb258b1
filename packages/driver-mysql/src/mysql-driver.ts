import {
  builtFileUrl,
  connectSyncThroughWorker,
  type DatabaseConfig,
  type Dialect,
  type Driver,
  type DriverCapabilities,
  type DriverConnectOptions,
  type SyncDriverConnection,
} from '@dal/core';
import { MysqlCanceller } from './mysql-canceller.js';
import { MysqlConnection, toNativeParams } from './mysql-connection.js';
import { mysqlDialect } from './mysql-dialect.js';
import { MYSQL2_VERSION } from './native-connection.js';

/** The sync connection's worker script (src/sync-worker.ts, built beside this module). */
const SYNC_WORKER_URL = builtFileUrl(import.meta.url, 'sync-worker.js');

/** Options of `createMysqlDriver`. */
export interface MysqlDriverOptions {
  /**
   * The server-side statement bound (MariaDB `max_statement_time`, MySQL `max_execution_time`)
   * is the query timeout plus this margin, a backstop behind core's own cancel. `false` sets none.
   * Default 1000.
   */
  readonly serverTimeoutMarginMs?: number | false;
}

const CAPABILITIES: DriverCapabilities = Object.freeze({
  cancel: true,
  savepoints: true,
  transactionalDdl: false,
  // MariaDB 10.5+ has RETURNING for INSERT/DELETE only, MySQL none: not portable.
  returning: false,
  sync: true,
  multiRowInsert: true,
});

/**
 * The MySQL / MariaDB backend on mysql2: one mysql2 connection per `DriverConnection`, plus one
 * lazily opened side connection per server for `KILL QUERY`.
 *
 * ```ts
 * const driver = createMysqlDriver();
 * const conn = await driver.connect(config, { signal: AbortSignal.timeout(5_000) });
 * const { rows } = await conn.execute('SELECT ? AS x', [1], { rowMode: 'object', timeoutMs: 1_000 });
 * ```
 */
export class MysqlDriver implements Driver {
  readonly specVersion = 'v1' as const;
  readonly dialect: Dialect = mysqlDialect;
  readonly capabilities: DriverCapabilities = CAPABILITIES;
  readonly clientName: string = `mysql2 ${MYSQL2_VERSION}`;
  readonly #margin: number | false;
  readonly #options: MysqlDriverOptions;
  readonly #cancellers = new Map<string, MysqlCanceller>();

  constructor(options: MysqlDriverOptions = {}) {
    const margin = options.serverTimeoutMarginMs ?? 1_000;
    if (margin !== false && !(Number.isFinite(margin) && margin >= 0)) {
      throw new RangeError('serverTimeoutMarginMs must be a non-negative number or false');
    }
    this.#margin = margin;
    this.#options = { ...options };
  }

  /**
   * Open one connection within `options.signal`.
   * @throws {ConnectionError} when the server is unreachable, the login fails (not retryable)
   * or the signal aborts.
   */
  connect(config: DatabaseConfig, options: DriverConnectOptions): Promise<MysqlConnection> {
    const key = config.hash();
    let canceller = this.#cancellers.get(key);
    if (canceller === undefined) {
      canceller = new MysqlCanceller(config);
      this.#cancellers.set(key, canceller);
    }
    return MysqlConnection.open(config, options.signal, { canceller, serverTimeoutMarginMs: this.#margin });
  }

  /**
   * Open a synchronous connection: a worker thread holds one connection opened by `connect`
   * (same settings, server-side bound and KILL QUERY) and the calling thread blocks until each
   * statement's result is back. Objects and arrays are sent as JSON text, as `connect`'s are,
   * before they cross to the worker.
   * @throws {ConnectionError} when the server cannot be reached (as `connect`) or the worker stops answering.
   */
  connectSync(config: DatabaseConfig): SyncDriverConnection {
    return connectSyncThroughWorker(config, { workerUrl: SYNC_WORKER_URL, driverOptions: this.#options, encodeParams: toNativeParams });
  }

  /** Close the side connections used for cancels. */
  async close(): Promise<void> {
    const cancellers = [...this.#cancellers.values()];
    this.#cancellers.clear();
    await Promise.all(cancellers.map((canceller) => canceller.close()));
  }
}

/**
 * Create the MySQL / MariaDB driver; `DatabaseFactory.createDatabase('mysql', config)` calls this.
 *
 * ```ts
 * import { createMysqlDriver } from '@dal/driver-mysql';
 * const driver = createMysqlDriver({ serverTimeoutMarginMs: 2_000 });
 * ```
 * @throws {RangeError} when `serverTimeoutMarginMs` is negative or not a number.
 */
export function createMysqlDriver(options?: MysqlDriverOptions): MysqlDriver {
  return new MysqlDriver(options);
}
