import { performance } from 'node:perf_hooks';
import { emitDalEvent, eventListeners } from '../events.js';

/**
 * Measurements of one pool, cheap enough for the hot path (number increments and a short
 * bucket scan, no allocation), plus a rolling window of buckets from which the timeout rate
 * and the scaling advice of API.md are computed.
 */

export type ScalingLevel = 'normal' | 'mild' | 'high' | 'critical';

export interface ScalingAdvice {
  level: ScalingLevel;
  advice: string;
  /** Acquisition timeouts / acquisition attempts over the window, 0..1. */
  timeoutRate: number;
  windowMs: number;
}

/** Thresholds from the original design: < 0.1 % normal, < 1 % mild, < 5 % high, above critical. */
const LEVELS: ReadonlyArray<{ below: number; level: ScalingLevel; advice: string }> = [
  { below: 0.001, level: 'normal', advice: 'no action needed' },
  { below: 0.01, level: 'mild', advice: 'review slow queries' },
  { below: 0.05, level: 'high', advice: 'scale vertically (bigger DB/app servers)' },
  { below: Number.POSITIVE_INFINITY, level: 'critical', advice: 'scale horizontally (add app servers)' },
];

/** Map a timeout rate (0..1) to API.md's advice table. */
export function scalingFor(timeoutRate: number, windowMs: number): ScalingAdvice {
  const row = LEVELS.find((l) => timeoutRate < l.below)!;
  return { level: row.level, advice: row.advice, timeoutRate, windowMs };
}

/** Upper bounds (ms) of the duration histograms; a last bucket takes everything above. */
export const DURATION_BOUNDS_MS: readonly number[] = Object.freeze([1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]);

/** A duration histogram: `counts[i]` values were <= `boundsMs[i]` (and above the previous bound); the last count is above every bound. */
export interface HistogramSnapshot {
  boundsMs: readonly number[];
  counts: number[];
  sumMs: number;
  count: number;
}

/** The histogram bucket of `ms`: the first bound it does not exceed, or the last bucket. */
function bucketOf(ms: number): number {
  let i = 0;
  while (i < DURATION_BOUNDS_MS.length && ms > DURATION_BOUNDS_MS[i]!) i++;
  return i;
}

class Histogram {
  readonly counts = new Float64Array(DURATION_BOUNDS_MS.length + 1);
  sumMs = 0;
  count = 0;

  record(ms: number): void {
    this.add(bucketOf(ms), ms);
  }

  /** Record `ms`, whose bucket the caller already knows. */
  add(bucket: number, ms: number): void {
    this.counts[bucket]!++;
    this.sumMs += ms;
    this.count++;
  }

  /** Add another histogram's values to this one. */
  merge(other: Histogram): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += other.counts[i]!;
    this.sumMs += other.sumMs;
    this.count += other.count;
  }

  clear(): void {
    this.counts.fill(0);
    this.sumMs = 0;
    this.count = 0;
  }

  snapshot(): HistogramSnapshot {
    return { boundsMs: DURATION_BOUNDS_MS, counts: Array.from(this.counts), sumMs: this.sumMs, count: this.count };
  }
}

/** Statements of one `tags.operation`. */
export interface OperationSnapshot {
  count: number;
  errors: number;
  totalMs: number;
  duration: HistogramSnapshot;
}

/** Errors by what went wrong. */
export interface ErrorsByCategory {
  /** Statement timeouts. */
  timeout: number;
  /** Connection failures (refused, reset, killed). */
  connection: number;
  /** The server rejected the statement (syntax, constraint, ...). */
  query: number;
  /** Rejected by the open circuit breaker. */
  circuitOpen: number;
  /** Pool acquisition timeouts. */
  pool: number;
  /** Aborted by the caller's signal. */
  aborted: number;
}

