import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CircuitOpenError, circuitBreaker, compose, retryWithBackoff, TimeoutError, trackSlow, withTimeout } from '../src/index.js';
import { settle, TransientError } from './helpers.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('compose', () => {
  it('applies the first policy outermost', async () => {
    const order: string[] = [];
    const tag = (label: string) => <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        order.push(`${label}>`);
        try {
          return await fn(...args);
        } finally {
          order.push(`<${label}`);
        }
      };
    const run = compose(tag('a'), tag('b'), tag('c'))(async (x: number) => {
      order.push('fn');
      return x + 1;
    });
    expect(await run(1)).toBe(2);
    expect(order).toEqual(['a>', 'b>', 'c>', 'fn', '<c', '<b', '<a']);
    expect(await compose()(async () => 'same')()).toBe('same');
  });

  it('retry outside a breaker stops once the breaker opens', async () => {
    const fn = vi.fn((_s: AbortSignal) => Promise.reject(new TransientError('down')));
    const breaker = circuitBreaker({ failureThreshold: 2 });
    const run = compose(retryWithBackoff({ maxRetries: 5, baseDelayMs: 10, jitter: 'none' }), breaker)(withTimeout({ timeoutMs: 100 })(fn));
    const result = settle(run());
    await vi.advanceTimersByTimeAsync(1_000);
    // CircuitOpenError is not retryable, so the third attempt ends the retries.
    expect(result.error).toBeInstanceOf(CircuitOpenError);
    expect(fn).toHaveBeenCalledTimes(2);
    expect(breaker.breaker.rejected).toBe(1);
  });

  it('gives each retry attempt its own deadline when the timeout is innermost', async () => {
    let calls = 0;
    const signals: AbortSignal[] = [];
    const slowCalls: number[] = [];
    const run = compose(
      retryWithBackoff({ maxRetries: 2, baseDelayMs: 10, jitter: 'none' }),
      trackSlow({ thresholdMs: 150, onSlow: (i) => slowCalls.push(i.durationMs) }),
    )(
      withTimeout({ timeoutMs: 100, retryable: true })((signal: AbortSignal) => {
        signals.push(signal);
        calls++;
        return calls === 1 ? new Promise<string>(() => undefined) : Promise.resolve('second try');
      }),
    );
    const result = settle(run());
    await vi.advanceTimersByTimeAsync(100);
    expect(signals[0]?.reason).toBeInstanceOf(TimeoutError);
    await vi.advanceTimersByTimeAsync(10);
    expect(result.value).toBe('second try');
    expect(signals).toHaveLength(2);
    expect(signals[1]?.aborted).toBe(false);
    expect(slowCalls).toEqual([]);
  });
});
