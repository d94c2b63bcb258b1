import { CircuitBreaker, CircuitOpenError, DalError } from '@dal/resilience';
import type { DatabaseConfig } from '../config/database-config.js';
import type { DriverConnection } from '../driver/driver.js';
import { PoolClosedError } from '../errors/errors.js';
import { probeServer } from './probe.js';
import type { HostSelector } from './host-selector.js';

/**
 * Where a pool opens its physical connections, through the pool's circuit breaker.
 *
 * The breaker answers one question: can the server be reached? Only failures to *open* a
 * connection count (refused, timed out, unreachable, authentication rejected). A session that
 * breaks while in use (terminated by a DBA, reset, cut by a restart) is the caller's error and
 * its connection is replaced, but it says nothing about whether a new connection would work, so
 * it never opens the breaker.
 *
 * While the breaker is open nobody else dials the server: a background probe opens a connection
 * and pings it, 100 ms after opening and then backing off up to `recoveryTimeoutMs`, and the
 * first probe that succeeds closes the breaker. Connection requests made meanwhile wait for that
 * moment (bounded by their own deadlines) instead of failing at once, so a short outage costs
 * callers latency, not errors. When the last attempt failed for a reason waiting cannot fix (the
 * server rejected the credentials or the database), they fail at once instead, with that reason.
 */
export class ConnectionGate {
  readonly breaker: CircuitBreaker | undefined;
  /** The servers connections are opened to (failover across `hosts`). */
  readonly hosts: HostSelector;
  readonly #alias: string;
  readonly #pingTimeoutMs: number;
  /** Requests waiting for the breaker to close; woken all at once by its 'close' event. */
  readonly #waiting = new Set<() => void>();
  /** Why the last attempt to open a connection (or probe) failed. */
  #lastFailure: unknown;

  constructor(config: DatabaseConfig, hosts: HostSelector) {
    this.hosts = hosts;
    this.#alias = config.alias;
    this.#pingTimeoutMs = config.connectionCreationTimeoutMs;
    const settings = config.circuitBreaker;
    if (settings === false) return;
    this.breaker = new CircuitBreaker({
      name: config.alias,
      failureThreshold: settings.failureThreshold,
      recoveryTimeoutMs: settings.recoveryTimeoutMs,
      windowSizeMs: settings.windowSizeMs,
      halfOpenMaxCalls: settings.halfOpenMaxCalls,
      // Whatever went wrong while opening counts, except the pool giving up on the attempt itself.
      isFailure: (error) => !(error instanceof PoolClosedError),
      probe: (signal) => this.#probe(signal),
    });
    this.breaker.on('close', () => {
      this.#lastFailure = undefined;
      for (const wake of this.#waiting) wake();
      this.#waiting.clear();
    });
    this.breaker.on('failure', ({ error }) => (this.#lastFailure = error));
    this.breaker.on('probe', ({ ok, error }) => {
      if (!ok) this.#lastFailure = error;
    });
  }

  /**
   * Open one connection. While the breaker is open, wait until a probe closes it, then open.
   * @throws what the driver threw, or `signal.reason` when it aborts first (creation deadline, pool closed).
   */
  async open(signal: AbortSignal): Promise<DriverConnection> {
    const breaker = this.breaker;
    if (breaker === undefined) return this.hosts.connect(signal);
    const startedAt = performance.now();
    for (;;) {
      if (breaker.state === 'closed') {
        try {
          return await breaker.execute(() => this.hosts.connect(signal));
        } catch (error) {
          // Opened by a concurrent failure between the check and the call: wait like the rest.
          if (!(error instanceof CircuitOpenError)) throw error;
        }
      }
      if (!this.#worthWaiting()) throw this.unavailableError(performance.now() - startedAt) ?? this.#lastFailure;
      try {
        await this.#untilClosed(signal);
      } catch (reason) {
        // The creation deadline passed while the server was still unreachable: say that.
        if (reason instanceof PoolClosedError) throw reason;
        throw this.unavailableError(performance.now() - startedAt) ?? reason;
      }
    }
  }

  /**
   * The error for a caller who gave up waiting while the server could not be reached, or
   * undefined while the breaker is closed (the wait was for a busy pool, not an outage).
   */
  unavailableError(waitedMs: number): CircuitOpenError | undefined {
    const breaker = this.breaker;
    if (breaker === undefined || breaker.state !== 'open') return undefined;
    const last = this.#lastFailure;
    const why = last instanceof Error ? `; last attempt: ${last.message}` : '';
    return new CircuitOpenError(
      `${this.#alias}: cannot open connections to the server (circuit breaker open after ${breaker.failureThreshold} failed attempts)${why}; ` +
        `waited ${Math.round(waitedMs)} ms, next probe in ${breaker.retryAfterMs} ms`,
      breaker.name,
      breaker.retryAfterMs,
      last === undefined ? {} : { cause: last },
    );
  }

  /** Waiting helps when the server was unreachable; not when it rejected who we are. */
  #worthWaiting(): boolean {
    const last = this.#lastFailure;
    return !(DalError.isInstance(last) && last.code === 'DAL_CONNECTION' && !last.retryable);
  }

  /** Stop probing and failback checks (the pool is closing). */
  close(): void {
    this.breaker?.dispose();
    this.hosts.close();
  }

  #untilClosed(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        this.#waiting.delete(wake);
        reject(signal.reason);
      };
      this.#waiting.add(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Can a new connection be opened and answer? Opens one, pings it, closes it. */
  async #probe(stop: AbortSignal): Promise<void> {
    try {
      await probeServer((signal) => this.hosts.connect(signal), this.#pingTimeoutMs, stop);
    } catch (error) {
      throw DalError.isInstance(error) ? error : new Error(`${this.#alias}: probe failed`, { cause: error });
    }
  }
}
