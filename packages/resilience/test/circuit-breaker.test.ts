import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CircuitBreaker, CircuitOpenError, circuitBreaker, type CircuitBreakerEvents } from '../src/index.js';
import { deferred } from './helpers.js';

const boom = (): Promise<never> => Promise.reject(new Error('down'));
const ok = (): Promise<string> => Promise.resolve('ok');

async function fail(breaker: CircuitBreaker, error: unknown = new Error('down')): Promise<unknown> {
  return breaker.execute(() => Promise.reject(error)).catch((e: unknown) => e);
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('CircuitBreaker: closed -> open', () => {
  it('opens when the failures inside the window reach the threshold', async () => {
    const breaker = new CircuitBreaker({ name: 'db', failureThreshold: 3, windowSizeMs: 10_000 });
    expect(breaker.state).toBe('closed');
    await fail(breaker);
    expect([breaker.state, breaker.failuresInWindow, breaker.failures]).toEqual(['closed', 1, 1]);
    await vi.advanceTimersByTimeAsync(1_000);
    await fail(breaker);
    expect([breaker.state, breaker.failuresInWindow]).toEqual(['closed', 2]);
    await vi.advanceTimersByTimeAsync(1_000);
    await fail(breaker);
    expect(breaker.state).toBe('open');
    expect(breaker.openedAt).toBe(Date.now());
    expect(breaker.failures).toBe(3);
  });

  it('does not open when older failures have left the window', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3, windowSizeMs: 10_000 });
    await fail(breaker); // t = 0
    await vi.advanceTimersByTimeAsync(1_000);
    await fail(breaker); // t = 1 000
    await vi.advanceTimersByTimeAsync(9_500); // t = 10 500: the first failure is out
    expect(breaker.failuresInWindow).toBe(1);
    await fail(breaker);
    expect([breaker.state, breaker.failuresInWindow]).toEqual(['closed', 2]);
    await fail(breaker); // three inside the window now
    expect(breaker.state).toBe('open');
  });

  it('drops a failure exactly windowSizeMs after it happened', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 5, windowSizeMs: 10_000 });
    await fail(breaker);
    await vi.advanceTimersByTimeAsync(9_999);
    expect(breaker.failuresInWindow).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(breaker.failuresInWindow).toBe(0);
  });

  it('does not reset the window on success', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 2 });
    await fail(breaker);
    await expect(breaker.execute(ok)).resolves.toBe('ok');
    expect([breaker.state, breaker.successes, breaker.failuresInWindow]).toEqual(['closed', 1, 1]);
    await fail(breaker);
    expect(breaker.state).toBe('open');
  });

  it('passes results and errors through unchanged', async () => {
    const breaker = new CircuitBreaker();
    const error = new Error('exact');
    await expect(breaker.execute(() => Promise.reject(error))).rejects.toBe(error);
    await expect(breaker.execute(() => 42)).resolves.toBe(42);
    const thrown = new Error('sync');
    await expect(breaker.execute(() => { throw thrown; })).rejects.toBe(thrown);
    expect(breaker.failures).toBe(2);
  });
});

describe('CircuitBreaker: open', () => {
  it('rejects at once with CircuitOpenError carrying retryAfterMs, without calling fn', async () => {
    const breaker = new CircuitBreaker({ name: 'db', failureThreshold: 1, recoveryTimeoutMs: 30_000 });
    await fail(breaker);
    await vi.advanceTimersByTimeAsync(10_000);
    const fn = vi.fn(ok);
    const error = await breaker.execute(fn).catch((e: unknown) => e);
    expect(fn).not.toHaveBeenCalled();
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect((error as CircuitOpenError).retryAfterMs).toBe(20_000);
    expect((error as CircuitOpenError).breakerName).toBe('db');
    expect((error as CircuitOpenError).message).toContain('"db"');
    expect([breaker.rejected, breaker.retryAfterMs, breaker.state]).toEqual([1, 20_000, 'open']);
  });

  it('turns half-open exactly when the recovery timeout has passed', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, recoveryTimeoutMs: 5_000 });
    await fail(breaker);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(breaker.state).toBe('open');
    await vi.advanceTimersByTimeAsync(1);
    expect(breaker.state).toBe('half-open');
    expect(breaker.retryAfterMs).toBe(0);
  });
});