export interface PoolMetricsSnapshot {
  acquisitions: number;
  acquisitionTimeouts: number;
  acquireErrors: number;
  totalWaitMs: number;
  maxWaitMs: number;
  totalUseMs: number;
  connectionsCreated: number;
  connectionsDestroyed: number;
  connectionErrors: number;
  queries: number;
  queryErrors: number;
  queryTimeouts: number;
  slowQueries: number;
  totalQueryMs: number;
  /** Time callers waited for a connection. */
  waitTime: HistogramSnapshot;
  /** Time connections were held by callers. */
  useTime: HistogramSnapshot;
  /** Statement durations. */
  queryDuration: HistogramSnapshot;
  /** Statements by `tags.operation` ('unknown' without one; at most 100 names, then 'other'). */
  operations: Record<string, OperationSnapshot>;
  errorsByCategory: ErrorsByCategory;
}

const MAX_OPERATIONS = 100;

class OperationStats {
  count = 0;
  errors = 0;
  totalMs = 0;
  readonly duration = new Histogram();
}

/**
 * The counters and histograms of one pool. Everything is private and read through `snapshot()`,
 * which first folds in what the in-place fast path only gathered (see #settle): a snapshot is
 * always complete, and nothing outside can read a counter that is not.
 */
export class PoolMetrics {
  /** Who these metrics belong to, for events. */
  readonly alias: string;
  readonly hash: string;
  #acquisitions = 0;
  #acquisitionTimeouts = 0;
  #acquireErrors = 0;
  #totalWaitMs = 0;
  #maxWaitMs = 0;
  #totalUseMs = 0;
  #connectionsCreated = 0;
  #connectionsDestroyed = 0;
  #connectionErrors = 0;
  #queries = 0;
  #queryErrors = 0;
  #queryTimeouts = 0;
  #slowQueries = 0;
  #totalQueryMs = 0;
  readonly #errorsByCategory: ErrorsByCategory = { timeout: 0, connection: 0, query: 0, circuitOpen: 0, pool: 0, aborted: 0 };
  readonly #waitTime = new Histogram();
  readonly #useTime = new Histogram();
  readonly #queryDuration = new Histogram();
  readonly #operations = new Map<string, OperationStats>();
  /**
   * What the hot path gathered without touching the counters and histograms above, folded in by
   * #settle when the metrics are read: successful untagged statements (most), acquisitions that did
   * not wait, and uses of a connection. Three histogram updates and an operation lookup per
   * statement showed in the cost of a 3 µs SQLite point select; these are one bucket add each.
   */
  readonly #pendingStatements = new Histogram();
  #pendingImmediateAcquisitions = 0;
  readonly #pendingUses = new Histogram();
  /** The 'unknown' entry, for statements without `tags.operation` (most): saves a lookup per statement. */
  #untagged: OperationStats | undefined;

  readonly windowMs: number;
  readonly #bucketMs: number;
  readonly #attempts: Float64Array;
  readonly #timeouts: Float64Array;
  /** Bucket number (time / bucketMs) each slot was last written for. */
  readonly #slotEpoch: Float64Array;

  constructor(identity: { alias: string; hash: string } = { alias: '', hash: '' }, windowMs = 300_000, buckets = 60) {
    this.alias = identity.alias;
    this.hash = identity.hash;
    this.windowMs = windowMs;
    this.#bucketMs = windowMs / buckets;
    this.#attempts = new Float64Array(buckets);
    this.#timeouts = new Float64Array(buckets);
    this.#slotEpoch = new Float64Array(buckets).fill(-1);
  }

  recordConnectionCreated(): void {
    this.#connectionsCreated++;
  }

  recordConnectionDestroyed(): void {
    this.#connectionsDestroyed++;
  }

  /** An attempt to open a connection failed. */
  recordConnectionError(): void {
    this.#connectionErrors++;
  }

  /** A caller's acquisition failed for another reason than a timeout (aborted, pool closed, connection failed). */
  recordAcquireError(): void {
    this.#acquireErrors++;
  }

