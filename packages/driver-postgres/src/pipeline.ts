/**
 * Pipelining on one `pg.Client`: several autocommit statements in flight on one session, each
 * sent as Parse/Bind/Describe/Execute/Sync (or one simple Query) right behind the previous one,
 * without waiting for its answer. The wire work is pg's own pipeline mode (recent pg releases,
 * `client.pipeline`; feature-detected), switched on only while statements are in flight here, so the exclusive path
 * (`PostgresConnection.execute`) runs exactly as before. This file adds what core's guarantees
 * need on top: statements are written together once per tick (fewer system calls, and a
 * statement cancelled in the same tick is never sent), a cancel reaches only the statement it is
 * meant for, and a statement that leaves a transaction open ends the session.
 */
import { AbortedError, ConnectionError, TransactionError } from '@dal/core';
import pg from 'pg';

/** pg's Client with pipeline mode: a plain property read on every `query` call. */
interface PipelineModeClient {
  pipeline: boolean;
}

/** True when the installed pg has pipeline mode ; otherwise the driver does not declare pipelining. */
export const PG_HAS_PIPELINE_MODE =
  typeof (pg.Client.prototype as unknown as { _pulsePipelinedQueryQueue?: unknown })._pulsePipelinedQueryQueue === 'function';

/** What a pipeline needs from the connection it runs on. */
export interface PipelineHost {
  readonly client: pg.Client;
  readonly alias: string;
  /** Deliver a CancelRequest for whatever the session is running now. */
  sendCancel(): Promise<void>;
  /** True when statements are in flight (hold the event loop), false once the last answer came back. */
  busy(busy: boolean): void;
  /** End the session at once (it is unusable). */
  destroy(): void;
}

/**
 * How long a cancelled statement may take to stop before its session is ended (as core's grace for
 * a connection of its own): a cancel that cannot get through means the session is unusable anyway.
 */
const CANCEL_GRACE_MS = 2_000;

/** A cancel request aimed at one statement that lands after it ended stops the next one, within this long. */
const STRAY_CANCEL_WINDOW_MS = 5_000;

/** A statement cancelled by a CancelRequest: its (implicit) transaction was rolled back. */
function isCancelledByRequest(error: unknown): boolean {
  const { code, message } = error as { code?: unknown; message?: unknown };
  return code === '57014' && typeof message === 'string' && message.includes('user request');
}

interface Queued {
  readonly config: pg.QueryConfig;
  readonly resolve: (result: pg.QueryResult | pg.QueryResult[]) => void;
  readonly reject: (error: unknown) => void;
  state: 'unsent' | 'sent' | 'done';
  /** The caller gave up: cancel it when it runs, and discard its answer. */
  cancelWanted: boolean;
  /** Sent again after a cancel meant for another statement stopped it. */
  resent: boolean;
  /** Ends the session unless the statement stopped within the grace after its cancel. */
  grace: NodeJS.Timeout | undefined;
}

/** The pipelined statements of one session, in the order the server answers them. */
export class StatementPipeline {
  readonly #host: PipelineHost;
  #unsent: Queued[] = [];
  /** Sent, not answered yet; the first is the one the server runs now. */
  readonly #sent: Queued[] = [];
  #flushScheduled = false;
  /**
   * Set once a statement left a transaction open and the session was ended for it: the statements
   * behind it ran inside that transaction, which the server rolls back, so an answer of theirs read
   * from the same network packet is no success.
   */
  #inAbandonedTransaction = false;
  /** When this pipeline last sent a CancelRequest (a late one may hit the statement after its target). */
  #lastCancelAt = Number.NEGATIVE_INFINITY;

  constructor(host: PipelineHost) {
    this.#host = host;
  }

  /** Statements queued or in flight. */
  get size(): number {
    return this.#unsent.length + this.#sent.length;
  }

  /**
   * Queue one statement; it is written with the others queued in this tick. `result` settles
   * with pg's answer or error; `cancel` stops this statement only (see `DriverConnection.pipeline`).
   */
  send(config: pg.QueryConfig): { result: Promise<pg.QueryResult | pg.QueryResult[]>; cancel: () => Promise<void> } {
    let queued!: Queued;
    const result = new Promise<pg.QueryResult | pg.QueryResult[]>((resolve, reject) => {
      queued = { config, resolve, reject, state: 'unsent', cancelWanted: false, resent: false, grace: undefined };
    });
    if (this.size === 0) this.#host.busy(true);
    this.#queue(queued);
    return { result, cancel: () => this.#cancel(queued) };
  }

  /** The session ended: statements not written yet fail too (pg fails those it sent). */
  failUnsent(): void {
    const unsent = this.#unsent;
    if (unsent.length === 0) return;
    this.#unsent = [];
    const error = new ConnectionError(`${this.#host.alias}: the connection was lost before the statement was sent`);
    for (const queued of unsent) this.#settle(queued, () => queued.reject(error));
  }

  #queue(queued: Queued): void {
    this.#unsent.push(queued);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    process.nextTick(this.#flush);
  }

