import { createRequire } from 'node:module';
import { ConnectionError, type DatabaseConfig } from '@dal/core';
import { createConnection, type ConnectionOptions } from 'mysql2';
import { mapMysqlError } from './map-error.js';

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

function nativeOptions(config: DatabaseConfig): ConnectionOptions {
  return {
    maxPreparedStatements: DEFAULT_MAX_PREPARED_STATEMENTS,
    ...(config.driverOptions as ConnectionOptions),
    host: config.host,
    port: config.port ?? 3306,
    user: config.user,
    password: config.password,
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

/**
 * Open one mysql2 connection within `signal`, then run `initSql` (session settings) on it.
 * Resolves with the connection and the server version (without MariaDB's '5.5.5-' prefix).
 *
 * @throws {ConnectionError} when the server refuses, the login fails, or `signal` aborts.
 */
export function openNativeConnection(
  config: DatabaseConfig,
  signal: AbortSignal,
  initSql?: (serverVersion: string) => string | undefined,
): Promise<{ native: NativeConnection; serverVersion: string }> {
  const host = describeHost(config);
  const context = { alias: config.alias, host, connecting: true };
  const aborted = () => new ConnectionError(`${config.alias}: connecting to ${host} was aborted`, { cause: signal.reason, host });
  if (signal.aborted) return Promise.reject(aborted());
  return new Promise((resolve, reject) => {
    let native: NativeConnection;
    try {
      native = createConnection(nativeOptions(config)) as unknown as NativeConnection;
    } catch (error) {
      reject(mapMysqlError(error, context));
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
      reject(mapMysqlError(error, context));
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
