/**
 * The one hook tracers plug into (e.g. `registerOtelTracing` of @dal/metrics). Core knows no
 * tracing library: it hands each statement, each acquisition that has to wait and each
 * transaction to the installed instrumentation as a function to run, so the tracer can start a
 * span, make it the active one while the work runs (its context then follows the work's promise
 * callbacks) and end it when the work settles. With none installed (the default) each of those
 * places costs one `undefined` check.
 */
import type { DalError } from '@dal/resilience';

/** The database a piece of work runs against (the same object for every statement of a pool). */
export interface InstrumentedPool {
  /** Config alias. */
  readonly alias: string;
  /** Config hash (PoolManager's key). */
  readonly hash: string;
  /** Core's dialect name: 'postgres', 'mysql' or 'sqlite'. */
  readonly dialect: string;
  /** The config's database (a file path for SQLite). */
  readonly database: string;
  /** Host new connections go to; undefined for SQLite. */
  readonly host: string | undefined;
  /** Its port (the backend's default when the config names none); undefined for SQLite. */
  readonly port: number | undefined;
}

/** One statement, as handed to `DalInstrumentation.statement`. */
export interface InstrumentedStatement {
  readonly pool: InstrumentedPool;
  /** The native SQL sent to the server: placeholders, never parameter values. */
  readonly sql: string;
  /** How many parameter values go with it (the values themselves are never given). */
  readonly parameterCount: number;
  /** The caller's `tags`, if any. */
  readonly tags: Readonly<Record<string, string | number | boolean>> | undefined;
}

/** One transaction (`Connection.transaction`), or one nested level of it (a savepoint). */
export interface InstrumentedTransaction {
  readonly pool: InstrumentedPool;
  /** 'transaction' at the top, 'savepoint' for a nested `transaction()` call. */
  readonly kind: 'transaction' | 'savepoint';
}

/**
 * What a tracer implements. Each method must call `run` exactly once, synchronously, and return
 * what it returned (a value, or a promise core settles), letting its exceptions through unchanged.
 * Errors core passes on are `DalError`s once mapped (a statement's rejection always is).
 */
export interface DalInstrumentation {
  /** One statement through the pipeline; `run` returns its result at once (in place) or a promise. */
  statement(info: InstrumentedStatement, run: () => unknown): unknown;
  /** An acquisition that found no idle connection and waits (the idle hot path is not reported). */
  acquisition<T>(pool: InstrumentedPool, run: () => Promise<T>): Promise<T>;
  /** A `Connection.transaction` call: BEGIN, the callback's statements, COMMIT or ROLLBACK (and retries). */
  transaction<T>(info: InstrumentedTransaction, run: () => Promise<T>): Promise<T>;
  /**
   * Fields added to the slow-query log entry of the statement running now (e.g. its trace id and
   * span id), or undefined.
   */
  slowQueryFields?(error: DalError | undefined): Readonly<Record<string, unknown>> | undefined;
}

/** @internal The installed instrumentation, read on the hot path as one `undefined` check. */
export let instrumentation: DalInstrumentation | undefined;

/**
 * Install the instrumentation every pool of the process reports to (one at a time), or remove it
 * with `undefined`. Returns the one it replaced.
 *
 * ```ts
 * const previous = setInstrumentation({ statement: (info, run) => run(), acquisition: (_, run) => run(), transaction: (_, run) => run() });
 * ```
 */
export function setInstrumentation(next: DalInstrumentation | undefined): DalInstrumentation | undefined {
  const previous = instrumentation;
  instrumentation = next;
  return previous;
}