  /** A caller gave up on a connection because the server could not be reached (open circuit breaker). */
  recordCircuitOpen(): void {
    this.#errorsByCategory.circuitOpen++;
  }

  recordSlowQuery(): void {
    this.#slowQueries++;
  }

  /** A caller got a connection after `waitMs`; `now` is performance.now() (passed in to save a clock read). */
  recordAcquire(waitMs: number, now: number): void {
    this.#attempts[this.#slot(now)]!++;
    if (waitMs === 0) {
      this.#pendingImmediateAcquisitions++;
    } else {
      this.#acquisitions++;
      this.#totalWaitMs += waitMs;
      if (waitMs > this.#maxWaitMs) this.#maxWaitMs = waitMs;
      this.#waitTime.record(waitMs);
    }
    if (eventListeners.length > 0) emitDalEvent({ type: 'acquire', alias: this.alias, hash: this.hash, waitMs });
  }

  recordAcquireTimeout(waitMs: number): void {
    this.#acquisitionTimeouts++;
    this.#errorsByCategory.pool++;
    this.#totalWaitMs += waitMs;
    this.#waitTime.record(waitMs);
    const slot = this.#slot(performance.now());
    this.#attempts[slot]!++;
    this.#timeouts[slot]!++;
    if (eventListeners.length > 0) emitDalEvent({ type: 'acquire-timeout', alias: this.alias, hash: this.hash, waitMs });
  }

  recordRelease(useMs: number): void {
    this.#pendingUses.record(useMs);
    if (eventListeners.length > 0) emitDalEvent({ type: 'release', alias: this.alias, hash: this.hash, useMs });
  }

  /** One statement; `category` and `errorCode` are set when it failed. */
  recordQuery(durationMs: number, operation: string | undefined, category: keyof ErrorsByCategory | undefined, errorCode?: string): void {
    this.#statement(bucketOf(durationMs), durationMs, operation, category);
    if (eventListeners.length > 0) {
      emitDalEvent({ type: 'query', alias: this.alias, hash: this.hash, durationMs, operation: operation ?? 'unknown', errorCode });
    }
  }

  /**
   * A statement that ran on a connection lent for it alone (lent-connection.ts): one acquisition
   * without wait at `startedAt`, one statement and one use of the connection, each `durationMs`
   * long, with the same numbers and events as recordAcquire + recordQuery + recordRelease.
   */
  recordInPlaceStatement(durationMs: number, startedAt: number, operation: string | undefined): void {
    this.#attempts[this.#slot(startedAt)]!++;
    this.#pendingImmediateAcquisitions++;
    const bucket = bucketOf(durationMs);
    this.#pendingUses.add(bucket, durationMs);
    this.#statement(bucket, durationMs, operation, undefined);
    if (eventListeners.length > 0) {
      const { alias, hash } = this;
      emitDalEvent({ type: 'acquire', alias, hash, waitMs: 0 });
      emitDalEvent({ type: 'query', alias, hash, durationMs, operation: operation ?? 'unknown', errorCode: undefined });
      emitDalEvent({ type: 'release', alias, hash, useMs: durationMs });
    }
  }

  #statement(bucket: number, durationMs: number, operation: string | undefined, category: keyof ErrorsByCategory | undefined): void {
    if (operation === undefined && category === undefined) {
      // The 'unknown' entry is made now all the same, so that it counts among the first 100 names.
      if (this.#untagged === undefined) this.#operation(undefined);
      this.#pendingStatements.add(bucket, durationMs);
      return;
    }
    this.#queries++;
    this.#totalQueryMs += durationMs;
    this.#queryDuration.add(bucket, durationMs);
    if (category !== undefined) {
      this.#queryErrors++;
      this.#errorsByCategory[category]++;
      if (category === 'timeout') this.#queryTimeouts++;
    }
    const stats = this.#operation(operation);
    stats.count++;
    stats.totalMs += durationMs;
    stats.duration.add(bucket, durationMs);
    if (category !== undefined) stats.errors++;
  }

  /** Timeout rate and advice over the rolling window. */
  scaling(): ScalingAdvice {
    const current = Math.floor(performance.now() / this.#bucketMs);
    const oldest = current - this.#attempts.length + 1;
    let attempts = 0;
    let timeouts = 0;
    for (let i = 0; i < this.#attempts.length; i++) {
      if (this.#slotEpoch[i]! >= oldest) {
        attempts += this.#attempts[i]!;
        timeouts += this.#timeouts[i]!;
      }
    }
    return scalingFor(attempts === 0 ? 0 : timeouts / attempts, this.windowMs);
  }

  snapshot(): PoolMetricsSnapshot {
    this.#settle();
    const operations: Record<string, OperationSnapshot> = {};
    for (const [name, stats] of this.#operations) {
      operations[name] = { count: stats.count, errors: stats.errors, totalMs: stats.totalMs, duration: stats.duration.snapshot() };
    }
    return {
      acquisitions: this.#acquisitions,
      acquisitionTimeouts: this.#acquisitionTimeouts,
      acquireErrors: this.#acquireErrors,
      totalWaitMs: this.#totalWaitMs,
      maxWaitMs: this.#maxWaitMs,
      totalUseMs: this.#totalUseMs,
      connectionsCreated: this.#connectionsCreated,
      connectionsDestroyed: this.#connectionsDestroyed,
      connectionErrors: this.#connectionErrors,
      queries: this.#queries,
      queryErrors: this.#queryErrors,
      queryTimeouts: this.#queryTimeouts,
      slowQueries: this.#slowQueries,
      totalQueryMs: this.#totalQueryMs,
      waitTime: this.#waitTime.snapshot(),
      useTime: this.#useTime.snapshot(),
      queryDuration: this.#queryDuration.snapshot(),
      operations,
      errorsByCategory: { ...this.#errorsByCategory },
    };
  }

  /** Fold what the hot path gathered (see #pendingStatements) into the counters and histograms. */
  #settle(): void {
    const statements = this.#pendingStatements;
    if (statements.count > 0) {
      this.#queries += statements.count;
      this.#totalQueryMs += statements.sumMs;
      this.#queryDuration.merge(statements);
      const untagged = this.#operation(undefined);
      untagged.count += statements.count;
      untagged.totalMs += statements.sumMs;
      untagged.duration.merge(statements);
      statements.clear();
    }
    const immediate = this.#pendingImmediateAcquisitions;
    if (immediate > 0) {
      this.#acquisitions += immediate;
      this.#waitTime.counts[0]! += immediate;
      this.#waitTime.count += immediate;
      this.#pendingImmediateAcquisitions = 0;
    }
    const uses = this.#pendingUses;
    if (uses.count > 0) {
      this.#totalUseMs += uses.sumMs;
      this.#useTime.merge(uses);
      uses.clear();
    }
  }

  /** The stats of `tags.operation` (`'unknown'` without one). */
  #operation(name: string | undefined): OperationStats {
    if (name === undefined) return (this.#untagged ??= this.#operation('unknown'));
    let stats = this.#operations.get(name);
    if (stats !== undefined) return stats;
    // Bounded: operation names are caller-chosen labels; past the limit they share one entry.
    const key = this.#operations.size >= MAX_OPERATIONS ? 'other' : name;
    stats = this.#operations.get(key) ?? new OperationStats();
    this.#operations.set(key, stats);
    return stats;
  }

  #slot(now: number): number {
    const epoch = Math.floor(now / this.#bucketMs);
    const slot = epoch % this.#attempts.length;
    if (this.#slotEpoch[slot] !== epoch) {
      this.#slotEpoch[slot] = epoch;
      this.#attempts[slot] = 0;
      this.#timeouts[slot] = 0;
    }
    return slot;
  }
}
