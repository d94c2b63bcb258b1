import { DalError, sleep } from '@dal/resilience';
import { Connection, runAndRelease, type ExecuteOptions } from '../connection/connection.js';
import type { ResultShape } from '../connection/statement.js';
import { PooledStatements } from '../database/pooled-statements.js';
import { ConfigError, ConnectionError, PoolTimeoutError } from '../errors/errors.js';
import type { PoolRuntime } from '../pool/pool-runtime.js';
import type { Lease } from '../pool/pool.js';
import { timeoutSignal } from '../timeout-signal.js';
import { nativeRowOn } from './native-row.js';
import type { ReplicaNode, ReplicaSet } from './replica-set.js';

export interface ReplicaReadOptions {
  /**
   * A token from `db.commitToken()`: read only from a replica that has replayed it (read your
   * writes), waiting up to `maxWaitMs` for one, else from the primary.
   */
  consistentWith?: string;
  /** How long to wait for a replica to replay `consistentWith` before reading from the primary (default 100 ms). */
  maxWaitMs?: number;
}

const DEFAULT_MAX_WAIT_MS = 100;
/** How often a replica's replayed position is read again while waiting for a token (without a server-side wait). */
const POLL_MS = 5;
const POSITION_QUERY_TIMEOUT_MS = 5_000;

/** What a replica read needs of its Database: the primary's pool and, with replicas configured, the set. */
export type ReplicaSource = () => Promise<{ primary: PoolRuntime; set: ReplicaSet | undefined }>;

interface Chosen {
  conn: Connection;
  node: ReplicaNode | undefined;
  set: ReplicaSet | undefined;
}

/** `conn`, on `node`, chosen for a read: counted among the node's reads. */
function served(conn: Connection, node: ReplicaNode, set: ReplicaSet): Chosen {
  node.reads++;
  return { conn, node, set };
}

/**
 * The read API of a Database on its replicas (`db.replica(options)`): each statement or
 * connection goes to a healthy replica within the lag limits (in turn), or to the primary when
 * none is usable (unless `replicaFallback: 'error'`). A statement cut off by a replica that went
 * away, or cancelled by a hot standby to apply replication, runs once more elsewhere. Without
 * replicas in the config everything goes to the primary. @dal never parses SQL: send only reads.
 *
 * ```ts
 * const token = await db.commitToken();
 * const rows = await db.replica({ consistentWith: token, maxWaitMs: 200 }).execute('SELECT * FROM [orders] WHERE [id] = ?', [id]);
 * ```
 */
export class ReplicaHandle extends PooledStatements {
  readonly #source: ReplicaSource;
  readonly #token: string | undefined;
  readonly #maxWaitMs: number;

  /** @throws {ConfigError} for options of the wrong type. */
  constructor(source: ReplicaSource, options: ReplicaReadOptions, alias: string) {
    super();
    if (options === null || typeof options !== 'object') throw new ConfigError(`${alias}: db.replica() takes an options object`);
    const { consistentWith, maxWaitMs } = options;
    if (consistentWith !== undefined && typeof consistentWith !== 'string') {
      throw new ConfigError(`${alias}: "consistentWith" must be a token from db.commitToken()`);
    }
    if (maxWaitMs !== undefined && (typeof maxWaitMs !== 'number' || !Number.isFinite(maxWaitMs) || maxWaitMs < 0)) {
      throw new ConfigError(`${alias}: "maxWaitMs" must be a non-negative number of milliseconds, got ${String(maxWaitMs)}`);
    }
    this.#source = source;
    this.#token = consistentWith;
    this.#maxWaitMs = maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
  }

