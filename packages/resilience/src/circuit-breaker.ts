import { CircuitOpenError } from './errors.js';
import { Emitter, type Unsubscribe } from './emitter.js';
import { reportListenerError } from './report-error.js';

/** The three states of a circuit breaker. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** Settings of a {@link CircuitBreaker}; every field is optional. */
export interface CircuitBreakerOptions {
  /** Names the breaker in errors and events. Default `'circuit'`. */
  name?: string;
  /** Failures inside the window that open the circuit. Default 5. */
  failureThreshold?: number;
  /** How long the circuit stays open before it lets trial calls through. Default 30 000. */
  recoveryTimeoutMs?: number;
  /** Trial calls allowed at the same time while half-open. Default 3. */
  halfOpenMaxCalls?: number;
  /** Length of the sliding window failures are counted in. Default 60 000. */
  windowSizeMs?: number;
  /** Successful trial calls needed to close a half-open circuit. Default 1 (first success closes). */
  successThreshold?: number;
  /** Decides whether an error counts against the circuit. Default: every error counts. */
  isFailure?: (error: unknown) => boolean;
  /** A snapshot from `toJSON()` to start from, e.g. one persisted before a restart. */
  initialState?: CircuitBreakerSnapshot;
  /**
   * Active recovery: while open, the breaker calls `probe` in the background instead of letting
   * callers' trial calls through. The first probe runs `probeInitialDelayMs` after opening, later
   * ones back off (doubling) up to `recoveryTimeoutMs`; the first probe that resolves closes the
   * circuit. There is no half-open state then: recovery follows the resource, not a fixed timer.
   * The signal aborts when `dispose()` is called.
   */
  probe?: (signal: AbortSignal) => Promise<unknown>;
  /** Delay before the first probe after opening (default 100). Only with `probe`. */
  probeInitialDelayMs?: number;
}

/** Serialisable state of a breaker, as returned by `toJSON()` and accepted by `restore()`. */
export interface CircuitBreakerSnapshot {
  name: string;
  state: CircuitState;
  /** Counted failures since creation. */
  failures: number;
  /** Successes since creation (including errors `isFailure` excluded). */
  successes: number;
  /** Calls rejected with `CircuitOpenError` since creation. */
  rejected: number;
  /** Epoch ms (`Date.now()`) when the circuit last opened; null while it is closed. */
  openedAt: number | null;
  /** Epoch ms of the counted failures still inside the window, oldest first. */
  recentFailureTimes: number[];
  /** Trial successes so far in the current half-open period. */
  halfOpenSuccesses: number;
}

/** Payload of every breaker event, by event name. */
export interface CircuitBreakerEvents {
  /** The circuit opened; `error` is the failure that tripped it. */
  open: { name: string; from: 'closed' | 'half-open'; openedAt: number; retryAfterMs: number; error: unknown };
  /** The circuit closed (after trial successes, or by `reset()`). */
  close: { name: string; from: CircuitState };
  /** The recovery timeout passed and trial calls are now allowed. */
  'half-open': { name: string; openedAt: number };
  /** A call was refused without running. */
  reject: { name: string; state: 'open' | 'half-open'; retryAfterMs: number };
  /** A call succeeded, or failed with an error `isFailure` excluded (then `error` is set). */
  success: { name: string; state: CircuitState; durationMs: number; error?: unknown };
  /** A call failed with an error that counts against the circuit. */
  failure: { name: string; state: CircuitState; durationMs: number; error: unknown };
  /** A background probe (option `probe`) finished; `error` is set when it failed. */
  probe: { name: string; ok: boolean; durationMs: number; nextProbeInMs: number; error?: unknown };
}

interface Admission {
  generation: number;
  state: 'closed' | 'half-open';
  startedAt: number;
}

