import { describe, expect, it } from 'vitest';
import { PoolMetrics } from '../src/pool/pool-metrics.js';

// The buffered path of in-place statements (untagged, no event listener) against the counters
// and histograms a snapshot shows. Everything else about metrics is tested through real pools in
// the driver packages.
describe('PoolMetrics, statements run in place', () => {
  it('buffered statements show in every counter and histogram of the snapshot, exactly', () => {
    const metrics = new PoolMetrics();
    const durations = [0.2, 0.7, 1.5, 3, 7, 20, 0.01];
    for (const ms of durations) metrics.recordInPlaceStatement(ms, 1_000, undefined);
    metrics.recordInPlaceStatement(4, 1_000, 'tagged');
    const s = metrics.snapshot();
    const total = durations.reduce((a, b) => a + b, 0);
    expect(s).toMatchObject({ acquisitions: 8, queries: 8 });
    expect(s.totalQueryMs).toBeCloseTo(total + 4, 12);
    expect(s.totalUseMs).toBeCloseTo(total + 4, 12);
    expect(s.waitTime).toMatchObject({ count: 8, sumMs: 0 });
    expect(s.waitTime.counts[0]).toBe(8);
    // Buckets: <=1 ms: 0.2, 0.7, 0.01; <=2: 1.5; <=5: 3 and the tagged 4; <=10: 7; <=25: 20.
    expect(s.queryDuration.counts.slice(0, 5)).toEqual([3, 1, 2, 1, 1]);
    expect(s.useTime.counts).toEqual(s.queryDuration.counts);
    expect(s.operations['unknown']).toMatchObject({ count: 7, errors: 0 });
    expect(s.operations['unknown']!.duration.counts.slice(0, 5)).toEqual([3, 1, 1, 1, 1]);
    expect(s.operations['tagged']).toMatchObject({ count: 1, totalMs: 4 });
    // A second snapshot adds nothing twice.
    expect(metrics.snapshot()).toEqual(s);
  });

  it("keeps untagged statements under 'unknown' even when 100 tagged names arrive before the first snapshot", () => {
    const metrics = new PoolMetrics();
    metrics.recordInPlaceStatement(0.5, 1_000, undefined);
    for (let i = 0; i < 100; i++) metrics.recordQuery(0.5, `op_${i}`, undefined);
    const s = metrics.snapshot();
    expect(s.operations['unknown']).toMatchObject({ count: 1 });
    expect(s.operations['other']).toMatchObject({ count: 1 });
  });
});
