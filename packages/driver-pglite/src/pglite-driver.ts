import { ConfigError, type DatabaseConfig, type Driver, type DriverCapabilities, type DriverConnectOptions } from '@dal/core';
import type { PGlite, PGliteOptions } from '@electric-sql/pglite';
import { mapPgliteError } from './map-error.js';
import { PgliteConnection } from './pglite-connection.js';
import { pgliteDialect } from './pglite-dialect.js';
import { leaseInstance, type InstanceLease } from './pglite-instances.js';

const CAPABILITIES: DriverCapabilities = Object.freeze({
  // A statement runs to its end inside the WASM engine: nothing can stop it from outside.
  cancel: false,
  savepoints: true,
  transactionalDdl: true,
  returning: true,
  sync: false,
  multiRowInsert: true,
});

/** PGlite has one session per database: the pool holds one connection, and callers queue for it. */
const ONE_CONNECTION = Object.freeze({ min: 1, max: 1 });

/** Options of the PGlite driver: handed to `PGlite.create` (e.g. `extensions`, `debug`); `dataDir` comes from `config.database`. */
export type PgliteDriverOptions = Omit<PGliteOptions, 'dataDir'>;

/**
 * The @dal driver for PGlite, PostgreSQL compiled to WASM and embedded in the process: no server.
 * `config.database` is a directory (created on first use) or ':memory:'.
 */
export class PgliteDriver implements Driver {
  readonly specVersion = 'v1' as const;
  readonly dialect = pgliteDialect;
  readonly capabilities = CAPABILITIES;
  readonly clientName = '@electric-sql/pglite';
  readonly #options: PgliteDriverOptions;
  #lease: InstanceLease | undefined;

  constructor(options: PgliteDriverOptions = {}) {
    this.#options = options;
  }

  defaultPoolSize(): { min: number; max: number } {
    return ONE_CONNECTION;
  }

  /**
   * The database's one session.
   * @throws {ConfigError} for a `tls` setting, or a pool of more than one connection.
   * @throws {DriverNotInstalledError} when @electric-sql/pglite is not installed.
   */
  async connect(config: DatabaseConfig, { signal }: DriverConnectOptions): Promise<PgliteConnection> {
    if (config.tls !== undefined) throw new ConfigError(`${config.alias}: PGlite is embedded (no server) and takes no "tls" setting`);
    if (config.poolSizeExplicit && config.poolMax > 1) {
      // A second connection would be a second session that PGlite does not have.
      throw new ConfigError(`${config.alias}: PGlite has one connection per database; leave poolMax unset or set it to 1 (got ${config.poolMax})`);
    }
    this.#lease ??= leaseInstance(config.database, this.#options);
    let pg: PGlite;
    try {
      pg = await abortable(this.#lease.instance, signal);
    } catch (error) {
      if (signal.aborted) throw error;
      throw mapPgliteError(error, { alias: config.alias });
    }
    return new PgliteConnection(pg, this.#lease.session, config.alias);
  }

  async close(): Promise<void> {
    const lease = this.#lease;
    this.#lease = undefined;
    await lease?.release();
  }
}

/** `promise`, or the signal's reason as soon as it aborts (the instance keeps starting for the next caller). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The factory `DatabaseFactory` calls with `config.driverOptions`. */
export const createPgliteDriver = (options: PgliteDriverOptions = {}): PgliteDriver => new PgliteDriver(options);
