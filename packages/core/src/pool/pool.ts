/**
 * One connection pool behaviour for every backend.
 *
 * Written here rather than taken from tarn or generic-pool because core needs, on the hot path
 * and without per-call wrappers: AbortSignal-aware FIFO waiting, a broken connection discarded
 * the moment it is released, validation only after a connection saw a failure, and counters
 * for metrics. Both libraries would need most of that layered on top.
 */
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { AbortedError, CircuitOpenError, type DalError } from '@dal/resilience';
import type { DriverConnection } from '../driver/driver.js';
import type { ReaderCache } from '../connection/reader-cache.js';
import { ConnectionError, PoolClosedError, PoolTimeoutError } from '../errors/errors.js';
import { PoolMetrics } from './pool-metrics.js';
import { timeoutSignal } from '../timeout-signal.js';

/**
 * A connection as the pool hands it out. What the pool knows about it (when it was made, handed
 * out and released, whether it must be pinged or destroyed) stays inside the pool, changed only
 * through the pool's operations: `release`, `discardOnRelease`, `markSuspect`.
 */
export interface Lease {
  readonly conn: DriverConnection;
  /**
   * The connection runs statements on the caller's thread (`conn.executeNow`), read once: the hot
   * path checks this field of one shape instead of a property of every driver's connection class.
   */
  readonly runsNow: boolean;
  /** The connection's prepared `executeFirst` queries, when its driver has `prepareReader`. */
  readonly readers: ReaderCache | undefined;
}

/** A physical connection and the pool's bookkeeping about it. */
class PoolEntry implements Lease {
  readonly runsNow: boolean;
  lastReleasedAt: number;
  acquiredAt = 0;
  /** Stack of the acquiring call, kept only when leak tracking is on. */
  acquireStack: Error | undefined = undefined;
  /** Set after a connection-level error: ping before handing it out again. */
  needsValidation = false;
  /** Set when the connection must be destroyed instead of pooled again. */
  discard = false;
  /** Position in the pool's in-use list, -1 while idle (see InUseList). */
  inUseIndex = -1;
  /** Pipelined statements in flight on it while it is shared (see `Pool.share`); 0 otherwise. */
  inFlight = 0;
  /** When the oldest statement in flight began running: answers come back in order. */
  headSince = 0;

  constructor(
    readonly conn: DriverConnection,
    readonly readers: ReaderCache | undefined,
    readonly createdAt: number,
  ) {
    this.runsNow = conn.executeNow !== undefined;
    this.lastReleasedAt = createdAt;
  }
}

/** A connection held longer than the leak threshold. */
export interface HeldTooLong {
  readonly lease: Lease;
  readonly heldForMs: number;
  /** Where it was acquired; empty unless acquisition stacks are tracked. */
  readonly stack: string;
}

/**
 * The connections handed out. A Set would do, but its hashing on every checkout and check-in
 * shows on the synchronous hot path (about 40 ns of a 3 µs SQLite statement); each entry keeps
 * its own position instead, and removal swaps the last entry into the hole.
 */
class InUseList {
  readonly #entries: PoolEntry[] = [];

  get size(): number {
    return this.#entries.length;
  }

  add(entry: PoolEntry): void {
    entry.inUseIndex = this.#entries.length;
    this.#entries.push(entry);
  }

