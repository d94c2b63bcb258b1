import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CircuitBreaker, CircuitOpenError, type CircuitBreakerEvents } from '../src/index.js';

// Probe-driven recovery (option `probe`): a clock is the one thing faked here.
beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
});
afterEach(() => {
  vi.useRealTimers();
});

async function trip(breaker: CircuitBreaker): Promise<void> {
  for (let i = 0; i < breaker.failureThreshold; i++) await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => undefined);
}

/** A probe whose outcome the test sets, recording when it ran. */
function controllableProbe(): { probe: () => Promise<void>; calls: number[]; healthy: { value: boolean } } {
  const calls: number[] = [];
  const healthy = { value: false };
  return {
    calls,
    healthy,
    probe: () => {
      calls.push(Date.now());
      return healthy.value ? Promise.resolve() : Promise.reject(new Error('still down'));
    },
  };
}

describe('CircuitBreaker with probe', () => {
  it('probes 100 ms after opening, backs off up to recoveryTimeoutMs, and closes on the first success', async () => {
    const { probe, calls, healthy } = controllableProbe();
    const breaker = new CircuitBreaker({ failureThreshold: 2, recoveryTimeoutMs: 1_000, probe });
    const closes: Array<CircuitBreakerEvents['close']> = [];
    breaker.on('close', (e) => closes.push(e));
    await trip(breaker);
    const openedAt = Date.now();
    expect(breaker.state).toBe('open');
    expect(breaker.retryAfterMs).toBe(100);
    await vi.advanceTimersByTimeAsync(5_000);
    // 100, then 200, 400, 800, 1000 (capped), 1000, ...: gaps between probes never exceed the cap.
    const gaps = calls.map((t, i) => t - (i === 0 ? openedAt : calls[i - 1]!));
    expect(gaps.slice(0, 5)).toEqual([100, 200, 400, 800, 1_000]);
    expect(Math.max(...gaps)).toBe(1_000);
    expect(breaker.state).toBe('open'); // never half-open while probing
    healthy.value = true;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(breaker.state).toBe('closed');
    expect(closes).toEqual([{ name: 'circuit', from: 'open' }]);
    const probesSoFar = calls.length;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls.length).toBe(probesSoFar); // no probing while closed
  });

  it('rejects calls while open, with retryAfterMs counting down to the next probe', async () => {
    const { probe } = controllableProbe();
    const breaker = new CircuitBreaker({ failureThreshold: 1, recoveryTimeoutMs: 1_000, probe });
    await trip(breaker);
    await vi.advanceTimersByTimeAsync(40);
    const error = await breaker.execute(() => Promise.resolve(1)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect((error as CircuitOpenError).retryAfterMs).toBe(60);
    // Well past recoveryTimeoutMs the circuit stays open: only a probe closes it.
    await vi.advanceTimersByTimeAsync(30_000);
    expect(breaker.state).toBe('open');
  });

  it('emits a probe event per probe with its outcome and the next delay', async () => {
    const { probe, healthy } = controllableProbe();
    const breaker = new CircuitBreaker({ failureThreshold: 1, recoveryTimeoutMs: 300, probeInitialDelayMs: 50, probe });
    const events: Array<Pick<CircuitBreakerEvents['probe'], 'ok' | 'nextProbeInMs'>> = [];
    breaker.on('probe', ({ ok, nextProbeInMs }) => events.push({ ok, nextProbeInMs }));
    await trip(breaker);
    await vi.advanceTimersByTimeAsync(50 + 100 + 200);
    healthy.value = true;
    await vi.advanceTimersByTimeAsync(300);
    expect(events).toEqual([
      { ok: false, nextProbeInMs: 100 },
      { ok: false, nextProbeInMs: 200 },
      { ok: false, nextProbeInMs: 300 },
      { ok: true, nextProbeInMs: 0 },
    ]);
  });

  it('a probe that finishes after reset() changes nothing, and dispose() stops probing', async () => {
    let release!: () => void;
    const probe = vi.fn(() => new Promise<void>((_, reject) => (release = () => reject(new Error('late')))));
    const breaker = new CircuitBreaker({ failureThreshold: 1, recoveryTimeoutMs: 1_000, probe });
    await trip(breaker);
    await vi.advanceTimersByTimeAsync(100);
    expect(probe).toHaveBeenCalledTimes(1);
    breaker.reset();
    release();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(breaker.state).toBe('closed');
    expect(probe).toHaveBeenCalledTimes(1);

    await trip(breaker);
    breaker.dispose();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(probe).toHaveBeenCalledTimes(1);
    expect(breaker.state).toBe('open');
  });

  it('rejects a probe with recoveryTimeoutMs 0 (it caps the delay between probes)', () => {
    expect(() => new CircuitBreaker({ recoveryTimeoutMs: 0, probe: () => Promise.resolve() })).toThrow(RangeError);
  });

  it('restoring an open snapshot resumes probing', async () => {
    const { probe, healthy } = controllableProbe();
    const breaker = new CircuitBreaker({ failureThreshold: 1, recoveryTimeoutMs: 1_000, probe });
    breaker.restore({ name: 'circuit', state: 'half-open', failures: 1, successes: 0, rejected: 0, openedAt: Date.now(), recentFailureTimes: [], halfOpenSuccesses: 0 });
    expect(breaker.state).toBe('open');
    healthy.value = true;
    await vi.advanceTimersByTimeAsync(100);
    expect(breaker.state).toBe('closed');
  });
});
