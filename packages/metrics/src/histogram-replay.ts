import type { HistogramSnapshot } from '@dal/core';

/** One value to record `times` times. */
export interface ReplayStep {
  value: number;
  times: number;
}

/**
 * Turn the growth of a bucketed histogram into values that land in the same buckets and add up
 * to the same sum, so an OpenTelemetry Histogram (which only takes single values) ends up with
 * core's counts and sum. Values are in the histogram's unit divided by `divisor` (1000: ms to s).
 *
 * Each bucket gets one value repeated: its lower bound (just above it) plus a common fraction of
 * its width; whatever the bounded buckets cannot hold goes to the overflow bucket.
 */
export function replaySteps(delta: HistogramSnapshot, divisor: number): ReplayStep[] {
  const bounds = delta.boundsMs.map((b) => b / divisor);
  const buckets = delta.counts.map((times, i) => {
    const lo = i === 0 ? 0 : bounds[i - 1]!;
    const hi = i < bounds.length ? bounds[i]! : Number.POSITIVE_INFINITY;
    // Buckets are (lo, hi]: the smallest value is the next float or so above lo; the first bucket also holds 0.
    const min = i === 0 ? 0 : lo + lo * 4 * Number.EPSILON;
    return { times, min, hi };
  });
  const target = delta.sumMs / divisor;
  let base = 0;
  let room = 0;
  for (const b of buckets) {
    base += b.times * b.min;
    if (Number.isFinite(b.hi)) room += b.times * (b.hi - b.min);
  }
  const fraction = room > 0 ? Math.min(1, Math.max(0, (target - base) / room)) : 0;
  let placed = 0;
  const steps = buckets.map((b) => {
    const value = Number.isFinite(b.hi) ? Math.min(b.hi, b.min + fraction * (b.hi - b.min)) : b.min;
    placed += b.times * value;
    return { value, times: b.times };
  });
  const overflow = steps[steps.length - 1];
  const rest = target - placed;
  if (overflow !== undefined && overflow.times > 0 && rest > 0) overflow.value += rest / overflow.times;
  return steps.filter((s) => s.times > 0);
}

/** `current - previous`, or `current` itself when the histogram restarted (its pool was reopened). */
export function histogramDelta(current: HistogramSnapshot, previous: HistogramSnapshot | undefined): HistogramSnapshot {
  if (previous === undefined || previous.count > current.count || previous.counts.length !== current.counts.length) return current;
  const counts = current.counts.map((c, i) => c - (previous.counts[i] ?? 0));
  if (counts.some((c) => c < 0)) return current;
  return { boundsMs: current.boundsMs, counts, sumMs: current.sumMs - previous.sumMs, count: current.count - previous.count };
}

/**
 * The `q` quantile (0..1) of a bucketed histogram, interpolated linearly inside its bucket as
 * Prometheus' `histogram_quantile` does; a quantile in the overflow bucket is reported as the last
 * bound (a lower bound of the truth). Undefined for an empty histogram.
 */
export function histogramQuantile(h: HistogramSnapshot, q: number): number | undefined {
  if (h.count === 0) return undefined;
  const rank = q * h.count;
  let below = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const inBucket = h.counts[i]!;
    if (inBucket > 0 && below + inBucket >= rank) {
      if (i >= h.boundsMs.length) return h.boundsMs[h.boundsMs.length - 1]!;
      const lo = i === 0 ? 0 : h.boundsMs[i - 1]!;
      return lo + (h.boundsMs[i]! - lo) * ((rank - below) / inBucket);
    }
    below += inBucket;
  }
  return h.boundsMs[h.boundsMs.length - 1]!;
}