  /** False when `entry` was not in use (released twice). */
  delete(entry: PoolEntry): boolean {
    const index = entry.inUseIndex;
    if (index < 0 || this.#entries[index] !== entry) return false;
    const last = this.#entries.pop()!;
    if (last !== entry) {
      this.#entries[index] = last;
      last.inUseIndex = index;
    }
    entry.inUseIndex = -1;
    return true;
  }

  /** Empty the list, returning what was in it. */
  takeAll(): PoolEntry[] {
    const all = this.#entries.splice(0);
    for (const entry of all) entry.inUseIndex = -1;
    return all;
  }

  toArray(): PoolEntry[] {
    return this.#entries.slice();
  }
}

export interface PoolOptions {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly acquireTimeoutMs: number;
  readonly createTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxLifetimeMs: number;
  /** Keep the acquiring stack of each connection for leak reports. */
  readonly trackAcquireStacks: boolean;
  /** Open one physical connection; must stop when the signal aborts. */
  create(signal: AbortSignal): Promise<DriverConnection>;
  /** The reader cache of a new connection (see reader-cache.ts), if its driver prepares readers. */
  readersFor?(conn: DriverConnection): ReaderCache | undefined;
  /**
   * Why a caller who waited `waitedMs` got no connection, when the reason is that the server
   * cannot be reached (an open circuit breaker) rather than a busy pool; undefined otherwise.
   */
  unavailable?(waitedMs: number): DalError | undefined;
  metrics: PoolMetrics;
}

interface Waiter {
  resolve(lease: Lease): void;
  reject(error: unknown): void;
  readonly enqueuedAt: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  done: boolean;
}

export interface PoolSizes {
  min: number;
  max: number;
  /** Open connections, idle and in use. */
  size: number;
  idle: number;
  inUse: number;
  /** Callers waiting for a connection. */
  pending: number;
  /** Connections being opened right now. */
  creating: number;
}

const PING_TIMEOUT_MS = 5_000;

export class Pool {
  readonly #options: PoolOptions;
  /** Idle connections; the most recently released is at the end (reused first, keeps caches warm). */
  readonly #idle: PoolEntry[] = [];
  readonly #inUse = new InUseList();
  /** Connections in use by pipelined statements (also in #inUse), see `share`. */
  readonly #shared: PoolEntry[] = [];
  readonly #waiters: Waiter[] = [];
  /**
   * One timer for every waiter's acquisition timeout, set for the head of the queue: waiters are
   * served in order and all wait the same time, so the head's deadline is always the earliest.
   * (A timer per waiter cost about as much as a SQLite point select.)
   */
  #deadlineTimer: NodeJS.Timeout | undefined;
  #waiterHead = 0;
  #creating = 0;
  /** Synchronous connections of this config open now (see `reserveSyncConnection`). */
  #syncConnections = 0;
  #runsNow = false;
  #closed = false;
  #reaper: NodeJS.Timeout | undefined;
  readonly #closeController = new AbortController();

