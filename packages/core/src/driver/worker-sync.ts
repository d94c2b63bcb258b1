/**
 * A synchronous connection over a backend's async driver, for backends whose client is
 * asynchronous only (pg, mysql2). The connection lives in a worker thread, which holds ONE real
 * connection opened by the driver's own `connect`; the calling thread posts each statement and
 * blocks with `Atomics.wait` until the worker has answered (the technique of synckit, used by
 * prettier and eslint plugins). Timeouts, server-side cancellation and error mapping are the
 * driver's own, run inside the worker; see worker-sync-host.ts for that side.
 *
 * A driver implements `connectSync` with it, and ships a worker script that calls `serveSyncWorker`:
 *
 * ```ts
 * // my-driver.ts
 * connectSync(config: DatabaseConfig): SyncDriverConnection {
 *   return connectSyncThroughWorker(config, { workerUrl: builtFileUrl(import.meta.url, 'sync-worker.js') });
 * }
 * // sync-worker.ts (a build entry of its own)
 * serveSyncWorker(() => new MyDriver());
 * ```
 */
import { performance } from 'node:perf_hooks';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { DatabaseConfig, DatabaseConfigOptions } from '../config/database-config.js';
import { ConfigError, ConnectionError, UnsupportedFeatureError } from '../errors/errors.js';
import { rebuildError, type SerializedError } from '../errors/error-transfer.js';
import type { DriverExecuteOptions, DriverResult, RowMode, SyncDriverConnection } from './driver.js';

/**
 * How long past its timeout a statement's answer may take: the worker cancels it on the server
 * and gives it 2 s to stop (as `Connection` does) before it destroys the connection and answers.
 * Past this the worker counts as stuck, and is terminated.
 */
export const WORKER_REPLY_GRACE_MS = 3_000;
/** Starting the thread and loading the driver there, on top of `connectionCreationTimeoutMs`. */
const STARTUP_ALLOWANCE_MS = 5_000;
/** Bound on a graceful close before the thread is terminated anyway. */
const CLOSE_WAIT_MS = 2_000;

// --- the protocol, shared with worker-sync-host.ts -------------------------------------------

export const EXECUTE = 1;
export const CLOSE = 2;
/** Calling thread to worker: one statement, or close. */
export type WorkerRequest =
  | [kind: typeof EXECUTE, id: number, sql: string, params: readonly unknown[], rowMode: RowMode, timeoutMs: number, firstRow: boolean]
  | [kind: typeof CLOSE, id: number];

export const READY = 0;
export const OK = 1;
export const FAILED = 2;
/** Worker to calling thread; id 0 answers the start (connect). */
export type WorkerReply =
  | [id: number, tag: typeof READY, serverVersion: string]
  | [id: number, tag: typeof OK, rows: unknown[], affectedRows: number, insertId: number | bigint | string | undefined]
  | [id: number, tag: typeof FAILED, error: SerializedError];

/** What the worker starts with (`workerData`). */
export interface WorkerSyncData {
  /** The driver's worker script (`WorkerSyncOptions.workerUrl`), imported by BOOTSTRAP. */
  readonly script: string;
  /** The worker's end of the channel: requests arrive and replies leave here. */
  readonly port: MessagePort;
  /** Bumped and notified by the worker after each reply; the calling thread waits on it. */
  readonly signal: Int32Array;
  readonly config: DatabaseConfigOptions;
  readonly driverOptions: unknown;
}

export interface WorkerSyncOptions {
  /** The worker script: a module of the driver's package that calls `serveSyncWorker`. */
  readonly workerUrl: URL;
  /** Handed to the worker's driver factory (`serveSyncWorker`); must survive a structured clone. */
  readonly driverOptions?: unknown;
  /**
   * Parameters as the driver would send them, run on the calling thread before they cross:
   * a structured clone drops prototypes and functions (`toJSON`, `toPostgres`), so a driver
   * converts such values here. Default: as they are.
   */
  readonly encodeParams?: (params: readonly unknown[]) => readonly unknown[];
}

/**
 * The URL of `file` in the built package beside the module at `moduleUrl` (its `import.meta.url`,
 * which tsup's shim provides in CJS builds too). Run from source (vitest, `.ts`): the built file in
 * `../dist/`, since Node cannot start a worker from TypeScript.
 */