describe('CircuitBreaker: half-open', () => {
  async function halfOpen(options: ConstructorParameters<typeof CircuitBreaker>[0] = {}): Promise<CircuitBreaker> {
    const breaker = new CircuitBreaker({ failureThreshold: 1, recoveryTimeoutMs: 1_000, halfOpenMaxCalls: 2, ...options });
    await fail(breaker);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(breaker.state).toBe('half-open');
    return breaker;
  }

  it('lets at most halfOpenMaxCalls trials run at once and rejects the rest', async () => {
    const breaker = await halfOpen();
    const first = deferred<string>();
    const second = deferred<string>();
    const p1 = breaker.execute(() => first.promise);
    const p2 = breaker.execute(() => second.promise);
    expect(breaker.halfOpenInFlight).toBe(2);
    const fn = vi.fn(ok);
    const rejected = await breaker.execute(fn).catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(CircuitOpenError);
    expect((rejected as CircuitOpenError).message).toContain('half-open');
    expect(fn).not.toHaveBeenCalled();
    expect(breaker.rejected).toBe(1);
    first.resolve('a');
    await expect(p1).resolves.toBe('a');
    // First success closes (successThreshold 1); the other trial's result no longer moves the state.
    expect([breaker.state, breaker.halfOpenInFlight]).toEqual(['closed', 0]);
    second.reject(new Error('late'));
    await expect(p2).rejects.toThrow('late');
    expect([breaker.state, breaker.failuresInWindow, breaker.failures]).toEqual(['closed', 0, 2]);
  });

  it('frees a trial slot when a trial settles', async () => {
    const breaker = await halfOpen({ halfOpenMaxCalls: 1, successThreshold: 2 });
    const first = deferred<string>();
    const p1 = breaker.execute(() => first.promise);
    await expect(breaker.execute(ok)).rejects.toBeInstanceOf(CircuitOpenError);
    first.resolve('a');
    await p1;
    expect([breaker.state, breaker.halfOpenInFlight]).toEqual(['half-open', 0]);
    await expect(breaker.execute(ok)).resolves.toBe('ok');
    expect(breaker.state).toBe('closed');
  });

  it('re-opens on a trial failure and restarts the recovery timeout', async () => {
    const breaker = await halfOpen({ successThreshold: 3 });
    await breaker.execute(ok);
    expect(breaker.state).toBe('half-open');
    await fail(breaker);
    expect(breaker.state).toBe('open');
    expect(breaker.openedAt).toBe(Date.now());
    expect(breaker.retryAfterMs).toBe(1_000);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(breaker.state).toBe('half-open');
    // The earlier trial success does not carry over into the new half-open period.
    await breaker.execute(ok);
    await breaker.execute(ok);
    expect(breaker.state).toBe('half-open');
    await breaker.execute(ok);
    expect(breaker.state).toBe('closed');
  });

  it('ignores outcomes of calls admitted before the circuit opened', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, recoveryTimeoutMs: 1_000 });
    const slow = deferred<string>();
    const pending = breaker.execute(() => slow.promise);
    await fail(breaker);
    expect(breaker.state).toBe('open');
    slow.resolve('late');
    await expect(pending).resolves.toBe('late');
    expect([breaker.state, breaker.successes]).toEqual(['open', 1]);
  });
});

