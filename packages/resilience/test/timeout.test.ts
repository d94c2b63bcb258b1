import { afterEach, beforeEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { AbortedError, runWithTimeout, TimeoutError, withTimeout } from '../src/index.js';
import { settle } from './helpers.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('withTimeout', () => {
  it('rejects with TimeoutError at the deadline and aborts the signal, even if fn ignores it', async () => {
    let seen: AbortSignal | undefined;
    const bounded = withTimeout({ timeoutMs: 1_000, name: 'getUser' })((_id: string, signal: AbortSignal) => {
      seen = signal;
      return new Promise<string>(() => undefined);
    });
    const result = settle(bounded('42'));
    await vi.advanceTimersByTimeAsync(999);
    expect(result.done).toBe(false);
    expect(seen?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(result.done).toBe(true);
    expect(result.error).toBeInstanceOf(TimeoutError);
    expect((result.error as TimeoutError).timeoutMs).toBe(1_000);
    expect((result.error as TimeoutError).message).toBe('getUser timed out after 1000 ms');
    expect((result.error as TimeoutError).retryable).toBe(false);
    expect(seen?.aborted).toBe(true);
    expect(seen?.reason).toBe(result.error);
  });

  it('passes the arguments followed by the signal and returns the result, clearing the timer', async () => {
    const fn = vi.fn(async (a: number, b: string, signal: AbortSignal) => `${a}${b}${signal.aborted}`);
    const bounded = withTimeout({ timeoutMs: 500 })(fn);
    await expect(bounded(1, 'x')).resolves.toBe('1xfalse');
    expect(fn.mock.calls[0]?.[2]).toBeInstanceOf(AbortSignal);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('passes fn errors through and clears the timer', async () => {
    const error = new Error('own');
    await expect(withTimeout({ timeoutMs: 500 })(async (_s: AbortSignal) => { throw error; })()).rejects.toBe(error);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('ignores a late settlement after the deadline', async () => {
    const bounded = withTimeout({ timeoutMs: 100 })(
      (_s: AbortSignal) => new Promise<never>((_r, reject) => setTimeout(() => reject(new Error('late')), 200)),
    );
    const result = settle(bounded());
    await vi.advanceTimersByTimeAsync(300);
    expect(result.error).toBeInstanceOf(TimeoutError);
  });

  it('marks the TimeoutError retryable on request', async () => {
    const result = settle(withTimeout({ timeoutMs: 10, retryable: true })((_s: AbortSignal) => new Promise(() => undefined))());
    await vi.advanceTimersByTimeAsync(10);
    expect((result.error as TimeoutError).retryable).toBe(true);
  });

  it("rejects with AbortedError when the caller's signal aborts first", async () => {
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    const bounded = withTimeout({ timeoutMs: 1_000, signal: controller.signal })((signal: AbortSignal) => {
      seen = signal;
      return new Promise<never>(() => undefined);
    });
    const result = settle(bounded());
    await vi.advanceTimersByTimeAsync(100);
    controller.abort('stop');
    await vi.advanceTimersByTimeAsync(0);
    expect(result.error).toBeInstanceOf(AbortedError);
    expect((result.error as AbortedError).reason).toBe('stop');
    expect(seen?.aborted).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not call fn when the signal is already aborted', async () => {
    const fn = vi.fn(async (_s: AbortSignal) => 1);
    await expect(withTimeout({ timeoutMs: 10, signal: AbortSignal.abort() })(fn)()).rejects.toBeInstanceOf(AbortedError);
    expect(fn).not.toHaveBeenCalled();
  });

  it('turns a synchronous throw into a rejection', async () => {
    const error = new Error('sync');
    await expect(runWithTimeout(() => { throw error; }, { timeoutMs: 10 })).rejects.toBe(error);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('arms no timer for an unbounded budget', async () => {
    const result = settle(runWithTimeout(() => new Promise(() => undefined), { timeoutMs: Infinity }));
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(2 ** 31);
    expect(result.done).toBe(false);
  });

  it('infers the outer signature without the signal', () => {
    const bounded = withTimeout({ timeoutMs: 1 })((id: string, n: number, signal: AbortSignal) => Promise.resolve(signal.aborted ? id : n));
    expectTypeOf(bounded).toEqualTypeOf<(id: string, n: number) => Promise<string | number>>();
  });

  it('validates timeoutMs', () => {
    expect(() => withTimeout({ timeoutMs: 0 })).toThrow(RangeError);
    expect(() => withTimeout({ timeoutMs: Number.NaN })).toThrow(RangeError);
  });
});
