import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AbortedError, backoffDelay, isRetryable, retryWithBackoff, TimeoutError } from '../src/index.js';
import { settle, TransientError } from './helpers.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('backoffDelay', () => {
  it('doubles from baseDelayMs and caps at maxDelayMs', () => {
    const none = { baseDelayMs: 100, maxDelayMs: 1_000, jitter: 'none' as const };
    expect([0, 1, 2, 3, 4, 10].map((i) => backoffDelay(i, none))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it('applies equal jitter (half fixed) and full jitter (all random)', () => {
    const base = { baseDelayMs: 100, maxDelayMs: 1_000 };
    expect(backoffDelay(2, { ...base, jitter: 'equal', random: () => 0 })).toBe(200);
    expect(backoffDelay(2, { ...base, jitter: 'equal', random: () => 0.999999 })).toBe(400);
    expect(backoffDelay(2, { ...base, jitter: 'full', random: () => 0 })).toBe(0);
    expect(backoffDelay(2, { ...base, jitter: 'full', random: () => 0.25 })).toBe(100);
    // Default jitter is equal.
    expect(backoffDelay(1, { ...base, random: () => 0.5 })).toBe(150);
  });
});

describe('retryWithBackoff', () => {
  it('waits growing, capped delays between attempts', async () => {
    const delays: number[] = [];
    const fn = vi.fn(() => Promise.reject(new TransientError('down')));
    const retried = retryWithBackoff({
      maxRetries: 5, baseDelayMs: 100, maxDelayMs: 500, totalTimeoutMs: Infinity,
      random: () => 0.5, onRetry: (_e, _a, delayMs) => delays.push(delayMs),
    })(fn);
    const result = settle(retried());
    await vi.advanceTimersByTimeAsync(0);
    const expected = [75, 150, 300, 375, 375]; // 0.75 * min(500, 100 * 2^n)
    for (const [i, delay] of expected.entries()) {
      expect(fn).toHaveBeenCalledTimes(i + 1);
      await vi.advanceTimersByTimeAsync(delay - 1);
      expect(fn).toHaveBeenCalledTimes(i + 1);
      await vi.advanceTimersByTimeAsync(1);
    }
    expect(fn).toHaveBeenCalledTimes(6);
    expect(delays).toEqual(expected);
    expect(result.done).toBe(true);
    expect(result.error).toBeInstanceOf(TransientError);
  });

  it('returns the first successful result', async () => {
    let calls = 0;
    const retried = retryWithBackoff({ baseDelayMs: 10, jitter: 'none' })(async (x: number) => {
      calls++;
      if (calls < 3) throw new TransientError('flaky');
      return x * 2;
    });
    const result = settle(retried(21));
    await vi.advanceTimersByTimeAsync(10 + 20);
    expect(result).toMatchObject({ done: true, value: 42 });
    expect(calls).toBe(3);
  });

  it('rethrows the last error unchanged after maxRetries', async () => {
    const errors = [new TransientError('1'), new TransientError('2'), new TransientError('3')];
    let i = 0;
    const onGiveUp = vi.fn();
    const retried = retryWithBackoff({ maxRetries: 2, baseDelayMs: 10, jitter: 'none', onGiveUp })(() => Promise.reject(errors[i++]));
    const result = settle(retried());
    await vi.advanceTimersByTimeAsync(1_000);
    expect(i).toBe(3);
    expect(result.error).toBe(errors[2]);
    expect(onGiveUp).toHaveBeenCalledWith(errors[2], 3);
  });

  it('stops when the next sleep would pass totalTimeoutMs', async () => {
    const fn = vi.fn(() => Promise.reject(new TransientError('down')));
    const onRetry = vi.fn();
    const onGiveUp = vi.fn();
    const retried = retryWithBackoff({ maxRetries: 10, baseDelayMs: 1_000, jitter: 'none', totalTimeoutMs: 2_500, onRetry, onGiveUp })(fn);
    const result = settle(retried());
    await vi.advanceTimersByTimeAsync(0);
    expect(onRetry).toHaveBeenCalledWith(expect.any(TransientError), 1, 1_000);
    await vi.advanceTimersByTimeAsync(1_000);
    // t = 1 000, the next delay is 2 000: 1 000 + 2 000 > 2 500, so it gives up now.
    expect(result.done).toBe(true);
    expect(fn).toHaveBeenCalledTimes(2);
    expect(onRetry).toHaveBeenCalledTimes(1);
    expect(onGiveUp).toHaveBeenCalledWith(result.error, 2);
  });

  it('counts the time attempts take against totalTimeoutMs', async () => {
    const fn = vi.fn(() => new Promise<never>((_r, reject) => setTimeout(() => reject(new TransientError('slow')), 900)));
    const retried = retryWithBackoff({ maxRetries: 10, baseDelayMs: 100, jitter: 'none', totalTimeoutMs: 1_000 })(fn);
    const result = settle(retried());
    await vi.advanceTimersByTimeAsync(900); // 900 + 100 <= 1 000: one retry
    expect(fn).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(100 + 900); // 1 900 + 200 > 1 000
    expect(fn).toHaveBeenCalledTimes(2);
    expect(result.done).toBe(true);
  });

  it('does not retry errors that are not retryable by default', async () => {
    const fn = vi.fn(() => Promise.reject(new Error('syntax')));
    const result = settle(retryWithBackoff()(fn)());
    await vi.advanceTimersByTimeAsync(60_000);
    expect(fn).toHaveBeenCalledTimes(1);
    expect((result.error as Error).message).toBe('syntax');
    expect(isRetryable(new TransientError('x'))).toBe(true);
    expect(isRetryable(new TimeoutError('t', 1))).toBe(false);
    expect(isRetryable({ retryable: 'yes' })).toBe(false);
  });

  it('uses retryOn with the error and the retry number', async () => {
    const retryOn = vi.fn((e: unknown, attempt: number) => (e as Error).message === 'again' && attempt < 3);
    const fn = vi.fn(() => Promise.reject(new Error('again')));
    const result = settle(retryWithBackoff({ maxRetries: 10, baseDelayMs: 1, retryOn })(fn)());
    await vi.advanceTimersByTimeAsync(1_000);
    expect(fn).toHaveBeenCalledTimes(3);
    expect(retryOn.mock.calls.map((c) => c[1])).toEqual([1, 2, 3]);
    expect(result.done).toBe(true);
  });

  it('rejects at once with AbortedError when the signal option aborts during a sleep', async () => {
    const controller = new AbortController();
    const fn = vi.fn(() => Promise.reject(new TransientError('down')));
    const result = settle(retryWithBackoff({ baseDelayMs: 10_000, jitter: 'none', signal: controller.signal })(fn)());
    await vi.advanceTimersByTimeAsync(50);
    expect(result.done).toBe(false);
    controller.abort('user left');
    await vi.advanceTimersByTimeAsync(0);
    expect(result.done).toBe(true);
    expect(result.error).toBeInstanceOf(AbortedError);
    expect((result.error as AbortedError).reason).toBe('user left');
    expect(fn).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('honours an AbortSignal passed as the last argument', async () => {
    const controller = new AbortController();
    const fn = vi.fn((_id: string, _signal: AbortSignal) => Promise.reject(new TransientError('down')));
    const result = settle(retryWithBackoff({ baseDelayMs: 1_000, jitter: 'none' })(fn)('a', controller.signal));
    await vi.advanceTimersByTimeAsync(10);
    controller.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(result.error).toBeInstanceOf(AbortedError);
    expect(fn).toHaveBeenCalledWith('a', controller.signal);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('removes its abort listeners once a sleep ends', async () => {
    const controller = new AbortController();
    let calls = 0;
    const retried = retryWithBackoff({ baseDelayMs: 10, jitter: 'none', signal: controller.signal })(async () => {
      if (++calls < 3) throw new TransientError('flaky');
      return 'done';
    });
    const result = settle(retried());
    await vi.advanceTimersByTimeAsync(30);
    expect(result.value).toBe('done');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('never calls fn when the signal is already aborted', async () => {
    const fn = vi.fn(() => Promise.resolve(1));
    await expect(retryWithBackoff({ signal: AbortSignal.abort() })(fn)()).rejects.toBeInstanceOf(AbortedError);
    expect(fn).not.toHaveBeenCalled();
  });

  it('does not retry an attempt that failed after an abort, and keeps the error as cause', async () => {
    const controller = new AbortController();
    const cause = new TransientError('connection reset');
    const fn = vi.fn(async () => {
      controller.abort();
      throw cause;
    });
    const error = await retryWithBackoff({ signal: controller.signal })(fn)().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortedError);
    expect((error as AbortedError).cause).toBe(cause);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('passes this and arguments through', async () => {
    const target = { base: 10, async add(this: { base: number }, n: number) { return this.base + n; } };
    expect(await retryWithBackoff()(target.add).call(target, 5)).toBe(15);
  });

  it('validates its options', () => {
    expect(() => retryWithBackoff({ maxRetries: -1 })).toThrow(RangeError);
    expect(() => retryWithBackoff({ maxRetries: 1.5 })).toThrow(RangeError);
    expect(() => retryWithBackoff({ baseDelayMs: Number.NaN })).toThrow(RangeError);
    expect(() => retryWithBackoff({ jitter: 'wild' as 'full' })).toThrow(RangeError);
  });
});
