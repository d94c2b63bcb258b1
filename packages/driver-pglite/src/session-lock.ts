import { QueryTimeoutError } from '@dal/core';

/**
 * PGlite has one session. Connections of several pools on one database take turns on it, like
 * SQLite's single writer: a connection holds the session from its first statement until it is
 * outside a transaction again, so no statement of another connection runs inside its transaction.
 * Waiters are served in arrival order.
 */
export class SessionLock {
  #owner: object | undefined;
  readonly #waiters: Array<{ owner: object; grant(): void }> = [];

  /**
   * Take the session for `owner` (at once when it already holds it), waiting at most `timeoutMs`.
   * @throws {QueryTimeoutError} when another connection's transaction keeps it longer.
   */
  acquire(owner: object, timeoutMs: number, alias: string): Promise<void> | undefined {
    if (this.#owner === owner) return undefined;
    if (this.#owner === undefined) {
      this.#owner = owner;
      return undefined;
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        owner,
        grant: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new QueryTimeoutError(`${alias}: another connection's transaction held the PGlite session for over ${timeoutMs} ms`, timeoutMs, undefined, { retryable: true }));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** True while `owner` holds the session. */
  heldBy(owner: object): boolean {
    return this.#owner === owner;
  }

  /** Give the session up when `owner` holds it; the longest waiter gets it. */
  release(owner: object): void {
    if (this.#owner !== owner) return;
    const next = this.#waiters.shift();
    this.#owner = next?.owner;
    next?.grant();
  }
}
