import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { trackSlow, type SlowCallInfo } from '../src/index.js';

const after = <T>(ms: number, value: T, fail = false): Promise<T> =>
  new Promise((resolve, reject) => setTimeout(() => (fail ? reject(value) : resolve(value)), ms));

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

async function run<T>(promise: Promise<T>, ms: number): Promise<{ value?: T; error?: unknown }> {
  const out = promise.then((value) => ({ value }), (error: unknown) => ({ error }));
  await vi.advanceTimersByTimeAsync(ms);
  return out;
}

describe('trackSlow', () => {
  it('reports only calls over the threshold, successes and failures alike, without args', async () => {
    const reports: SlowCallInfo[] = [];
    const watched = trackSlow({ thresholdMs: 1_000, name: 'report', onSlow: (i) => reports.push(i) })(
      (ms: number, secret: string, fail: boolean) => after(ms, secret, fail),
    );
    expect(await run(watched(100, 'pw', false), 100)).toEqual({ value: 'pw' });
    expect(await run(watched(1_000, 'pw', false), 1_000)).toEqual({ value: 'pw' });
    expect(reports).toEqual([]);
    expect(await run(watched(1_500, 'pw', false), 1_500)).toEqual({ value: 'pw' });
    expect(await run(watched(2_000, 'pw', true), 2_000)).toEqual({ error: 'pw' });
    expect(await run(watched(10, 'pw', true), 10)).toEqual({ error: 'pw' });
    expect(reports).toEqual([
      { name: 'report', durationMs: 1_500, thresholdMs: 1_000, outcome: 'success' },
      { name: 'report', durationMs: 2_000, thresholdMs: 1_000, outcome: 'failure', error: 'pw' },
    ]);
  });

  it('includes the arguments only with includeArgs', async () => {
    const reports: SlowCallInfo[] = [];
    const watched = trackSlow({ thresholdMs: 0, includeArgs: true, onSlow: (i) => reports.push(i) })((a: number, b: string) => after(5, `${a}${b}`));
    await run(watched(1, 'x'), 5);
    expect(reports).toEqual([{ durationMs: 5, thresholdMs: 0, outcome: 'success', args: [1, 'x'] }]);
  });

  it('logs one console.warn line by default, with no argument values', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const watched = trackSlow({ name: 'q' })((secret: string) => after(2_500, secret));
    await run(watched('hunter2'), 2_500);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]).toEqual(['[@dal/resilience] Slow call "q" took 2500 ms (threshold 2000 ms)']);
    expect(JSON.stringify(warn.mock.calls)).not.toContain('hunter2');
  });

  it('keeps a throwing onSlow from changing the result', async () => {
    const errorLog = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const watched = trackSlow({ thresholdMs: 0, onSlow: () => { throw new Error('hook bug'); } })(() => after(1, 'ok'));
    expect(await run(watched(), 1)).toEqual({ value: 'ok' });
    expect(errorLog).toHaveBeenCalledTimes(1);
  });

  it('rejects a negative threshold', () => {
    expect(() => trackSlow({ thresholdMs: -1 })).toThrow(RangeError);
  });
});
