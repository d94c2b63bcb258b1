import { createRequire } from 'node:module';
import { checkServerIdentity, type ConnectionOptions } from 'node:tls';
import {
  ConfigError,
  ConnectionError,
  builtFileUrl,
  connectSyncThroughWorker,
  type DatabaseConfig,
  type Dialect,
  type Driver,
  type DriverCapabilities,
  type DriverConnectOptions,
  type SyncDriverConnection,
} from '@dal/core';
import pg from 'pg';
import { mapPostgresError, NO_TLS_MESSAGE } from './map-error.js';
import { PostgresConnection, STATEMENT_TIMEOUT_BACKSTOP_MS, statementTimeoutSetting } from './postgres-connection.js';
import { postgresDialect } from './postgres-dialect.js';
import { PG_HAS_PIPELINE_MODE } from './pipeline.js';
import { preparePostgresParams, postgresTypeParsers } from './postgres-types.js';

/** The sync connection's worker script (src/sync-worker.ts, built beside this module). */
const SYNC_WORKER_URL = builtFileUrl(import.meta.url, 'sync-worker.js');

const requireFromHere = createRequire(import.meta.url);
/** pg's own conversion of one parameter to what it sends (text, or a Buffer for bytea). */
const { prepareValue } = requireFromHere('pg/lib/utils') as { prepareValue(value: unknown): unknown };

/**
 * Parameters exactly as pg would send them, so that they survive the structured clone to the sync
 * connection's worker: a Date as pg formats it, `toPostgres()` and `toJSON()` applied, arrays as JSON.
 */
function encodeSyncParams(params: readonly unknown[]): unknown[] {
  return preparePostgresParams(params).map((value) => prepareValue(value));
}

const PG_VERSION = (requireFromHere('pg/package.json') as { version: string }).version;