describe('CircuitBreaker: isFailure', () => {
  it('does not count excluded errors and still passes them through', async () => {
    class SyntaxErr extends Error {}
    const breaker = new CircuitBreaker({ failureThreshold: 2, isFailure: (e) => !(e instanceof SyntaxErr) });
    const syntax = new SyntaxErr('bad sql');
    for (let i = 0; i < 5; i++) expect(await fail(breaker, syntax)).toBe(syntax);
    expect([breaker.state, breaker.failures, breaker.successes]).toEqual(['closed', 0, 5]);
    await fail(breaker);
    await fail(breaker);
    expect(breaker.state).toBe('open');
  });

  it('counts an excluded error as a successful trial while half-open', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, recoveryTimeoutMs: 10, isFailure: (e) => (e as Error).message !== 'user' });
    await fail(breaker);
    await vi.advanceTimersByTimeAsync(10);
    await fail(breaker, new Error('user'));
    expect(breaker.state).toBe('closed');
  });
});

describe('CircuitBreaker: events', () => {
  it('fires every event with its payload, in order, and unsubscribes', async () => {
    const breaker = new CircuitBreaker({ name: 'db', failureThreshold: 2, recoveryTimeoutMs: 1_000, halfOpenMaxCalls: 1 });
    const seen: Array<[string, unknown]> = [];
    const events: Array<keyof CircuitBreakerEvents> = ['open', 'close', 'half-open', 'reject', 'success', 'failure'];
    const offs = events.map((event) => breaker.on(event, (payload) => seen.push([event, payload])));
    const start = Date.now();
    const e1 = new Error('one');
    const e2 = new Error('two');
    await breaker.execute(ok);
    await fail(breaker, e1);
    await fail(breaker, e2);
    await breaker.execute(ok).catch(() => undefined);
    await vi.advanceTimersByTimeAsync(1_000);
    const trial = deferred<string>();
    const p = breaker.execute(() => trial.promise);
    await breaker.execute(ok).catch(() => undefined);
    trial.resolve('x');
    await p;
    expect(seen).toEqual([
      ['success', { name: 'db', state: 'closed', durationMs: 0 }],
      ['failure', { name: 'db', state: 'closed', durationMs: 0, error: e1 }],
      ['failure', { name: 'db', state: 'closed', durationMs: 0, error: e2 }],
      ['open', { name: 'db', from: 'closed', openedAt: start, retryAfterMs: 1_000, error: e2 }],
      ['reject', { name: 'db', state: 'open', retryAfterMs: 1_000 }],
      ['half-open', { name: 'db', openedAt: start }],
      ['reject', { name: 'db', state: 'half-open', retryAfterMs: 0 }],
      ['success', { name: 'db', state: 'half-open', durationMs: 0 }],
      ['close', { name: 'db', from: 'half-open' }],
    ]);
    for (const off of offs) off();
    await fail(breaker);
    expect(seen).toHaveLength(9);
  });

  it('reports durationMs measured over the call', async () => {
    const breaker = new CircuitBreaker();
    const durations: number[] = [];
    breaker.on('success', ({ durationMs }) => durations.push(durationMs));
    const p = breaker.execute(() => new Promise((resolve) => setTimeout(resolve, 250)));
    await vi.advanceTimersByTimeAsync(250);
    await p;
    expect(durations).toEqual([250]);
  });

  it('keeps a throwing listener from breaking the call', async () => {
    const errorLog = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const breaker = new CircuitBreaker();
    breaker.on('success', () => {
      throw new Error('listener bug');
    });
    await expect(breaker.execute(ok)).resolves.toBe('ok');
    expect(errorLog).toHaveBeenCalledTimes(1);
  });

  it('emits close on reset from open', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1 });
    const closes: unknown[] = [];
    breaker.on('close', (p) => closes.push(p));
    await fail(breaker);
    breaker.reset();
    expect([breaker.state, breaker.openedAt, breaker.failuresInWindow]).toEqual(['closed', null, 0]);
    expect(closes).toEqual([{ name: 'circuit', from: 'open' }]);
    breaker.reset();
    expect(closes).toHaveLength(1);
  });
});