  constructor(options: PoolOptions) {
    this.#options = options;
    // Every connection being opened listens to the close signal; a large pool is not a leak.
    setMaxListeners(0, this.#closeController.signal);
    const sweepEvery = Math.min(Math.max(Math.min(options.idleTimeoutMs, options.maxLifetimeMs) / 4, 25), 10_000);
    this.#reaper = setInterval(() => this.#sweep(), sweepEvery);
    this.#reaper.unref();
  }

  get closed(): boolean {
    return this.#closed;
  }

  get metrics(): PoolMetrics {
    return this.#options.metrics;
  }

  /** Open `min` connections (at least one, to prove the settings work). */
  async warmUp(): Promise<void> {
    const wanted = Math.max(1, this.#options.min) - this.#idle.length - this.#inUse.size;
    const created = await Promise.allSettled(Array.from({ length: Math.max(0, wanted) }, () => this.#createEntry()));
    const failure = created.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure !== undefined) throw failure.reason;
  }

  /**
   * Count one more synchronous connection of this config (they are not pooled: each is held by
   * its caller until released). Like the async connections, at most `max` are open at once; the two
   * kinds are bounded separately, so a sync connection never starves async callers of a pool of one
   * (SQLite's default). False when `max` are open: a synchronous caller cannot wait for one.
   */
  reserveSyncConnection(): boolean {
    if (this.#closed || this.#syncConnections >= this.#options.max) return false;
    this.#syncConnections++;
    return true;
  }

  /** One synchronous connection from `reserveSyncConnection` was closed. */
  releaseSyncConnection(): void {
    if (this.#syncConnections > 0) this.#syncConnections--;
  }

  sizes(): PoolSizes {
    const idle = this.#idle.length;
    const inUse = this.#inUse.size;
    return {
      min: this.#options.min,
      max: this.#options.max,
      size: idle + inUse,
      idle,
      inUse,
      pending: this.#waiters.length - this.#waiterHead,
      creating: this.#creating,
    };
  }

  /** Connections handed out longer than `thresholdMs`, with where they were acquired. */
  heldLongerThan(thresholdMs: number): HeldTooLong[] {
    const now = performance.now();
    const held: HeldTooLong[] = [];
    for (const entry of this.#inUse.toArray()) {
      // A shared connection is held by whichever statement is oldest in flight, not by one caller.
      const heldForMs = now - (entry.inFlight > 0 ? entry.headSince : entry.acquiredAt);
      if (heldForMs >= thresholdMs) held.push({ lease: entry, heldForMs, stack: entry.acquireStack?.stack ?? '' });
    }
    return held;
  }

  /**
   * Get a connection: an idle one, a new one if below max, or wait in FIFO order.
   * @throws {PoolTimeoutError} after `acquireTimeoutMs`.
   * @throws {PoolClosedError} when the pool is closed.
   */
  acquire(signal?: AbortSignal): Promise<Lease> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (signal?.aborted) return Promise.reject(new AbortedError(`${this.#options.name}: acquisition aborted`, signal.reason));
    const ready = this.tryAcquireIdle();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise<Lease>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        enqueuedAt: performance.now(),
        signal,
        onAbort: undefined,
        done: false,
      };
      if (signal !== undefined) {
        waiter.onAbort = () => this.#failWaiter(waiter, new AbortedError(`${this.#options.name}: acquisition aborted`, signal.reason));
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#waiters.push(waiter);
      this.#deadlineTimer ??= setTimeout(this.#expireWaiters, this.#options.acquireTimeoutMs);
      this.#dispense();
    });
  }

  /**
   * The hot path: a healthy idle connection when nobody is queued, handed out at once; else
   * undefined (and nothing changed), and the caller goes through `acquire`.
   */
  tryAcquireIdle(): Lease | undefined {
    if (this.#closed || this.#waiterHead !== this.#waiters.length) return undefined;
    return this.#checkOutIdle(performance.now()) ?? undefined;
  }

  /**
   * The idle connection handed out at `now` (checked out, its acquisition counted); undefined when
   * none is idle, null when the one there must be pinged first (it stays idle for `acquire`).
   */
  #checkOutIdle(now: number): PoolEntry | null | undefined {
    const entry = this.#takeIdle(now);
    if (entry === undefined) return undefined;
    if (entry.needsValidation) {
      this.#idle.push(entry);
      return null;
    }
    this.#checkOut(entry, now);
    this.#options.metrics.recordAcquire(0, now);
    return entry;
  }

  /**
   * True when this pool's connections run statements on the caller's thread (`executeNow`, SQLite
   * inline): known once the first connection is open, since all come from one driver and config.
   */
  get runsNow(): boolean {
    return this.#runsNow;
  }

  /**
   * Lend the idle connection `tryAcquireIdle` would hand out to one statement that will have run
   * before control returns to the event loop (a connection that `runsNow`), without a clock read or
   * metrics: the caller records acquisition, statement and release in one pass, and gives it back
   * with `takeBack` before anything else can run (so no leak check can see it held). Undefined when
   * there is none, it does not run statements on this thread, someone queues, it needs a ping or it
   * broke.
   */
  lendIdle(): Lease | undefined {
    if (this.#closed || this.#waiterHead !== this.#waiters.length) return undefined;
    const entry = this.#idle[this.#idle.length - 1];
    // runsNow is read first so that the `conn.broken` access below only ever sees connection
    // classes that run on this thread: one shape there keeps the property access monomorphic.
    if (entry === undefined || !entry.runsNow || entry.needsValidation || entry.conn.broken) return undefined;
    this.#idle.pop();
    this.#inUse.add(entry);
    return entry;
  }

  /**
   * Take back a connection from `lendIdle` at `now` (the caller's clock reading); `release` without
   * the metrics. A connection marked for discarding, broken, or too old is destroyed.
   */
  takeBack(lease: Lease, now: number): void {
    const entry = lease as PoolEntry;
    if (this.#inUse.delete(entry)) this.#checkIn(entry, now);
  }

  /** Return a connection. A connection marked for discarding, broken, or too old is destroyed. */
  release(lease: Lease): void {
    const entry = lease as PoolEntry;
    if (!this.#inUse.delete(entry)) return;
    const now = performance.now();
    this.#options.metrics.recordRelease(now - entry.acquiredAt);
    entry.acquireStack = undefined;
    this.#checkIn(entry, now);
  }

  /**
   * A connection to send one more pipelined statement on, counted in flight until `endShared`:
   * the idle one `tryAcquireIdle` would hand out, else the shared connection with the fewest
   * statements in flight, passing over those whose oldest has run `stuckAfterMs` or longer (no
   * statement waits behind a slow one while another connection can take it). Undefined when
   * someone queues for a connection or the pool can still open one (the statement then takes a
   * connection of its own, as without pipelining), or every shared connection is stuck or failing.
   * `force` (a statement run again) skips the queue and room checks.
   */
  share(stuckAfterMs: number, force = false): Lease | undefined {
    if (this.#closed || (!force && this.#waiterHead !== this.#waiters.length)) return undefined;
    const now = performance.now();
    let entry = this.#checkOutIdle(now);
    if (entry === null) return undefined;
    if (entry !== undefined) {
      this.#shared.push(entry);
    } else {
      if (!force && this.#inUse.size + this.#creating < this.#options.max) return undefined;
      entry = this.#leastLoaded(now - stuckAfterMs);
      if (entry === undefined) return undefined;
    }
    if (entry.inFlight++ === 0) entry.headSince = now;
    return entry;
  }

  /** One statement counted by `share` on `lease` settled; once none is in flight, the connection is released. */
  endShared(lease: Lease): void {
    const entry = lease as PoolEntry;
    if (entry.inFlight === 0) return;
    entry.headSince = performance.now();
    if (--entry.inFlight > 0) return;
    const index = this.#shared.indexOf(entry);
    if (index >= 0) this.#shared.splice(index, 1);
    this.release(entry);
  }

  /** The healthy shared connection with the fewest statements in flight whose head began after `stuckBefore`. */
  #leastLoaded(stuckBefore: number): PoolEntry | undefined {
    let best: PoolEntry | undefined;
    for (const entry of this.#shared) {
      if (entry.discard || entry.conn.broken || entry.headSince <= stuckBefore) continue;
      if (best === undefined || entry.inFlight < best.inFlight) best = entry;
    }
    return best;
  }

  /** Destroy the connection when it comes back instead of pooling it again (its state is unknown). */
  discardOnRelease(lease: Lease): void {
    (lease as PoolEntry).discard = true;
  }

  /** True when the connection will be destroyed on release (marked so, or broken). */
  willDiscard(lease: Lease): boolean {
    return (lease as PoolEntry).discard || lease.conn.broken;
  }

  /**
   * The connection saw a connection-level error: ping it before it is handed out again, and the
   * idle ones too, which the same cause (a server restart, sessions killed together) has likely
   * broken without their clients noticing yet.
   */
  markSuspect(lease: Lease): void {
    (lease as PoolEntry).needsValidation = true;
    for (const entry of this.#idle) entry.needsValidation = true;
  }

  /** A connection no longer in use: destroyed when marked `discard`, broken or too old, else idle again. */
  #checkIn(entry: PoolEntry, now: number): void {
    if (this.#closed || entry.discard || entry.conn.broken || this.#expired(entry, now)) {
      this.#destroy(entry);
      this.#dispense();
      return;
    }
    entry.lastReleasedAt = now;
    this.#releaseToIdleOrWaiter(entry);
  }

  /**
   * Close: reject waiters, close idle connections, wait up to `timeoutMs` for connections in use
   * to come back, then destroy what is left.
   */
  async close(timeoutMs: number): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeController.abort(new PoolClosedError(`${this.#options.name}: pool closed`));
    clearInterval(this.#reaper);
    this.#reaper = undefined;
    while (this.#waiterHead < this.#waiters.length) {
      const waiter = this.#waiters[this.#waiterHead]!;
      this.#failWaiter(waiter, this.#closedError());
    }
    const idle = this.#idle.splice(0);
    await Promise.allSettled(idle.map((entry) => entry.conn.close()));
    const deadline = performance.now() + timeoutMs;
    while (this.#inUse.size > 0 && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const entry of this.#inUse.takeAll()) {
      entry.conn.destroy();
    }
  }

  // --- internals ---------------------------------------------------------------------------

  /** True when `entry` has outlived `maxLifetimeMs` at `now`. */
  #expired(entry: PoolEntry, now: number): boolean {
    return now - entry.createdAt > this.#options.maxLifetimeMs;
  }

  #closedError(): PoolClosedError {
    return new PoolClosedError(`${this.#options.name}: the pool is closed`);
  }

  #takeIdle(now: number): PoolEntry | undefined {
    let entry = this.#idle.pop();
    while (entry !== undefined && (entry.conn.broken || this.#expired(entry, now))) {
      this.#destroy(entry);
      entry = this.#idle.pop();
    }
    return entry;
  }

  /** Hand out `entry`, checked out at `now`. */
  #checkOut(entry: PoolEntry, now: number): void {
    entry.acquiredAt = now;
    if (this.#options.trackAcquireStacks) entry.acquireStack = new Error('acquired here');
    this.#inUse.add(entry);
  }

  #releaseToIdleOrWaiter(entry: PoolEntry): void {
    this.#idle.push(entry);
    // Nobody waiting (the common case): nothing to hand out or open.
    if (this.#waiterHead < this.#waiters.length) this.#dispense();
  }

  /** Hand idle connections to waiters in FIFO order, opening new ones while below max. */
  #dispense(): void {
    while (this.#waiterHead < this.#waiters.length) {
      const now = performance.now();
      const entry = this.#takeIdle(now);
      if (entry === undefined) break;
      if (entry.needsValidation) {
        this.#validateThenDispense(entry);
        continue;
      }
      const waiter = this.#shiftWaiter()!;
      this.#checkOut(entry, now);
      this.#settleWaiter(waiter);
      this.#options.metrics.recordAcquire(now - waiter.enqueuedAt, now);
      waiter.resolve(entry);
    }
    const pending = this.#waiters.length - this.#waiterHead;
    const room = this.#options.max - this.#idle.length - this.#inUse.size - this.#creating;
    const toCreate = Math.min(pending - this.#creating, room);
    for (let i = 0; i < toCreate; i++) this.#createForWaiters();
  }

  #createForWaiters(): void {
    this.#createEntry().catch(
      (error: unknown) => {
        // The head waiter gets the failure: it would otherwise wait for a connection that is not coming.
        const waiter = this.#shiftWaiter();
        if (waiter !== undefined) this.#failWaiter(waiter, error, true);
        this.#dispense();
      },
    );
  }

  #validateThenDispense(entry: PoolEntry): void {
    this.#creating++;
    const signal = AbortSignal.timeout(PING_TIMEOUT_MS);
    entry.conn.ping({ signal }).then(
      () => {
        this.#creating--;
        entry.needsValidation = false;
        this.#idle.push(entry);
        this.#dispense();
      },
      () => {
        this.#creating--;
        this.#destroy(entry);
        this.#dispense();
      },
    );
  }

  /**
   * Open one connection and put it in the pool (idle, or straight to a waiter). It stops counting
   * as "creating" in the same step as it is placed: with a gap between the two, a dispense could see
   * room for one connection too many.
   */
  async #createEntry(): Promise<void> {
    this.#creating++;
    let entry: PoolEntry;
    try {
      entry = await this.#openEntry();
    } finally {
      this.#creating--;
    }
    if (this.#closed) this.#destroy(entry);
    else this.#releaseToIdleOrWaiter(entry);
  }

  async #openEntry(): Promise<PoolEntry> {
    const metrics = this.#options.metrics;
    const deadline = timeoutSignal(
      this.#options.createTimeoutMs,
      () => new DOMException('connection creation timed out', 'TimeoutError'),
      this.#closeController.signal,
    );
    const signal = deadline.signal;
    try {
      const conn = await this.#options.create(signal);
      if (signal.aborted) {
        conn.destroy();
        throw signal.reason;
      }
      metrics.recordConnectionCreated();
      const entry = new PoolEntry(conn, this.#options.readersFor?.(conn), performance.now());
      this.#runsNow = entry.runsNow;
      return entry;
    } catch (error) {
      // Waiting out an open circuit breaker is not one more failed connection attempt.
      if (error instanceof CircuitOpenError) throw error;
      metrics.recordConnectionError();
      if (signal.aborted && !(error instanceof ConnectionError)) {
        const reason: unknown = signal.reason;
        if (reason instanceof PoolClosedError) throw reason;
        throw new ConnectionError(
          `${this.#options.name}: could not open a connection within connectionCreationTimeoutMs (${this.#options.createTimeoutMs} ms)`,
          { cause: error },
        );
      }
      throw error;
    } finally {
      deadline.clear();
    }
  }

  #destroy(entry: PoolEntry): void {
    this.#options.metrics.recordConnectionDestroyed();
    entry.conn.close().catch(() => entry.conn.destroy());
  }