const DEFAULT_PORT = 5432;
const DEFAULT_PREPARED_STATEMENT_CACHE_SIZE = 100;
/** Keys of `config.driverOptions` read by this driver; every other key goes to `pg.Client`. */
const OWN_OPTION_KEYS = new Set(['preparedStatements', 'preparedStatementCacheSize']);
/** pg.Client settings pg sends as startup parameters that PgBouncer refuses the connection for. */
const STARTUP_PARAMETERS_POOLER_REFUSES = ['statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'options'];

const CAPABILITIES: DriverCapabilities = Object.freeze({
  cancel: true,
  savepoints: true,
  transactionalDdl: true,
  returning: true,
  sync: true,
  multiRowInsert: true,
  // pg's pipeline mode carries it; with an older pg each statement keeps a connection of its own.
  pipelining: PG_HAS_PIPELINE_MODE,
});

/** Options of the PostgreSQL driver; `config.driverOptions` may override them per database. */
export interface PostgresDriverOptions {
  /**
   * Run parameterized SQL that repeats on a connection as a named prepared statement (parsed
   * once per connection). Default true; turn off behind a transaction-mode PgBouncer older than 1.21.
   */
  readonly preparedStatements?: boolean;
  /** Most named prepared statements per connection (default 100). */
  readonly preparedStatementCacheSize?: number;
}

function readOptions(base: PostgresDriverOptions, driverOptions: Readonly<Record<string, unknown>>) {
  const prepared = driverOptions['preparedStatements'] ?? base.preparedStatements ?? true;
  const cacheSize = driverOptions['preparedStatementCacheSize'] ?? base.preparedStatementCacheSize ?? DEFAULT_PREPARED_STATEMENT_CACHE_SIZE;
  return {
    preparedStatements: prepared !== false,
    preparedStatementCacheSize: typeof cacheSize === 'number' && cacheSize >= 0 ? cacheSize : DEFAULT_PREPARED_STATEMENT_CACHE_SIZE,
  };
}

/**
 * The PostgreSQL backend on `pg`: opens one `pg.Client` per connection (core owns pooling).
 *
 * ```ts
 * const driver = createPostgresDriver();
 * const conn = await driver.connect(DatabaseConfig.fromUrl('postgres://postgres@localhost/app'), { signal });
 * ```
 */
export class PostgresDriver implements Driver {
  readonly specVersion = 'v1' as const;
  readonly dialect: Dialect = postgresDialect;
  readonly capabilities: DriverCapabilities = CAPABILITIES;
  readonly clientName: string = `pg ${PG_VERSION}`;
  readonly #options: PostgresDriverOptions;

  constructor(options: PostgresDriverOptions = {}) {
    this.#options = { ...options };
  }

  /**
   * Open one session: `application_name` is `dal:<alias>` and `statement_timeout` starts at
   * `queryExecutionTimeoutMs` + 1 s, so the server stops a statement core failed to cancel.
   * With `config.pooler` set (PgBouncer in transaction mode) no statement_timeout is sent, no
   * named prepared statements are used and statements that leave session state are refused.
   * Settings in `config.driverOptions` (ssl, keepAlive, ...) go to `pg.Client` as they are;
   * `config.tls` becomes pg's `ssl`. A password function is handed to pg, which calls it when
   * the server asks for a password.
   * @throws {ConnectionError} when the server cannot be reached, refuses the login or the TLS
   *   certificate (not retryable) or `options.signal` aborts first.
   */
  async connect(config: DatabaseConfig, options: DriverConnectOptions): Promise<PostgresConnection> {
    const { signal } = options;
    const port = config.port ?? DEFAULT_PORT;
    const address = `${config.host}:${port}`;
    const where = `${config.alias} (${address})`;
    if (signal.aborted) {
      throw new ConnectionError(`${where}: connect aborted`, { cause: signal.reason, host: address });
    }
    const own = readOptions(this.#options, config.driverOptions);
    const refused = STARTUP_PARAMETERS_POOLER_REFUSES.filter((key) => config.pooler !== undefined && config.driverOptions[key] !== undefined);
    if (refused.length > 0) {
      throw new ConfigError(`${where}: driverOptions ${refused.join(', ')} would be sent as startup parameters, which ${config.pooler} refuses; use SET LOCAL inside transactions instead`);
    }
    const clientConfig: pg.ClientConfig & Record<string, unknown> = {
      host: config.host,
      port,
      database: config.database,
      application_name: `dal:${config.alias}`,
      keepAlive: true,
      types: postgresTypeParsers,
    };
    // PgBouncer refuses statement_timeout as a startup parameter; behind it the bound is set per transaction.
    if (config.pooler === undefined) {
      clientConfig.statement_timeout = statementTimeoutSetting(config.queryExecutionTimeoutMs + STATEMENT_TIMEOUT_BACKSTOP_MS);
    }
    if (config.user !== undefined) clientConfig.user = config.user;
    if (typeof config.password === 'string') clientConfig.password = config.password;
    else if (config.password !== undefined) clientConfig.password = async () => (await config.resolvePassword()) ?? '';
    for (const [key, value] of Object.entries(config.driverOptions)) {
      if (!OWN_OPTION_KEYS.has(key)) clientConfig[key] = value;
    }
    if (config.tls !== undefined) clientConfig.ssl = sslOptions(config.tls);

    let opened: { client: pg.Client; serverVersion: string | undefined };
    try {
      opened = await openClient(clientConfig, signal, where, address);
    } catch (error) {
      // pg has no 'prefer': it reports a server without TLS as an error, so try once more in plaintext.
      if (!(config.tls?.fallbackToPlain === true && error instanceof Error && error.message === NO_TLS_MESSAGE)) {
        throw mapPostgresError(error, { alias: config.alias, host: address, connecting: true });
      }
      clientConfig.ssl = false;
      opened = await openClient(clientConfig, signal, where, address).catch((plainError: unknown) => {
        throw mapPostgresError(plainError, { alias: config.alias, host: address, connecting: true });
      });
    }
    const { client, serverVersion } = opened;

    const timeout = clientConfig.statement_timeout;
    return new PostgresConnection(client, {
      alias: config.alias,
      host: typeof clientConfig.host === 'string' ? clientConfig.host : config.host,
      port: typeof clientConfig.port === 'number' ? clientConfig.port : port,
      address,
      statementTimeoutMs: typeof timeout === 'number' ? timeout : 0,
      // A named statement lives on one server session, which a transaction-mode pooler does not keep.
      preparedStatements: own.preparedStatements && config.pooler === undefined,
      preparedStatementCacheSize: own.preparedStatementCacheSize,
      controlTimeoutMs: config.connectionCreationTimeoutMs,
      serverVersion,
      pooler: config.pooler,
      pipelining: PG_HAS_PIPELINE_MODE && config.pipelining,
    });
  }

  /**
   * Open a synchronous connection: a worker thread holds one connection opened by `connect`
   * (same settings, timeouts and cancel requests) and the calling thread blocks until each
   * statement's result is back.
   * @throws {ConnectionError} when the server cannot be reached (as `connect`) or the worker stops answering.
   */
  connectSync(config: DatabaseConfig): SyncDriverConnection {
    return connectSyncThroughWorker(config, { workerUrl: SYNC_WORKER_URL, driverOptions: this.#options, encodeParams: encodeSyncParams });
  }
}

/**
 * pg's `ssl` (Node's tls.connect options) for `config.tls`. pg sets the SNI name to the host,
 * so `servername` only changes the name the certificate is checked against.
 */
function sslOptions(tls: NonNullable<DatabaseConfig['tls']>): ConnectionOptions | false {
  if (!tls.encrypt) return false;
  const ssl: ConnectionOptions = { rejectUnauthorized: tls.verifyChain };
  if (tls.ca !== undefined) ssl.ca = tls.ca;
  if (tls.cert !== undefined) ssl.cert = tls.cert;
  if (tls.key !== undefined) ssl.key = tls.key;
  const servername = tls.servername;
  if (tls.verifyChain && !tls.verifyHost) ssl.checkServerIdentity = () => undefined;
  else if (servername !== undefined) ssl.checkServerIdentity = (_host, cert) => checkServerIdentity(servername, cert);
  return ssl;
}

/** Connect one pg.Client within `signal`; rejects with pg's own error, or a ConnectionError when aborted. */
async function openClient(
  clientConfig: pg.ClientConfig,
  signal: AbortSignal,
  where: string,
  address: string,
): Promise<{ client: pg.Client; serverVersion: string | undefined }> {
  const client = new pg.Client(clientConfig);
  let serverVersion: string | undefined;
  client.connection.on('parameterStatus', (msg: { parameterName: string; parameterValue: string }) => {
    if (msg.parameterName === 'server_version') serverVersion = msg.parameterValue;
  });
  // A failure after connect() settled is reported as 'error'; never leave it unhandled.
  client.on('error', () => {});

  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      client.connection.stream.destroy();
      reject(new ConnectionError(`${where}: connect aborted`, { cause: signal.reason, host: address }));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    client.connect().then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        client.connection.stream.destroy();
        reject(error);
      },
    );
  });
  return { client, serverVersion };
}

/**
 * Create the PostgreSQL driver; `DatabaseFactory.createDatabase('postgres', config)` calls this.
 *
 * ```ts
 * const driver = createPostgresDriver({ preparedStatements: false });
 * ```
 */
export function createPostgresDriver(options?: PostgresDriverOptions): PostgresDriver {
  return new PostgresDriver(options);
}