  /** Write every queued statement in one go (the socket is corked around them). */
  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const batch = this.#unsent;
    if (batch.length === 0) return;
    this.#unsent = [];
    const client = this.#host.client;
    (client as unknown as PipelineModeClient).pipeline = true;
    const stream = client.connection.stream;
    stream.cork?.();
    try {
      for (const queued of batch) {
        queued.state = 'sent';
        this.#sent.push(queued);
        // The callback form: pg calls it on the statement's ReadyForQuery (or error), so the
        // transaction status read there is this statement's.
        client.query(queued.config, (error: Error | null | undefined, result: pg.QueryResult | pg.QueryResult[]) => this.#answered(queued, error, result));
      }
    } finally {
      stream.uncork?.();
    }
  };

  #answered(queued: Queued, error: Error | null | undefined, result: pg.QueryResult | pg.QueryResult[]): void {
    // pg may report a statement twice (an error, then its ReadyForQuery): the first report counts.
    if (queued.state !== 'sent') return;
    clearTimeout(queued.grace);
    const index = this.#sent.indexOf(queued);
    if (index >= 0) this.#sent.splice(index, 1);
    const next = this.#sent[0];
    if (index === 0 && next?.cancelWanted === true) this.#cancelRunning(next).catch(() => this.#host.destroy());
    if (error == null) {
      if (this.#inAbandonedTransaction) {
        this.#settle(queued, () => queued.reject(new ConnectionError(`${this.#host.alias}: the session ended under the statement (a statement before it left a transaction open, which was rolled back)`)));
        return;
      }
      if (this.#host.client.getTransactionStatus() !== 'I') {
        // A BEGIN through a pool shortcut: the statements behind it would join its transaction.
        this.#inAbandonedTransaction = true;
        this.#host.destroy();
        this.#settle(queued, () =>
          queued.reject(new TransactionError(`${this.#host.alias}: a statement left a transaction open on a shared connection; use db.withConnection(conn => conn.transaction(...)) for transactions`)),
        );
        return;
      }
      this.#settle(queued, () => queued.resolve(result));
      return;
    }
    if (!queued.cancelWanted && !queued.resent && isCancelledByRequest(error) && performance.now() - this.#lastCancelAt < STRAY_CANCEL_WINDOW_MS) {
      // A cancel meant for the statement before it landed late: this one never took effect, so it runs again.
      queued.resent = true;
      queued.state = 'unsent';
      this.#queue(queued);
      return;
    }
    this.#settle(queued, () => queued.reject(error));
  }

  #settle(queued: Queued, report: () => void): void {
    queued.state = 'done';
    if (this.size === 0) {
      (this.#host.client as unknown as PipelineModeClient).pipeline = false;
      this.#host.busy(false);
    }
    report();
  }

  #cancel(queued: Queued): Promise<void> {
    if (queued.state === 'done') return Promise.resolve();
    queued.cancelWanted = true;
    if (queued.state === 'unsent') {
      const index = this.#unsent.indexOf(queued);
      if (index >= 0) this.#unsent.splice(index, 1);
      this.#settle(queued, () => queued.reject(new AbortedError(`${this.#host.alias}: statement dropped before it was sent`)));
      return Promise.resolve();
    }
    // The server runs the statements in order: only the first one in flight is running now; a
    // later one is cancelled when its turn comes (see #answered).
    if (this.#sent[0] !== queued) return Promise.resolve();
    return this.#cancelRunning(queued);
  }

  /** Cancel `queued`, the statement the server runs now; the session ends unless it stops within the grace. */
  #cancelRunning(queued: Queued): Promise<void> {
    this.#lastCancelAt = performance.now();
    queued.grace = setTimeout(() => {
      if (queued.state === 'sent') this.#host.destroy();
    }, CANCEL_GRACE_MS);
    return this.#host.sendCancel();
  }
}