  #shiftWaiter(): Waiter | undefined {
    if (this.#waiterHead >= this.#waiters.length) return undefined;
    const waiter = this.#waiters[this.#waiterHead]!;
    this.#waiters[this.#waiterHead] = undefined as unknown as Waiter;
    this.#waiterHead++;
    // Compact the queue now and then instead of shifting the array on every dispense.
    if (this.#waiterHead > 1024 && this.#waiterHead * 2 > this.#waiters.length) {
      this.#waiters.splice(0, this.#waiterHead);
      this.#waiterHead = 0;
    } else if (this.#waiterHead === this.#waiters.length) {
      this.#waiters.length = 0;
      this.#waiterHead = 0;
      this.#clearDeadlineTimer();
    }
    return waiter;
  }

  /** Fail the waiters whose acquisition timeout has passed, then set the timer for the new head. */
  readonly #expireWaiters = (): void => {
    this.#deadlineTimer = undefined;
    const now = performance.now();
    const timeoutMs = this.#options.acquireTimeoutMs;
    let head = this.#waiters[this.#waiterHead];
    while (head !== undefined && now - head.enqueuedAt >= timeoutMs) {
      this.#timeOut(head);
      head = this.#waiters[this.#waiterHead];
    }
    // (A timer may also fire a fraction of a millisecond before its deadline: it is then set again.)
    if (head !== undefined) this.#deadlineTimer = setTimeout(this.#expireWaiters, Math.max(1, head.enqueuedAt + timeoutMs - now));
  };

