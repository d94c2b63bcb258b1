import { describe, expect, it } from 'vitest';
import { histogramDelta, replaySteps } from '../src/histogram-replay.js';

const BOUNDS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/** Bucket values the way an OTel explicit-bucket histogram does: (lo, hi], last open-ended. */
function bucketOf(valueS: number): number {
  const i = BOUNDS.findIndex((b) => valueS <= b / 1000);
  return i === -1 ? BOUNDS.length : i;
}

/** A histogram built from raw millisecond samples, the way core buckets them. */
function histogramOf(samplesMs: number[]): { boundsMs: number[]; counts: number[]; sumMs: number; count: number } {
  const counts = new Array<number>(BOUNDS.length + 1).fill(0);
  for (const ms of samplesMs) {
    let i = 0;
    while (i < BOUNDS.length && ms > BOUNDS[i]!) i++;
    counts[i]!++;
  }
  return { boundsMs: BOUNDS, counts, sumMs: samplesMs.reduce((a, b) => a + b, 0), count: samplesMs.length };
}

function replayed(samplesMs: number[]): { counts: number[]; sum: number; count: number } {
  const counts = new Array<number>(BOUNDS.length + 1).fill(0);
  let sum = 0;
  let count = 0;
  for (const step of replaySteps(histogramOf(samplesMs), 1000)) {
    counts[bucketOf(step.value)]! += step.times;
    sum += step.value * step.times;
    count += step.times;
  }
  return { counts, sum, count };
}

describe('replaySteps', () => {
  // Seeded so a failure can be replayed.
  let seed = 12345;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const cases: Record<string, number[]> = {
    'zero waits': [0, 0, 0],
    'on the bounds': BOUNDS.slice(),
    'just above the bounds': BOUNDS.map((b) => b + 0.001),
    'overflow bucket': [20_000, 65_000, 3],
    'mixed random': Array.from({ length: 500 }, () => random() ** 3 * 12_000),
  };

  for (const [name, samples] of Object.entries(cases)) {
    it(`keeps bucket counts, count and sum: ${name}`, () => {
      const expected = histogramOf(samples);
      const got = replayed(samples);
      expect(got.counts).toEqual(expected.counts);
      expect(got.count).toBe(expected.count);
      expect(got.sum).toBeCloseTo(expected.sumMs / 1000, 9);
    });
  }

  it('replays nothing for an empty delta', () => {
    expect(replaySteps(histogramOf([]), 1000)).toEqual([]);
  });
});

describe('histogramDelta', () => {
  it('subtracts the previous snapshot', () => {
    const before = histogramOf([1, 30]);
    const after = histogramOf([1, 30, 3, 3000]);
    const delta = histogramDelta(after, before);
    expect(delta).toEqual(histogramOf([3, 3000]));
  });

  it('takes the whole histogram when it restarted (fewer values than before)', () => {
    const before = histogramOf([1, 30, 40]);
    const after = histogramOf([7]);
    expect(histogramDelta(after, before)).toEqual(after);
  });
});