export function builtFileUrl(moduleUrl: string, file: string): URL {
  return moduleUrl.endsWith('.ts') ? new URL(`../dist/${file}`, moduleUrl) : new URL(`./${file}`, moduleUrl);
}

/**
 * Open a synchronous connection whose statements run on `config`'s server through a worker
 * thread; returns once the worker has connected. Blocks the calling thread (by design).
 * @throws {UnsupportedFeatureError} where this thread may not block (`Atomics.wait` not allowed).
 * @throws {ConfigError} when `config.driverOptions` or `driverOptions` cannot be cloned to the worker.
 * @throws {ConnectionError} when the driver cannot connect, or the worker does not answer in time.
 */
export function connectSyncThroughWorker(config: DatabaseConfig, options: WorkerSyncOptions): SyncDriverConnection {
  return WorkerSyncConnection.open(config, options);
}

/** Throw a clear error where `Atomics.wait` is not allowed (a browser-like main thread, no SharedArrayBuffer). */
function assertCanBlock(alias: string): void {
  let allowed: boolean;
  try {
    allowed = typeof SharedArrayBuffer === 'function' && Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0) === 'not-equal';
  } catch {
    allowed = false;
  }
  if (!allowed) {
    throw new UnsupportedFeatureError(
      `${alias}: a synchronous connection blocks its thread with Atomics.wait on a SharedArrayBuffer, which this runtime does not allow here; use \`await db.connection()\` instead`,
      'syncConnection',
    );
  }
}

/**
 * The worker's entry: imports the driver's script, and when that fails (a missing module, a bad
 * path) answers the waiting caller at once instead of leaving it to its timeout. Source text valid
 * as a script and as a module, since an inherited `--input-type` decides which it is.
 */
const BOOTSTRAP = `import('node:worker_threads').then(({ workerData: data }) => import(data.script).catch((error) => {
  const cause = { name: String(error && error.name), message: String(error && error.message) };
  const fields = { code: 'DAL_CONNECTION', retryable: false };
  data.port.postMessage([0, ${FAILED}, { name: 'ConnectionError', message: 'the sync connection worker could not load ' + data.script + ': ' + cause.message, fields, cause }]);
  Atomics.add(data.signal, 0, 1);
  Atomics.notify(data.signal, 0);
}));`;

/** The config as the worker rebuilds it (password and TLS key included: they stay in this process). */
function configData(config: DatabaseConfig): DatabaseConfigOptions {
  const options = {
    ...config.toJSON(),
    password: passwordForWorker(config),
    tls: config.tls?.toOptions(),
    driverOptions: config.driverOptions,
  } as Record<string, unknown>;
  // The worker holds one connection and no pool; pool sizes derived from defaults would not validate alone.
  delete options['poolMin'];
  delete options['poolMax'];
  return options as unknown as DatabaseConfigOptions;
}

/**
 * A function cannot cross to the worker, so a password function is called here, once for the
 * worker's one connection. The caller is about to block, so it cannot wait for a promise.
 * @throws {ConfigError} when the function returns a promise (or no string).
 */
function passwordForWorker(config: DatabaseConfig): string | undefined {
  const source = config.password;
  if (typeof source !== 'function') return source;
  const value: unknown = source();
  if (typeof value === 'string') return value;
  if (value instanceof Promise) value.catch(() => undefined);
  throw new ConfigError(
    `${config.alias}: a sync connection cannot wait for an async password function: give one that returns a string, or use db.connection()`,
  );
}

/** Bytes that crossed the thread arrive as Uint8Array: make them Buffers again, as the driver returns them. */
function restoreBuffers(rows: unknown[]): unknown[] {
  for (const row of rows) {
    if (row === null || typeof row !== 'object') continue;
    const record = row as Record<string, unknown>;
    for (const key in record) {
      const value = record[key];
      if (value instanceof Uint8Array && !Buffer.isBuffer(value)) record[key] = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    }
  }
  return rows;
}

class WorkerSyncConnection implements SyncDriverConnection {
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #signal: Int32Array;
  readonly #alias: string;
  readonly #encode: ((params: readonly unknown[]) => readonly unknown[]) | undefined;
  #nextId = 1;
  #serverVersion = '';
  /** Set once closed, or once the worker failed: the connection is not used again. */
  #gone: ConnectionError | undefined;

