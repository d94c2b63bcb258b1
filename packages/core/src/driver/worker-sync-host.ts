/**
 * The worker side of `connectSyncThroughWorker` (worker-sync.ts): holds one connection of the
 * driver's own async `connect`, runs each statement under its timeout the way `Connection`
 * does (the driver's `cancel()` on the server, then a grace period before the connection is
 * destroyed), and wakes the blocked caller after every reply.
 */
import { workerData } from 'node:worker_threads';
import { DalError } from '@dal/resilience';
import { DatabaseConfig } from '../config/database-config.js';
import { ConnectionError, QueryTimeoutError } from '../errors/errors.js';
import { serializeError } from '../errors/error-transfer.js';
import type { Driver, DriverConnection, DriverResult } from './driver.js';
import { CLOSE, FAILED, OK, READY, type WorkerReply, type WorkerRequest, type WorkerSyncData } from './worker-sync.js';

/** How long a cancelled statement may take to stop before its connection is destroyed (as in `Connection`). */
const CANCEL_GRACE_MS = 2_000;
/** Node fires longer timers at once: beyond this, no timer (the statement has no timeout). */
const MAX_TIMER_MS = 2_147_483_647;

const TIMED_OUT = Symbol('timed out');

/**
 * Serve a worker-backed synchronous connection: call this from the driver's worker script.
 * `createDriver` gets the `driverOptions` given to `connectSyncThroughWorker`.
 *
 * ```ts
 * // sync-worker.ts of a driver package
 * import { serveSyncWorker } from '@dal/core';
 * serveSyncWorker((options) => new MyDriver(options as MyDriverOptions));
 * ```
 */
export function serveSyncWorker(createDriver: (driverOptions: unknown) => Driver): void {
  const data = workerData as WorkerSyncData;
  const { port, signal } = data;
  const reply = (message: WorkerReply): void => {
    port.postMessage(message);
    Atomics.add(signal, 0, 1);
    Atomics.notify(signal, 0);
  };
  let driver: Driver | undefined;
  let config: DatabaseConfig | undefined;
  const fail = (id: number, error: unknown, sql?: string): void => {
    reply([id, FAILED, serializeError(asDalError(driver, config, error, sql))]);
  };
  // Whatever goes wrong in this thread, the caller waiting for it hears of it.
  process.on('uncaughtException', (error) => {
    fail(0, new ConnectionError(`${config?.alias ?? 'sync connection'}: the sync connection's worker failed`, { cause: error }));
    port.close();
  });

  let conn: DriverConnection | undefined;
  const opening = (async () => {
    try {
      driver = createDriver(data.driverOptions);
      config = new DatabaseConfig(data.config);
      conn = await driver.connect(config, { signal: AbortSignal.timeout(config.connectionCreationTimeoutMs) });
      reply([0, READY, await conn.serverVersion()]);
    } catch (error) {
      fail(0, error);
      port.close();
    }
  })();

  port.on('message', (request: WorkerRequest) => {
    void opening.then(async () => {
      const id = request[1];
      if (conn === undefined) return;
      if (request[0] === CLOSE) {
        await Promise.allSettled([conn.close(), driver?.close?.()]);
        reply([id, OK, [], 0, undefined]);
        port.close();
        return;
      }
      const [, , sql, params, rowMode, timeoutMs, firstRow] = request;
      try {
        const result = await runWithTimeout(conn, config!.alias, sql, params, { rowMode, timeoutMs, firstRow });
        reply([id, OK, result.rows, result.affectedRows, result.insertId]);
      } catch (error) {
        fail(id, error, sql);
      }
    });
  });
}

function asDalError(driver: Driver | undefined, config: DatabaseConfig | undefined, error: unknown, sql: string | undefined): DalError {
  if (DalError.isInstance(error)) return error;
  const alias = config?.alias ?? 'sync connection';
  if (driver === undefined) return new ConnectionError(`${alias}: the sync connection's worker could not load its driver`, { cause: error });
  return driver.dialect.mapError(error, sql === undefined ? { alias } : { alias, sql });
}

/**
 * One statement under its timeout: past it, cancelled on the server by the driver, given
 * CANCEL_GRACE_MS to stop, else the connection is destroyed; the caller gets QueryTimeoutError.
 */
async function runWithTimeout(
  conn: DriverConnection,
  alias: string,
  sql: string,
  params: readonly unknown[],
  options: { rowMode: 'object' | 'array'; timeoutMs: number; firstRow: boolean },
): Promise<DriverResult> {
  const pending = conn.execute(sql, params, options);
  const { timeoutMs } = options;
  if (!(timeoutMs <= MAX_TIMER_MS)) return pending;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([pending, new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(resolve, timeoutMs, TIMED_OUT)))]).finally(
    () => clearTimeout(timer),
  );
  if (outcome !== TIMED_OUT) return outcome;
  const settled = pending.then(
    () => true,
    () => true,
  );
  let grace: NodeJS.Timeout | undefined;
  const stopped = await Promise.race([
    conn.cancel().then(() => settled),
    new Promise<false>((resolve) => (grace = setTimeout(resolve, CANCEL_GRACE_MS, false))),
  ]).catch(() => false);
  clearTimeout(grace);
  if (!stopped) conn.destroy();
  throw new QueryTimeoutError(`${alias}: statement timed out after ${timeoutMs} ms and was cancelled`, timeoutMs, sql);
}