const STATES: readonly CircuitState[] = ['closed', 'open', 'half-open'];

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be an integer >= 1`);
  return value;
}

function nonNegative(name: string, value: number, allowInfinity: boolean): number {
  const ok = allowInfinity ? value >= 0 : Number.isFinite(value) && value >= 0;
  if (typeof value !== 'number' || Number.isNaN(value) || !ok) {
    throw new RangeError(`${name} must be a ${allowInfinity ? '' : 'finite '}number >= 0`);
  }
  return value;
}

/**
 * A circuit breaker usable without wrapping: core holds one per pool and runs each operation
 * through `execute`. Failures are counted in a sliding time window; at `failureThreshold` the
 * circuit opens and rejects calls at once; after `recoveryTimeoutMs` it goes half-open (checked
 * lazily on the next call or read, no timer) and lets up to `halfOpenMaxCalls` concurrent trial
 * calls through. `successThreshold` trial successes close it; any trial failure re-opens it.
 * Outcomes of calls admitted before a state change only update the counters, never the state.
 *
 * ```ts
 * const breaker = new CircuitBreaker({ name: 'db', failureThreshold: 5 });
 * const rows = await breaker.execute(() => client.query('SELECT 1'));
 * ```
 * @throws {RangeError} when an option is out of range.
 */
export class CircuitBreaker {
  readonly name: string;
  readonly failureThreshold: number;
  readonly recoveryTimeoutMs: number;
  readonly halfOpenMaxCalls: number;
  readonly windowSizeMs: number;
  readonly successThreshold: number;
  readonly probeInitialDelayMs: number;
  readonly #isFailure: (error: unknown) => boolean;
  readonly #events = new Emitter<CircuitBreakerEvents>();
  readonly #probe: ((signal: AbortSignal) => Promise<unknown>) | undefined;
  readonly #disposed = new AbortController();
  #probeTimer: ReturnType<typeof setTimeout> | undefined;
  /** Delay of the probe now scheduled; it doubles after each failed probe. */
  #probeDelayMs = 0;
  /** Epoch ms when the scheduled probe runs (or the running one started). */
  #nextProbeAt = 0;

  #state: CircuitState = 'closed';
  // Bumped on every transition so late outcomes of older calls cannot move the state.
  #generation = 0;
  #failures = 0;
  #successes = 0;
  #rejected = 0;
  #openedAt: number | null = null;
  #recentFailureTimes: number[] = [];
  #halfOpenInFlight = 0;
  #halfOpenSuccesses = 0;

  constructor(options: CircuitBreakerOptions = {}) {
    this.name = options.name ?? 'circuit';
    this.failureThreshold = positiveInteger('failureThreshold', options.failureThreshold ?? 5);
    this.recoveryTimeoutMs = nonNegative('recoveryTimeoutMs', options.recoveryTimeoutMs ?? 30_000, false);
    this.halfOpenMaxCalls = positiveInteger('halfOpenMaxCalls', options.halfOpenMaxCalls ?? 3);
    this.windowSizeMs = nonNegative('windowSizeMs', options.windowSizeMs ?? 60_000, true);
    if (this.windowSizeMs === 0) throw new RangeError('windowSizeMs must be > 0');
    this.successThreshold = positiveInteger('successThreshold', options.successThreshold ?? 1);
    this.#isFailure = options.isFailure ?? (() => true);
    if (options.probe !== undefined && typeof options.probe !== 'function') throw new RangeError('probe must be a function');
    this.#probe = options.probe;
    this.probeInitialDelayMs = nonNegative('probeInitialDelayMs', options.probeInitialDelayMs ?? 100, false);
    if (this.#probe !== undefined && this.recoveryTimeoutMs === 0) throw new RangeError('recoveryTimeoutMs must be > 0 with probe (it caps the delay between probes)');
    if (options.initialState !== undefined) this.restore(options.initialState);
  }

  /** True when recovery is probe-driven (the `probe` option). */
  get probing(): boolean {
    return this.#probe !== undefined;
  }

  /** Current state; an open circuit whose recovery timeout has passed turns half-open here. */
  get state(): CircuitState {
    this.#refresh();
    return this.#state;
  }

  /** Counted failures since creation. */
  get failures(): number {
    return this.#failures;
  }

  /** Successful calls since creation. */
  get successes(): number {
    return this.#successes;
  }

  /** Calls rejected with `CircuitOpenError` since creation. */
  get rejected(): number {
    return this.#rejected;
  }

  /** Epoch ms when the circuit last opened, or null while closed. */
  get openedAt(): number | null {
    this.#refresh();
    return this.#openedAt;
  }

  /** Counted failures inside the current window (capped at `failureThreshold`). */
  get failuresInWindow(): number {
    this.#prune(Date.now());
    return this.#recentFailureTimes.length;
  }

  /** Trial calls running now (half-open only). */
  get halfOpenInFlight(): number {
    return this.#halfOpenInFlight;
  }

  /**
   * Milliseconds until an open circuit turns half-open (with `probe`: until the next probe);
   * 0 when closed or half-open.
   */
  get retryAfterMs(): number {
    this.#refresh();
    if (this.#state !== 'open' || this.#openedAt === null) return 0;
    const at = this.#probe === undefined ? this.#openedAt + this.recoveryTimeoutMs : this.#nextProbeAt;
    return Math.max(0, at - Date.now());
  }

  /**
   * Subscribes to an event and returns the unsubscribe function. A listener that throws is
   * logged and ignored.
   *
   * ```ts
   * const off = breaker.on('open', ({ name, retryAfterMs }) => log.warn({ name, retryAfterMs }));
   * off();
   * ```
   */
  on<E extends keyof CircuitBreakerEvents>(event: E, listener: (payload: CircuitBreakerEvents[E]) => void): Unsubscribe {
    return this.#events.on(event, listener);
  }

  /**
   * Runs `fn` if the circuit allows it and records the outcome; the result or error of `fn`
   * is passed through unchanged.
   *
   * ```ts
   * await breaker.execute(() => fetch(url));
   * ```
   * @throws {CircuitOpenError} when the circuit is open, or half-open with every trial slot taken.
   */
  async execute<R>(fn: () => R | PromiseLike<R>): Promise<R> {
    const admission = this.#admit();
    let result: R;
    try {
      result = await fn();
    } catch (error) {
      this.#recordError(admission, error);
      throw error;
    }
    this.#recordSuccess(admission, undefined);
    return result;
  }

  /** Closes the circuit and forgets the failures in the window; counters are kept. */
  reset(): void {
    const from = this.#state;
    this.#enter('closed');
    if (from !== 'closed') this.#events.emit('close', { name: this.name, from });
  }

  /**
   * Stops background probing for good (a probe in flight sees its signal abort). Call it when the
   * guarded resource is shut down; the breaker keeps working, but an open circuit then stays open
   * until `reset()`.
   */
  dispose(): void {
    this.#disposed.abort();
    clearTimeout(this.#probeTimer);
    this.#probeTimer = undefined;
  }

  /** A serialisable snapshot of the breaker, accepted by `restore()`. */
  toJSON(): CircuitBreakerSnapshot {
    this.#refresh();
    this.#prune(Date.now());
    return {
      name: this.name,
      state: this.#state,
      failures: this.#failures,
      successes: this.#successes,
      rejected: this.#rejected,
      openedAt: this.#openedAt,
      recentFailureTimes: [...this.#recentFailureTimes],
      halfOpenSuccesses: this.#halfOpenSuccesses,
    };
  }

  /**
   * Replaces the state and counters with a snapshot from `toJSON()`, without emitting events.
   * Calls still running were admitted under the old state and no longer affect it.
   *
   * ```ts
   * breaker.restore(JSON.parse(saved));
   * ```
   * @throws {TypeError} when the snapshot is malformed.
   */
  restore(snapshot: CircuitBreakerSnapshot): void {
    const s = snapshot as Partial<CircuitBreakerSnapshot> | null;
    const count = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
    if (
      s === null || typeof s !== 'object' || !STATES.includes(s.state as CircuitState) ||
      !count(s.failures) || !count(s.successes) || !count(s.rejected) || !count(s.halfOpenSuccesses) ||
      !(s.openedAt === null || (typeof s.openedAt === 'number' && Number.isFinite(s.openedAt))) ||
      !Array.isArray(s.recentFailureTimes) || !s.recentFailureTimes.every((t) => typeof t === 'number' && Number.isFinite(t))
    ) {
      throw new TypeError('Invalid circuit breaker snapshot');
    }
    if (s.state !== 'closed' && s.openedAt === null) throw new TypeError('Invalid circuit breaker snapshot: openedAt missing');
    this.#generation++;
    this.#state = s.state as CircuitState;
    this.#failures = s.failures;
    this.#successes = s.successes;
    this.#rejected = s.rejected;
    this.#openedAt = s.state === 'closed' ? null : s.openedAt;
    this.#recentFailureTimes = s.state === 'closed' ? [...s.recentFailureTimes].sort((a, b) => a - b).slice(-this.failureThreshold) : [];
    this.#halfOpenInFlight = 0;
    this.#halfOpenSuccesses = s.state === 'half-open' ? s.halfOpenSuccesses : 0;
    clearTimeout(this.#probeTimer);
    this.#probeTimer = undefined;
    if (this.#probe !== undefined && this.#state !== 'closed') {
      // A probing breaker has no half-open state: resume as open and probe.
      this.#state = 'open';
      this.#scheduleProbe(Math.min(this.probeInitialDelayMs, this.recoveryTimeoutMs));
    }
  }

  #refresh(): void {
    if (this.#probe !== undefined) return; // probes, not the clock, end an open period
    if (this.#state === 'open' && this.#openedAt !== null && Date.now() - this.#openedAt >= this.recoveryTimeoutMs) {
      const openedAt = this.#openedAt;
      this.#enter('half-open');
      this.#events.emit('half-open', { name: this.name, openedAt });
    }
  }

  #prune(now: number): void {
    const cutoff = now - this.windowSizeMs;
    while (this.#recentFailureTimes.length > 0 && (this.#recentFailureTimes[0] as number) <= cutoff) {
      this.#recentFailureTimes.shift();
    }
  }

  #enter(state: CircuitState): void {
    this.#generation++;
    this.#state = state;
    clearTimeout(this.#probeTimer);
    this.#probeTimer = undefined;
    this.#halfOpenInFlight = 0;
    this.#halfOpenSuccesses = 0;
    this.#recentFailureTimes = [];
    if (state === 'closed') this.#openedAt = null;
    if (state === 'open') this.#openedAt = Date.now();
  }

  #reject(state: 'open' | 'half-open'): never {
    this.#rejected++;
    const retryAfterMs = this.retryAfterMs;
    this.#events.emit('reject', { name: this.name, state, retryAfterMs });
    const why = state === 'open' ? 'is open' : 'is half-open and all trial calls are in flight';
    throw new CircuitOpenError(`Circuit breaker "${this.name}" ${why}`, this.name, retryAfterMs);
  }

  #admit(): Admission {
    this.#refresh();
    if (this.#state === 'open') this.#reject('open');
    if (this.#state === 'half-open') {
      if (this.#halfOpenInFlight >= this.halfOpenMaxCalls) this.#reject('half-open');
      this.#halfOpenInFlight++;
    }
    return { generation: this.#generation, state: this.#state as Admission['state'], startedAt: performance.now() };
  }

  #recordError(admission: Admission, error: unknown): void {
    let counts = true;
    try {
      counts = this.#isFailure(error);
    } catch (predicateError) {
      reportListenerError('isFailure', predicateError);
    }
    if (!counts) {
      this.#recordSuccess(admission, error);
      return;
    }
    this.#failures++;
    this.#events.emit('failure', { name: this.name, state: admission.state, durationMs: performance.now() - admission.startedAt, error });
    if (admission.generation !== this.#generation) return;
    if (admission.state === 'half-open') {
      this.#open('half-open', error);
      return;
    }
    const now = Date.now();
    this.#prune(now);
    this.#recentFailureTimes.push(now);
    // Only the newest `failureThreshold` timestamps can ever matter, so memory stays bounded.
    if (this.#recentFailureTimes.length > this.failureThreshold) this.#recentFailureTimes.shift();
    if (this.#recentFailureTimes.length >= this.failureThreshold) this.#open('closed', error);
  }

  #recordSuccess(admission: Admission, error: unknown): void {
    this.#successes++;
    const payload: CircuitBreakerEvents['success'] = { name: this.name, state: admission.state, durationMs: performance.now() - admission.startedAt };
    if (error !== undefined) payload.error = error;
    this.#events.emit('success', payload);
    if (admission.generation !== this.#generation || admission.state !== 'half-open') return;
    this.#halfOpenInFlight--;
    this.#halfOpenSuccesses++;
    if (this.#halfOpenSuccesses >= this.successThreshold) {
      this.#enter('closed');
      this.#events.emit('close', { name: this.name, from: 'half-open' });
    }
  }

  #open(from: 'closed' | 'half-open', error: unknown): void {
    this.#enter('open');
    if (this.#probe !== undefined) this.#scheduleProbe(Math.min(this.probeInitialDelayMs, this.recoveryTimeoutMs));
    this.#events.emit('open', { name: this.name, from, openedAt: this.#openedAt as number, retryAfterMs: this.retryAfterMs, error });
  }

  #scheduleProbe(delayMs: number): void {
    if (this.#disposed.signal.aborted) return;
    this.#probeDelayMs = delayMs;
    this.#nextProbeAt = Date.now() + delayMs;
    const generation = this.#generation;
    this.#probeTimer = setTimeout(() => void this.#runProbe(generation), delayMs);
    // Probing alone must not keep a finished program running.
    this.#probeTimer.unref?.();
  }

  async #runProbe(generation: number): Promise<void> {
    this.#probeTimer = undefined;
    const startedAt = performance.now();
    let error: unknown;
    let ok = true;
    try {
      await this.#probe!(this.#disposed.signal);
    } catch (probeError) {
      ok = false;
      error = probeError;
    }
    // Closed by reset(), reopened, restored or disposed meanwhile: this probe's outcome is stale.
    const current = generation === this.#generation && this.#state === 'open' && !this.#disposed.signal.aborted;
    const nextProbeInMs = ok ? 0 : Math.min(this.recoveryTimeoutMs, Math.max(this.#probeDelayMs * 2, 1));
    const payload: CircuitBreakerEvents['probe'] = { name: this.name, ok, durationMs: performance.now() - startedAt, nextProbeInMs: current ? nextProbeInMs : 0 };
    if (!ok) payload.error = error;
    this.#events.emit('probe', payload);
    if (!current) return;
    if (ok) {
      this.#enter('closed');
      this.#events.emit('close', { name: this.name, from: 'open' });
    } else {
      this.#scheduleProbe(nextProbeInMs);
    }
  }
}

/** A function wrapped by {@link circuitBreaker}, exposing the breaker that guards it. */
export type GuardedFunction<A extends unknown[], R> = ((...args: A) => Promise<R>) & { readonly breaker: CircuitBreaker };

/** The decorator returned by {@link circuitBreaker}; every function it wraps shares `breaker`. */
export interface CircuitBreakerPolicy {
  <A extends unknown[], R>(fn: (...args: A) => Promise<R>): GuardedFunction<A, R>;
  readonly breaker: CircuitBreaker;
}

/**
 * Wraps async functions with a circuit breaker. One breaker is created per `circuitBreaker()`
 * call and shared by every function it wraps; pass an existing `CircuitBreaker` to reuse one.
 *
 * ```ts
 * const guarded = circuitBreaker({ name: 'db', failureThreshold: 5, recoveryTimeoutMs: 30_000 })(query);
 * guarded.breaker.on('open', (e) => console.warn(`${e.name} opened`));
 * await guarded('SELECT 1');
 * ```
 * @throws {RangeError} when an option is out of range.
 */
export function circuitBreaker(options: CircuitBreakerOptions | CircuitBreaker = {}): CircuitBreakerPolicy {
  const breaker = options instanceof CircuitBreaker ? options : new CircuitBreaker(options);
  const policy = <A extends unknown[], R>(fn: (...args: A) => Promise<R>): GuardedFunction<A, R> => {
    const guarded = function (this: unknown, ...args: A): Promise<R> {
      return breaker.execute(() => fn.apply(this, args));
    };
    return Object.defineProperty(guarded, 'breaker', { value: breaker, enumerable: true }) as GuardedFunction<A, R>;
  };
  return Object.defineProperty(policy, 'breaker', { value: breaker, enumerable: true }) as CircuitBreakerPolicy;
}