describe('CircuitBreaker: toJSON / restore', () => {
  it('round-trips an open breaker through JSON into a new one', async () => {
    const breaker = new CircuitBreaker({ name: 'db', failureThreshold: 2, recoveryTimeoutMs: 5_000 });
    await breaker.execute(ok);
    await fail(breaker);
    await fail(breaker);
    await breaker.execute(ok).catch(() => undefined);
    const snapshot = breaker.toJSON();
    expect(snapshot).toEqual({
      name: 'db', state: 'open', failures: 2, successes: 1, rejected: 1,
      openedAt: Date.now(), recentFailureTimes: [], halfOpenSuccesses: 0,
    });
    const copy = new CircuitBreaker({ name: 'db', failureThreshold: 2, recoveryTimeoutMs: 5_000, initialState: JSON.parse(JSON.stringify(snapshot)) });
    expect([copy.state, copy.failures, copy.successes, copy.rejected]).toEqual(['open', 2, 1, 1]);
    await expect(copy.execute(ok)).rejects.toBeInstanceOf(CircuitOpenError);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(copy.state).toBe('half-open');
  });

  it('keeps the failures still inside the window when closed', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3, windowSizeMs: 10_000 });
    await fail(breaker);
    await vi.advanceTimersByTimeAsync(2_000);
    await fail(breaker);
    const snapshot = breaker.toJSON();
    expect(snapshot.recentFailureTimes).toEqual([Date.now() - 2_000, Date.now()]);
    const copy = new CircuitBreaker({ failureThreshold: 3, windowSizeMs: 10_000 });
    copy.restore(snapshot);
    expect(copy.failuresInWindow).toBe(2);
    await fail(copy);
    expect(copy.state).toBe('open');
  });

  it('rejects a malformed snapshot', () => {
    const breaker = new CircuitBreaker();
    const good = breaker.toJSON();
    expect(() => breaker.restore({ ...good, state: 'broken' as 'open' })).toThrow(TypeError);
    expect(() => breaker.restore({ ...good, failures: -1 })).toThrow(TypeError);
    expect(() => breaker.restore({ ...good, state: 'open', openedAt: null })).toThrow(TypeError);
    expect(() => breaker.restore(null as never)).toThrow(TypeError);
    expect(breaker.state).toBe('closed');
  });
});

describe('circuitBreaker()', () => {
  it('wraps a function, keeps args and this, and exposes the breaker', async () => {
    const target = {
      factor: 3,
      async times(this: { factor: number }, n: number): Promise<number> {
        return n * this.factor;
      },
    };
    const policy = circuitBreaker({ name: 'calc', failureThreshold: 1 });
    const guarded = policy(target.times);
    expect(await guarded.call(target, 2)).toBe(6);
    expect(guarded.breaker).toBe(policy.breaker);
    expect(guarded.breaker.name).toBe('calc');
    expect(guarded.breaker.successes).toBe(1);
  });

  it('shares one breaker between the functions a policy wraps', async () => {
    const policy = circuitBreaker({ failureThreshold: 1 });
    const a = policy(boom);
    const b = policy(ok);
    await a().catch(() => undefined);
    await expect(b()).rejects.toBeInstanceOf(CircuitOpenError);
  });

  it('accepts an existing CircuitBreaker', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1 });
    const guarded = circuitBreaker(breaker)(boom);
    await guarded().catch(() => undefined);
    expect(guarded.breaker).toBe(breaker);
    expect(breaker.state).toBe('open');
  });

  it('validates its options', () => {
    expect(() => new CircuitBreaker({ failureThreshold: 0 })).toThrow(RangeError);
    expect(() => new CircuitBreaker({ halfOpenMaxCalls: 1.5 })).toThrow(RangeError);
    expect(() => new CircuitBreaker({ recoveryTimeoutMs: -1 })).toThrow(RangeError);
    expect(() => new CircuitBreaker({ windowSizeMs: 0 })).toThrow(RangeError);
    expect(() => new CircuitBreaker({ windowSizeMs: Number.NaN })).toThrow(RangeError);
    expect(() => new CircuitBreaker({ windowSizeMs: Infinity })).not.toThrow();
  });
});
