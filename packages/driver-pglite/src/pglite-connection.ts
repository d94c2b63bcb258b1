import type { DriverConnection, DriverExecuteOptions, DriverResult } from '@dal/core';
import type { PGlite } from '@electric-sql/pglite';
import type { SessionLock } from './session-lock.js';

/**
 * A connection to a PGlite instance, as core's `DriverConnection`. The instance has one session,
 * which this connection holds for the length of its transactions (see `SessionLock`). PGlite runs
 * each statement to its end inside its WASM engine: there is no cancel, so the driver declares
 * `capabilities.cancel: false`.
 */
export class PgliteConnection implements DriverConnection {
  readonly #pg: PGlite;
  readonly #session: SessionLock;
  readonly #alias: string;
  #closed = false;

  constructor(pg: PGlite, session: SessionLock, alias: string) {
    this.#pg = pg;
    this.#session = session;
    this.#alias = alias;
  }

  get broken(): boolean {
    return this.#closed || this.#pg.closed;
  }

  async execute<R = unknown>(sql: string, params: readonly unknown[], { rowMode, timeoutMs }: DriverExecuteOptions): Promise<DriverResult<R>> {
    await this.#session.acquire(this, timeoutMs, this.#alias);
    try {
      const result = await this.#pg.query<R>(sql, params as unknown[], { rowMode });
      return { rows: result.rows, affectedRows: result.affectedRows ?? 0 };
    } finally {
      this.#releaseUnlessInTransaction();
    }
  }

  /** Never called (capabilities.cancel is false): a running PGlite statement cannot be interrupted. */
  async cancel(): Promise<void> {}

  async ping(): Promise<void> {
    await this.execute('SELECT 1', [], { rowMode: 'array', timeoutMs: 5_000 });
  }

  async serverVersion(): Promise<string> {
    const { rows } = await this.execute<{ v: string }>('SELECT version() AS v', [], { rowMode: 'object', timeoutMs: 5_000 });
    return rows[0]?.v ?? 'PGlite';
  }

  /** The instance outlives this connection: a transaction it left open is rolled back, and the session given up. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (!this.#pg.closed && this.#holdsTransaction()) await this.#pg.exec('ROLLBACK');
    } finally {
      this.#session.release(this);
    }
  }

  destroy(): void {
    void this.close().catch(() => undefined);
  }

  #holdsTransaction(): boolean {
    return this.#session.heldBy(this) && this.#pg.isInTransaction();
  }

  #releaseUnlessInTransaction(): void {
    if (this.#pg.closed || !this.#pg.isInTransaction()) this.#session.release(this);
  }
}
