/**
 * Counters for one pool, cheap enough for the hot path (plain number increments), plus a
 * rolling window of per-second buckets from which the timeout rate and the scaling advice
 * of API.md are computed.
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
}

export class PoolMetrics {
  acquisitions = 0;
  acquisitionTimeouts = 0;
  acquireErrors = 0;
  totalWaitMs = 0;
  maxWaitMs = 0;
  totalUseMs = 0;
  connectionsCreated = 0;
  connectionsDestroyed = 0;
  connectionErrors = 0;
  queries = 0;
  queryErrors = 0;
  queryTimeouts = 0;
  slowQueries = 0;
  totalQueryMs = 0;

  readonly windowMs: number;
  readonly #bucketMs: number;
  readonly #attempts: Float64Array;
  readonly #timeouts: Float64Array;
  /** Bucket number (time / bucketMs) each slot was last written for. */
  readonly #slotEpoch: Float64Array;

  constructor(windowMs = 300_000, buckets = 60) {
    this.windowMs = windowMs;
    this.#bucketMs = windowMs / buckets;
    this.#attempts = new Float64Array(buckets);
    this.#timeouts = new Float64Array(buckets);
    this.#slotEpoch = new Float64Array(buckets).fill(-1);
  }

  recordAcquire(waitMs: number): void {
    this.acquisitions++;
    this.totalWaitMs += waitMs;
    if (waitMs > this.maxWaitMs) this.maxWaitMs = waitMs;
    this.#attempts[this.#slot()]!++;
  }

  recordAcquireTimeout(waitMs: number): void {
    this.acquisitionTimeouts++;
    this.totalWaitMs += waitMs;
    const slot = this.#slot();
    this.#attempts[slot]!++;
    this.#timeouts[slot]!++;
  }

  recordRelease(useMs: number): void {
    this.totalUseMs += useMs;
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
    return {
      acquisitions: this.acquisitions,
      acquisitionTimeouts: this.acquisitionTimeouts,
      acquireErrors: this.acquireErrors,
      totalWaitMs: this.totalWaitMs,
      maxWaitMs: this.maxWaitMs,
      totalUseMs: this.totalUseMs,
      connectionsCreated: this.connectionsCreated,
      connectionsDestroyed: this.connectionsDestroyed,
      connectionErrors: this.connectionErrors,
      queries: this.queries,
      queryErrors: this.queryErrors,
      queryTimeouts: this.queryTimeouts,
      slowQueries: this.slowQueries,
      totalQueryMs: this.totalQueryMs,
    };
  }

  #slot(): number {
    const epoch = Math.floor(performance.now() / this.#bucketMs);
    const slot = epoch % this.#attempts.length;
    if (this.#slotEpoch[slot] !== epoch) {
      this.#slotEpoch[slot] = epoch;
      this.#attempts[slot] = 0;
      this.#timeouts[slot] = 0;
    }
    return slot;
  }
}