  /** A pooled connection on the chosen node; release it. Transactions on it run on that node. */
  async connection(options: { signal?: AbortSignal } = {}): Promise<Connection> {
    return (await this.#choose(options.signal, undefined)).conn;
  }

  /** The statement, on the chosen node; a read cut off there runs once more elsewhere. */
  protected override async statement(sql: string, params: readonly unknown[] | undefined, options: ExecuteOptions | undefined, shape: ResultShape): Promise<unknown> {
    const first = await this.#choose(options?.signal, undefined);
    try {
      return await runAndRelease(first.conn, sql, params, options, shape);
    } catch (error) {
      const { node, set } = first;
      if (set === undefined || node === undefined || node === set.writerNode || !DalError.isInstance(error)) throw error;
      const unreachable = error instanceof ConnectionError;
      if (!unreachable && !set.isRecoveryConflict(error)) throw error;
      if (unreachable) set.eject(node);
      // A read: running it again elsewhere is safe, once.
      const second = await this.#choose(options?.signal, node);
      return runAndRelease(second.conn, sql, params, options, shape);
    }
  }

  /** A connection on the node this read goes to, not `excluded`; counted as a read there. */
  async #choose(signal: AbortSignal | undefined, excluded: ReplicaNode | undefined): Promise<Chosen> {
    const { primary, set } = await this.#source();
    if (set === undefined) return { conn: new Connection(primary, await primary.acquire(signal)), node: undefined, set };
    await set.ready;
    const candidates = set.readable(excluded);
    const token = this.#token;
    if (token === undefined) return this.#lend(set, candidates[0] ?? set.fallback('none is healthy and within the lag limits'), signal);
    set.reached(token, token); // rejects a token that is not one
    const caughtUp = candidates.find((node) => set.reached(token, node.position));
    if (caughtUp !== undefined) return this.#lend(set, caughtUp, signal);
    const nearest = candidates[0];
    if (nearest !== undefined) {
      const conn = await this.#waitForToken(set, nearest, token, signal);
      if (conn !== undefined) return served(conn, nearest, set);
    }
    return this.#lend(set, set.fallback(`none replayed the commit token within maxWaitMs ${this.#maxWaitMs}`), signal);
  }

  async #lend(set: ReplicaSet, node: ReplicaNode, signal: AbortSignal | undefined): Promise<Chosen> {
    const runtime = node.runtime!;
    if (node === set.writerNode) return served(new Connection(runtime, await runtime.acquire(signal)), node, set);
    let lease: Lease;
    // Waiting for a replica's breaker to close would stall a read the primary can serve now.
    const breakerOpened = new AbortController();
    const off = runtime.breaker?.on('open', () => breakerOpened.abort(runtime.gate.unavailableError(0)));
    try {
      lease = await runtime.acquire(signal === undefined ? breakerOpened.signal : AbortSignal.any([signal, breakerOpened.signal]));
    } catch (error) {
      if (signal?.aborted === true) throw error;
      // A replica that cannot be reached is ejected (the next choice skips it); a busy one is only passed over. The read goes elsewhere.
      if (!(error instanceof PoolTimeoutError)) set.eject(node);
      return this.#choose(signal, node);
    } finally {
      off?.();
    }
    return served(new Connection(runtime, lease), node, set);
  }

  /**
   * A connection on `node` once it replayed `token`, or undefined when it did not within
   * `maxWaitMs` (or failed meanwhile): the read then goes elsewhere.
   */
  async #waitForToken(set: ReplicaSet, node: ReplicaNode, token: string, signal: AbortSignal | undefined): Promise<Connection | undefined> {
    const runtime = node.runtime!;
    const deadline = performance.now() + this.#maxWaitMs;
    let lease: Lease;
    try {
      // Getting a connection counts against maxWaitMs too.
      const waited = timeoutSignal(Math.max(1, this.#maxWaitMs), () => new Error('maxWaitMs passed'), signal);
      lease = await runtime.acquire(waited.signal).finally(() => waited.clear());
    } catch {
      return undefined;
    }
    try {
      for (;;) {
        const position = await set.positionOn(runtime, lease, POSITION_QUERY_TIMEOUT_MS);
        if (set.reached(token, position)) return new Connection(runtime, lease);
        const left = deadline - performance.now();
        if (left <= 0) break;
        const wait = set.replication.waitForPosition?.(token, left);
        if (wait !== undefined) {
          const row = await nativeRowOn(runtime, lease, wait.sql, wait.params, left + POSITION_QUERY_TIMEOUT_MS);
          if (Number(row?.['reached']) === 0) return new Connection(runtime, lease);
          break;
        }
        await sleep(Math.min(POLL_MS, left), signal === undefined ? {} : { signal });
      }
    } catch (error) {
      if (error instanceof ConfigError) {
        runtime.pool.release(lease);
        throw error;
      }
      // The node failed while we waited: the read goes elsewhere (nativeRowOn dropped a broken session).
    }
    runtime.pool.release(lease);
    return undefined;
  }
}