  #settleWaiter(waiter: Waiter): void {
    waiter.done = true;
    if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener('abort', waiter.onAbort);
  }

  /** Nobody waits any more: a pending timer would keep a finished program alive. */
  #clearDeadlineTimer(): void {
    clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = undefined;
  }

  #timeOut(waiter: Waiter): void {
    if (waiter.done) return;
    const waited = performance.now() - waiter.enqueuedAt;
    const unavailable = this.#options.unavailable?.(waited);
    if (unavailable !== undefined) {
      // An outage, not a busy pool: it must not count towards the scaling advice.
      this.#failWaiter(waiter, unavailable);
      return;
    }
    const { size, inUse } = this.sizes();
    this.#options.metrics.recordAcquireTimeout(waited);
    this.#failWaiter(
      waiter,
      new PoolTimeoutError(
        `${this.#options.name}: no connection available within ${this.#options.acquireTimeoutMs} ms ` +
          `(${inUse} of ${this.#options.max} in use)`,
        Math.round(waited),
        size,
      ),
    );
  }

  /** Remove a waiter wherever it is in the queue and reject it. */
  #failWaiter(waiter: Waiter, error: unknown, alreadyShifted = false): void {
    if (waiter.done) return;
    this.#settleWaiter(waiter);
    if (!alreadyShifted) {
      const index = this.#waiters.indexOf(waiter, this.#waiterHead);
      if (index === this.#waiterHead) this.#shiftWaiter();
      else if (index > this.#waiterHead) this.#waiters.splice(index, 1);
    }
    if (!(error instanceof PoolTimeoutError)) this.#options.metrics.recordAcquireError();
    waiter.reject(error);
  }

  /** Background upkeep: close idle connections past their time, keep `min` open. */
  #sweep(): void {
    if (this.#closed) return;
    const now = performance.now();
    const { idleTimeoutMs, min } = this.#options;
    for (let i = 0; i < this.#idle.length; ) {
      const entry = this.#idle[i]!;
      const total = this.#idle.length + this.#inUse.size;
      const stale = now - entry.lastReleasedAt > idleTimeoutMs && total > min;
      if (stale || entry.conn.broken || this.#expired(entry, now)) {
        this.#idle.splice(i, 1);
        this.#destroy(entry);
      } else {
        i++;
      }
    }
    const missing = min - (this.#idle.length + this.#inUse.size + this.#creating);
    for (let i = 0; i < missing; i++) {
      this.#createEntry().catch(() => undefined); // counted in metrics; the next sweep tries again
    }
  }
}
