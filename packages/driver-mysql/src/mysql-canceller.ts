import type { DatabaseConfig } from '@dal/core';
import { mapMysqlError } from './map-error.js';
import { describeHost, destroyNative, holdEventLoop, openNativeConnection, type NativeConnection } from './native-connection.js';

/** ER_NO_SUCH_THREAD: the target session is already gone, so there is nothing left to stop. */
const NO_SUCH_THREAD = 1094;

/**
 * One side connection per server, opened on the first cancel, that sends `KILL QUERY <id>`
 * for connections whose statement must stop. mysql2 queues commands, so concurrent cancels
 * simply run one after the other on it.
 */
export class MysqlCanceller {
  readonly #config: DatabaseConfig;
  #native: Promise<NativeConnection> | undefined;

  constructor(config: DatabaseConfig) {
    this.#config = config;
  }

  /**
   * Stop the statement running on session `threadId`; resolves once the server accepted the KILL.
   * @throws {ConnectionError} when the side connection cannot be opened.
   * @throws {QueryError} when the server refuses the KILL (e.g. missing privilege).
   */
  async killQuery(threadId: number): Promise<void> {
    if (!Number.isSafeInteger(threadId)) return;
    const native = await this.#connection();
    const sql = `KILL QUERY ${threadId}`;
    // Kept open between cancels, it keeps the program alive only while a KILL is in flight.
    holdEventLoop(native, true);
    await new Promise<void>((resolve, reject) => {
      native.query(sql, (error) => {
        holdEventLoop(native, false);
        if (error === null || error.errno === NO_SUCH_THREAD) resolve();
        else reject(mapMysqlError(error, { alias: this.#config.alias, sql, host: describeHost(this.#config) }));
      });
    });
  }

  /** Close the side connection, if one is open. */
  async close(): Promise<void> {
    const pending = this.#native;
    this.#native = undefined;
    if (pending === undefined) return;
    const native = await pending.catch(() => undefined);
    if (native === undefined) return;
    holdEventLoop(native, true);
    await new Promise<void>((resolve) => {
      native.end(() => {
        destroyNative(native);
        resolve();
      });
    });
  }

  #connection(): Promise<NativeConnection> {
    if (this.#native !== undefined) return this.#native;
    const opening = openNativeConnection(this.#config, AbortSignal.timeout(this.#config.connectionCreationTimeoutMs)).then(
      ({ native }) => {
        const forget = () => {
          if (this.#native === opening) this.#native = undefined;
        };
        native.on('error', forget);
        native.on('end', forget);
        return native;
      },
    );
    this.#native = opening;
    // A failed open is not cached: the next cancel tries again.
    opening.catch(() => {
      if (this.#native === opening) this.#native = undefined;
    });
    return opening;
  }
}
