import { AbortedError, CircuitOpenError, DalError, TimeoutError, backoffDelay, sleep, type CircuitBreaker } from '@dal/resilience';
import type { TranslateTarget } from '@dal/sql-translate';
import type { DatabaseConfig } from '../config/database-config.js';
import type { Dialect, Driver } from '../driver/driver.js';
import { ConnectionError, PoolTimeoutError, QueryTimeoutError } from '../errors/errors.js';
import { emitDalEvent, eventListeners } from '../events.js';
import { DefaultDriverOptions } from '../connection/driver-options.js';
import { instrumentation, type InstrumentedPool } from '../instrumentation.js';
import type { Logger } from '../logger.js';
import { registeredBackend } from '../config/backends.js';
import type { ConnectionGate } from './connection-gate.js';
import type { Lease, Pool } from './pool.js';
import type { ErrorsByCategory, PoolMetrics } from './pool-metrics.js';
import type { ReplicaSet } from '../replicas/replica-set.js';

/** The port a config without one connects to, for the instrumentation's `server.port`. */
const DEFAULT_PORTS: Readonly<Record<string, number>> = { postgres: 5432, mysql: 3306 };

function categoryOf(error: DalError): keyof ErrorsByCategory {
  if (error instanceof QueryTimeoutError) return 'timeout';
  if (error instanceof ConnectionError) return 'connection';
  if (error instanceof CircuitOpenError) return 'circuitOpen';
  if (error instanceof PoolTimeoutError) return 'pool';
  if (error instanceof AbortedError) return 'aborted';
  if (error instanceof TimeoutError) return 'timeout';
  return 'query';
}

/** The `tags.operation` label a statement's metrics go under, if any. */
function operationOf(tags: Readonly<Record<string, unknown>> | undefined): string | undefined {
  const operation = tags?.['operation'];
  return operation === undefined ? undefined : String(operation);
}

/**
 * Everything a live pool's connections share: config, driver, the pool, metrics, the
 * circuit breaker and the logger. One per config hash, owned by PoolManager.
 */
export class PoolRuntime {
  readonly dialect: Dialect;
  readonly translateTarget: TranslateTarget;
  readonly metrics: PoolMetrics;
  /** Driver options of statements at the config's timeout, made once. */
  readonly defaultDriverOptions: DefaultDriverOptions;
  /** Opens when new connections cannot be opened (see connection-gate.ts); undefined when the config disables it. */
  readonly breaker: CircuitBreaker | undefined;
  /** The pool shortcuts pipeline statements on shared connections (see pipelined-statement.ts). */
  readonly pipelines: boolean;
  /** The config's replicas and where writes go now, when it has replicas (set by PoolManager). */
  replicas: ReplicaSet | undefined;
  readonly #slowMs: number;
  /** Told when a statement is refused because the server is read-only (see `watchReadOnlyWrites`). */
  #onReadOnlyWrite: (() => void) | undefined;
  readonly #errorContext: { alias: string; sql?: string };
  #leakTimer: NodeJS.Timeout | undefined;
  readonly #reportedLeaks = new WeakSet<Lease>();