  private constructor(worker: Worker, port: MessagePort, signal: Int32Array, alias: string, options: WorkerSyncOptions) {
    this.#worker = worker;
    this.#port = port;
    this.#signal = signal;
    this.#alias = alias;
    this.#encode = options.encodeParams;
    // An open sync connection never keeps the process alive; its errors arrive as replies.
    worker.unref();
    port.unref();
    worker.on('error', () => undefined);
  }

  static open(config: DatabaseConfig, options: WorkerSyncOptions): WorkerSyncConnection {
    const alias = config.alias;
    assertCanBlock(alias);
    const { port1, port2 } = new MessageChannel();
    const signal = new Int32Array(new SharedArrayBuffer(4));
    const data: WorkerSyncData = { script: options.workerUrl.href, port: port2, signal, config: configData(config), driverOptions: options.driverOptions };
    let worker: Worker;
    try {
      worker = new Worker(BOOTSTRAP, { eval: true, workerData: data, transferList: [port2] });
    } catch (error) {
      port1.close();
      throw new ConfigError(`${alias}: the sync connection's worker could not start (driverOptions must survive a structured clone)`, { cause: error });
    }
    const connection = new WorkerSyncConnection(worker, port1, signal, alias, options);
    const reply = connection.#await(0, config.connectionCreationTimeoutMs + STARTUP_ALLOWANCE_MS, 'connecting');
    if (reply[1] === READY) connection.#serverVersion = reply[2];
    return connection;
  }

  execute<R = unknown>(sql: string, params: readonly unknown[], options: DriverExecuteOptions): DriverResult<R> {
    if (this.#gone !== undefined) throw this.#gone;
    const id = this.#nextId++;
    const values = this.#encode === undefined ? params : this.#encode(params);
    // Throws (DataCloneError) for values a structured clone cannot carry; core maps it like a driver error.
    this.#port.postMessage([EXECUTE, id, sql, values, options.rowMode, options.timeoutMs, options.firstRow === true] satisfies WorkerRequest);
    const reply = this.#await(id, options.timeoutMs + WORKER_REPLY_GRACE_MS, 'running a statement');
    if (reply[1] !== OK) throw new ConnectionError(`${this.#alias}: unexpected reply from the sync connection's worker`);
    const [, , rows, affectedRows, insertId] = reply;
    const result = { rows: restoreBuffers(rows) as R[], affectedRows };
    return insertId === undefined ? result : { ...result, insertId };
  }

  serverVersion(): string {
    return this.#serverVersion;
  }

  /** Close the driver's connection in the worker (bounded), then end the thread. Safe to call twice. */
  close(): void {
    if (this.#gone !== undefined) return;
    const id = this.#nextId++;
    try {
      this.#port.postMessage([CLOSE, id] satisfies WorkerRequest);
      this.#await(id, CLOSE_WAIT_MS, 'closing');
    } catch {
      // Closed anyway below; the server ends the session when the socket goes.
    } finally {
      this.#end(new ConnectionError(`${this.#alias}: this sync connection is closed`, { retryable: false }));
    }
  }

  /**
   * Block until the reply to request `id`, up to `waitMs`. A worker that does not answer by then
   * is terminated and the connection is gone.
   * @throws the reply's error, rebuilt as its DalError class; {ConnectionError} when the worker is stuck.
   */
  #await(id: number, waitMs: number, doing: string): WorkerReply {
    const deadline = performance.now() + waitMs;
    for (;;) {
      // Read the counter before looking for the reply: a reply posted in between changes it, and the wait returns at once.
      const seen = Atomics.load(this.#signal, 0);
      const received = receiveMessageOnPort(this.#port);
      if (received !== undefined) {
        const reply = received.message as WorkerReply;
        if (reply[0] !== id) continue;
        if (reply[1] !== FAILED) return reply;
        const error = rebuildError(reply[2]);
        // A worker whose connection is lost (or failed to open) has nothing left to offer.
        if (error instanceof ConnectionError) this.#end(error);
        throw error;
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        const stuck = new ConnectionError(
          `${this.#alias}: the sync connection's worker thread did not answer within ${Math.round(waitMs)} ms while ${doing}; it was terminated`,
        );
        this.#end(stuck);
        throw stuck;
      }
      Atomics.wait(this.#signal, 0, seen, left);
    }
  }

  #end(reason: ConnectionError): void {
    this.#gone ??= reason;
    this.#port.close();
    void this.#worker.terminate();
  }
}
