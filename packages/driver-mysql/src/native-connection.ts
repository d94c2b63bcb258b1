import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { ConfigError, ConnectionError, type DatabaseConfig } from '@dal/core';
import { createConnection, type ConnectionOptions, type SslOptions } from 'mysql2';
import { mapMysqlError, NO_TLS_CODE } from './map-error.js';

/** A column description as mysql2 reports it (only what the driver reads). */
export interface NativeField {
  readonly name: string;
  readonly columnType?: number;
}

/** mysql2's callback: rows (or a result header) and column descriptions. */
export type NativeCallback = (error: NativeError | null, result?: unknown, fields?: readonly unknown[]) => void;

/** A mysql2 error (its documented fields). */
export interface NativeError extends Error {
  readonly code?: string;
  readonly errno?: number;
  readonly sqlState?: string;
  readonly fatal?: boolean;
}

/** The part of a mysql2 `Connection` the driver uses; structural, so any 3.x copy fits. */
export interface NativeConnection {
  readonly threadId: number | null;
  /** The socket; `ref`/`unref` are optional since mysql2's `stream` option may supply any Duplex. */
  readonly stream: { destroy(): void; ref?(): unknown; unref?(): unknown };
  query(sql: string | { sql: string; rowsAsArray?: boolean }, values: unknown, callback: NativeCallback): unknown;
  query(sql: string | { sql: string; rowsAsArray?: boolean }, callback: NativeCallback): unknown;
  execute(sql: string | { sql: string; rowsAsArray?: boolean }, values: unknown, callback: NativeCallback): unknown;
  /** Drop mysql2's cached prepared statement for `sql` (it is prepared again on next use). */
  unprepare(sql: string): void;
  ping(callback: (error: NativeError | null) => void): void;
  end(callback: (error?: NativeError | null) => void): void;
  destroy(): void;
  connect(callback: (error: NativeError | null, handshake?: { serverVersion?: string }) => void): void;
  on(event: 'error', listener: (error: NativeError) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
}

/** The mysql2 version, read once from its package.json. */
export const MYSQL2_VERSION: string = (createRequire(import.meta.url)('mysql2/package.json') as { version: string }).version;

/** Prepared statements kept per connection; the server caps them globally (max_prepared_stmt_count, 16382 by default). */
const DEFAULT_MAX_PREPARED_STATEMENTS = 256;

/** How connection errors name the server: `host:port` or the socket path. */
export function describeHost(config: DatabaseConfig): string {
  const socketPath = config.driverOptions['socketPath'];
  return typeof socketPath === 'string' ? socketPath : `${config.host}:${config.port ?? 3306}`;
}

/**
 * mysql2's `ssl` for `config.tls`; undefined for plaintext. mysql2 checks the certificate against
 * the host name it connects to and has no way to name another, hence no `servername`; given an
 * IP address it checks the certificate against "localhost" instead, hence no verify-full by IP.
 * @throws {ConfigError} when `tls.servername` is set, or verify-full is asked for an IP address.
 */
function sslOptions(config: DatabaseConfig, tls: NonNullable<DatabaseConfig['tls']>): SslOptions | undefined {
  if (!tls.encrypt) return undefined;
  if (tls.servername !== undefined) {
    throw new ConfigError(`${config.alias}: tls.servername is not supported by the MySQL driver (mysql2 checks the certificate against the host connected to)`);
  }
  if (tls.verifyHost && isIP(config.host) !== 0) {
    throw new ConfigError(
      `${config.alias}: tls.mode 'verify-full' needs a host name on MySQL, not the address ${config.host} (mysql2 cannot check an IP address against the certificate): connect by the name the certificate carries, or use 'verify-ca'`,
    );
  }
  const ssl: SslOptions = { rejectUnauthorized: tls.verifyChain, verifyIdentity: tls.verifyHost };
  if (tls.ca !== undefined) ssl.ca = tls.ca;
  if (tls.cert !== undefined) ssl.cert = tls.cert;
  if (tls.key !== undefined) ssl.key = tls.key;
  return ssl;
}

function nativeOptions(config: DatabaseConfig, password: string | undefined, ssl: SslOptions | undefined): ConnectionOptions {
  const options: ConnectionOptions = {
    maxPreparedStatements: DEFAULT_MAX_PREPARED_STATEMENTS,
    ...(config.driverOptions as ConnectionOptions),
    host: config.host,
    port: config.port ?? 3306,
    user: config.user,
    password,
    database: config.database,
    connectTimeout: config.connectionCreationTimeoutMs,
    // The type conventions shared by every @dal driver; not overridable.
    charset: 'utf8mb4',
    supportBigNumbers: true,
    bigNumberStrings: false,
    decimalNumbers: false,
    dateStrings: false,
    timezone: 'Z',
    multipleStatements: false,
    namedPlaceholders: false,
    rowsAsArray: false,
  };
  // Without `tls`, driverOptions.ssl (if any) stays as given.
  if (config.tls !== undefined) options.ssl = ssl;
  return options;
}

/**
 * Let an idle connection's socket stop keeping the program alive (so one that forgot
 * `db.close()` exits), and make one with a command in flight keep it alive until the reply.
 */
export function holdEventLoop(native: NativeConnection, hold: boolean): void {
  if (hold) native.stream.ref?.();
  else native.stream.unref?.();
}

/** Close the socket now; mysql2's own `destroy()` only half-closes it. */
export function destroyNative(native: NativeConnection): void {
  native.destroy();
  native.stream.destroy();
}

function noop(): void {}

/** True for a MariaDB server's version string ('10.11.19-MariaDB-0+deb12u1'); MySQL's is '8.4.3'. */
export function isMariadbVersion(serverVersion: string): boolean {
  return /mariadb/i.test(serverVersion);
}

/**
 * Open one mysql2 connection within `signal`, then run `initSql` (session settings) on it.
 * A password function is called first, once per connection (mysql2 takes only strings).
 * Resolves with the connection and the server version (without MariaDB's '5.5.5-' prefix).
 *
 * @throws {ConnectionError} when the server refuses, the login or TLS fails, or `signal` aborts.
 * @throws {ConfigError} for TLS settings mysql2 cannot honour.
 */
export async function openNativeConnection(
  config: DatabaseConfig,
  signal: AbortSignal,
  initSql?: (serverVersion: string) => string | undefined,
): Promise<{ native: NativeConnection; serverVersion: string }> {
  const host = describeHost(config);
  const aborted = () => new ConnectionError(`${config.alias}: connecting to ${host} was aborted`, { cause: signal.reason, host });
  if (signal.aborted) throw aborted();
  const ssl = config.tls === undefined ? undefined : sslOptions(config, config.tls);
  const context = { alias: config.alias, host, connecting: true, plaintext: ssl === undefined && !('ssl' in config.driverOptions) };
  let password: string | undefined;
  try {
    password = await abortable(config.resolvePassword(), signal, aborted);
  } catch (error) {
    throw mapMysqlError(error, context);
  }
  try {
    return await connectOnce(nativeOptions(config, password, ssl), signal, aborted, initSql);
  } catch (error) {
    // mysql2 has no 'prefer': a server without TLS is an error there, so try once more in plaintext.
    if (!(config.tls?.fallbackToPlain === true && (error as { code?: unknown }).code === NO_TLS_CODE)) throw mapMysqlError(error, context);
  }
  try {
    return await connectOnce(nativeOptions(config, password, undefined), signal, aborted, initSql);
  } catch (error) {
    throw mapMysqlError(error, { ...context, plaintext: true });
  }
}

/** `promise`, or `onAbort()` as soon as `signal` aborts (a slow password function must not outlive the connect timeout). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal, onAbort: () => Error): Promise<T> {
  return new Promise((resolve, reject) => {
    const abort = () => reject(onAbort());
    signal.addEventListener('abort', abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

/** One connect attempt; rejects with mysql2's own error, or the abort error. */
function connectOnce(
  options: ConnectionOptions,
  signal: AbortSignal,
  aborted: () => ConnectionError,
  initSql?: (serverVersion: string) => string | undefined,
): Promise<{ native: NativeConnection; serverVersion: string }> {
  if (signal.aborted) return Promise.reject(aborted());
  return new Promise((resolve, reject) => {
    let native: NativeConnection;
    try {
      native = createConnection(options) as unknown as NativeConnection;
    } catch (error) {
      reject(error);
      return;
    }
    // A socket error after the caller gave up must never become an unhandled 'error' event.
    native.on('error', noop);
    const onAbort = () => {
      destroyNative(native);
      reject(aborted());
    };
    const fail = (error: unknown) => {
      signal.removeEventListener('abort', onAbort);
      destroyNative(native);
      reject(error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    native.connect((error, handshake) => {
      if (signal.aborted) return;
      if (error) return fail(error);
      const serverVersion = (handshake?.serverVersion ?? '').replace(/^5\.5\.5-/, '');
      const sql = initSql?.(serverVersion);
      if (sql === undefined) {
        signal.removeEventListener('abort', onAbort);
        resolve({ native, serverVersion });
        return;
      }
      native.query(sql, (initError) => {
        if (signal.aborted) return;
        if (initError) return fail(initError);
        signal.removeEventListener('abort', onAbort);
        resolve({ native, serverVersion });
      });
    });
  });
}