  constructor(
    readonly config: DatabaseConfig,
    readonly driver: Driver,
    readonly pool: Pool,
    readonly logger: Logger,
    readonly gate: ConnectionGate,
  ) {
    this.dialect = driver.dialect;
    this.translateTarget = driver.dialect.translateTarget;
    this.metrics = pool.metrics;
    this.defaultDriverOptions = new DefaultDriverOptions(config.queryExecutionTimeoutMs);
    this.#slowMs = config.slowQueryThresholdMs;
    this.#errorContext = { alias: config.alias };
    this.breaker = gate.breaker;
    // config.pipelining is false behind a pooler (see DatabaseConfigOptions.pipelining).
    this.pipelines = driver.capabilities.pipelining === true && config.pipelining;
    if (this.breaker !== undefined) {
      for (const state of ['open', 'close'] as const) {
        this.breaker.on(state, () => this.#onCircuit(state === 'close' ? 'closed' : state));
      }
    }
    const every = Math.min(Math.max(config.leakDetectionThresholdMs / 4, 50), 60_000);
    this.#leakTimer = setInterval(() => this.reportLeaks(config.leakDetectionThresholdMs), every);
    this.#leakTimer.unref();
  }

  /**
   * A connection for a caller, retrying a transient failure to open one (no statement has been
   * sent yet, so retrying is always safe). While the server cannot be reached (breaker open) the
   * wait goes on until a probe reaches it, up to `connectionAcquisitionTimeoutMs`.
   * @throws {CircuitOpenError} when the server was still unreachable at the end of the wait.
   * @throws {PoolTimeoutError} when every connection stayed busy.
   */
  acquire(signal: AbortSignal | undefined): Promise<Lease> {
    const ready = this.tryAcquireIdle(signal);
    if (ready !== undefined) return Promise.resolve(ready);
    if (instrumentation !== undefined) return instrumentation.acquisition(this.instrumented, () => this.#acquireGuarded(signal));
    return this.#acquireGuarded(signal);
  }

  #instrumented: InstrumentedPool | undefined;

  /** This pool as the instrumentation sees it (instrumentation.ts); made on first use. */
  get instrumented(): InstrumentedPool {
    if (this.#instrumented !== undefined) return this.#instrumented;
    const { config, dialect, gate } = this;
    // An embedded backend (registered as such) has no server address to report.
    const networked = registeredBackend(dialect.name)?.embedded !== true;
    this.#instrumented = {
      alias: config.alias,
      hash: config.hash(),
      dialect: dialect.name,
      database: config.database,
      // Read at each statement: after a failover new connections go to another host.
      get host() {
        return networked ? gate.hosts.currentAddress.host : undefined;
      },
      get port() {
        return networked ? (gate.hosts.currentAddress.port ?? DEFAULT_PORTS[dialect.name]) : undefined;
      },
    };
    return this.#instrumented;
  }

  /**
   * The hot path: an idle connection handed out at once, or undefined (nothing changed) when none
   * is idle, someone queues or `signal` aborted. An open connection is usable whatever the
   * breaker says (it guards opening new ones), so there is nothing to wrap.
   */
  tryAcquireIdle(signal: AbortSignal | undefined): Lease | undefined {
    if (signal?.aborted === true) return undefined;
    return this.pool.tryAcquireIdle();
  }

  async #acquireGuarded(signal: AbortSignal | undefined): Promise<Lease> {
    const retry = this.config.retry;
    const started = performance.now();
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.pool.acquire(signal);
      } catch (error) {
        if (error instanceof CircuitOpenError) this.metrics.recordCircuitOpen();
        if (retry === false || attempt >= retry.maxRetries || !(error instanceof ConnectionError) || !error.retryable) throw error;
        const delay = backoffDelay(attempt, retry);
        if (performance.now() - started + delay > retry.totalTimeoutMs) throw error;
        await sleep(delay, signal === undefined ? {} : { signal });
      }
    }
  }

  /** Native error -> DalError through the dialect; DalErrors pass through. */
  mapError(error: unknown, sql: string | undefined): DalError {
    const mapped = DalError.isInstance(error) ? error : this.dialect.mapError(error, sql === undefined ? this.#errorContext : { alias: this.config.alias, sql });
    if (this.#onReadOnlyWrite !== undefined && this.dialect.replication?.isReadOnlyError(mapped) === true) this.#onReadOnlyWrite();
    return mapped;
  }

  /** Call `listener` when a statement on this pool is refused because the server is read-only (a replica set then looks for the primary). */
  watchReadOnlyWrites(listener: () => void): void {
    this.#onReadOnlyWrite = listener;
  }

  /** Count one statement, and log it when slow (tags, alias and SQL; parameter values only when configured). */
  recordQuery(
    durationMs: number,
    error: DalError | undefined,
    tags: Readonly<Record<string, unknown>> | undefined,
    sql: string,
    params: readonly unknown[],
  ): void {
    this.metrics.recordQuery(durationMs, operationOf(tags), error === undefined ? undefined : categoryOf(error), error?.code);
    if (durationMs >= this.#slowMs) this.#logSlow(durationMs, error, tags, sql, params);
  }

  /** `recordQuery` plus acquisition and release, for a statement that ran in place on a connection lent for it (statement.ts). */
  recordInPlaceStatement(
    durationMs: number,
    startedAt: number,
    tags: Readonly<Record<string, unknown>> | undefined,
    sql: string,
    params: readonly unknown[],
  ): void {
    this.metrics.recordInPlaceStatement(durationMs, startedAt, operationOf(tags));
    if (durationMs >= this.#slowMs) this.#logSlow(durationMs, undefined, tags, sql, params);
  }

  #logSlow(
    durationMs: number,
    error: DalError | undefined,
    tags: Readonly<Record<string, unknown>> | undefined,
    sql: string,
    params: readonly unknown[],
  ): void {
    this.metrics.recordSlowQuery();
    const entry: Record<string, unknown> = { alias: this.config.alias, durationMs: Math.round(durationMs), thresholdMs: this.#slowMs, tags, sql };
    if (error !== undefined) entry['error'] = error.code;
    entry['params'] = this.config.logParameterValues ? params : `[${params.length} redacted]`;
    // The trace of the statement (trace id, span id) when a tracer is installed: it is the active one here.
    const traceFields = instrumentation?.slowQueryFields?.(error);
    if (traceFields !== undefined) Object.assign(entry, traceFields);
    this.logger.warn?.(entry, '[dal] slow query');
    if (eventListeners.length > 0) {
      emitDalEvent({ type: 'slow-query', alias: this.config.alias, hash: this.config.hash(), durationMs, sql, parameterCount: params.length, tags, errorCode: error?.code, at: Date.now() });
    }
  }

  /**
   * A statement that ran on the caller's thread took longer than its timeout: nothing could
   * interrupt it, so say so where slow queries are logged.
   */
  reportOverrun(durationMs: number, timeoutMs: number, sql: string): void {
    this.logger.warn?.(
      { alias: this.config.alias, durationMs: Math.round(durationMs), timeoutMs, sql },
      '[dal] statement ran past its timeout: this connection runs statements on the calling thread, which no timer can interrupt',
    );
  }

  /** Warn once about every connection held longer than `thresholdMs`; returns all of them. */
  reportLeaks(thresholdMs: number): Array<{ alias: string; heldForMs: number; stack: string }> {
    const leaks: Array<{ alias: string; heldForMs: number; stack: string }> = [];
    for (const held of this.pool.heldLongerThan(thresholdMs)) {
      const leak = { alias: this.config.alias, heldForMs: Math.round(held.heldForMs), stack: held.stack };
      leaks.push(leak);
      if (this.#reportedLeaks.has(held.lease)) continue;
      this.#reportedLeaks.add(held.lease);
      this.logger.warn?.({ ...leak }, '[dal] connection held longer than the leak threshold (not released?)');
      if (eventListeners.length > 0) emitDalEvent({ type: 'leak', hash: this.config.hash(), ...leak });
    }
    return leaks;
  }

  /**
   * Stop background work: leak checks, and the breaker's probes and failback checks unless
   * `keepGate` (a pool that failed to build leaves its breaker to the next attempt).
   */
  stop(options: { keepGate?: boolean } = {}): void {
    clearInterval(this.#leakTimer);
    this.#leakTimer = undefined;
    if (options.keepGate !== true) this.gate.close();
  }

  #onCircuit(state: 'closed' | 'open'): void {
    const level = state === 'open' ? 'error' : 'warn';
    this.logger[level]?.({ alias: this.config.alias, state }, `[dal] circuit breaker ${state}`);
    if (eventListeners.length > 0) emitDalEvent({ type: 'circuit', alias: this.config.alias, hash: this.config.hash(), state });
  }
}
