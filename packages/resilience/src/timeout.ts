import { abortedErrorFor } from './abort.js';
import { TimeoutError } from './errors.js';

/** Settings of {@link withTimeout} and {@link runWithTimeout}. */
export interface TimeoutOptions {
  /** The budget of one call; required. `Infinity` (or above ~24.8 days) arms no timer. */
  timeoutMs: number;
  /** Names the operation in the error message. Default `'Operation'`. */
  name?: string;
  /** A caller's signal: its abort aborts the call and rejects with `AbortedError`. */
  signal?: AbortSignal;
  /** Value of `retryable` on the `TimeoutError`. Default false. */
  retryable?: boolean;
}

/** The decorator returned by {@link withTimeout}: the wrapped function gets a trailing signal. */
export type TimeoutPolicy = <A extends unknown[], R>(fn: (...args: [...A, AbortSignal]) => Promise<R>) => (...args: A) => Promise<R>;

// setTimeout fires at once for delays above 2^31 - 1 ms, so longer budgets arm no timer.
const MAX_TIMER_MS = 2 ** 31 - 1;

function checkTimeout(timeoutMs: number): void {
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError('timeoutMs must be a number > 0');
  }
}

/**
 * Runs `fn` with an `AbortSignal` that aborts at the deadline (its reason is the
 * `TimeoutError`) and rejects at the deadline even if `fn` ignores the signal. The timer is
 * cleared as soon as the call settles; a late result of `fn` is discarded.
 *
 * ```ts
 * const res = await runWithTimeout((signal) => fetch(url, { signal }), { timeoutMs: 2_000 });
 * ```
 * @throws {TimeoutError} when the deadline passes first.
 * @throws {AbortedError} when `options.signal` aborts first (or was already aborted).
 * @throws {RangeError} when `timeoutMs` is not > 0.
 */
export function runWithTimeout<R>(fn: (signal: AbortSignal) => R | PromiseLike<R>, options: TimeoutOptions): Promise<R> {
  checkTimeout(options.timeoutMs);
  const outer = options.signal;
  if (outer?.aborted) return Promise.reject(abortedErrorFor(outer));
  const controller = new AbortController();
  return new Promise<R>((resolve, reject) => {
    let settled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (): boolean => {
      if (settled) return false;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
      return true;
    };
    const onAbort = (): void => {
      if (!finish() || outer === undefined) return;
      const error = abortedErrorFor(outer);
      controller.abort(error);
      reject(error);
    };
    if (options.timeoutMs <= MAX_TIMER_MS) {
      timer = setTimeout(() => {
        if (!finish()) return;
        const error = new TimeoutError(`${options.name ?? 'Operation'} timed out after ${options.timeoutMs} ms`, options.timeoutMs, {
          retryable: options.retryable ?? false,
        });
        controller.abort(error);
        reject(error);
      }, options.timeoutMs);
    }
    outer?.addEventListener('abort', onAbort, { once: true });
    let pending: PromiseLike<R>;
    try {
      pending = Promise.resolve(fn(controller.signal));
    } catch (error) {
      if (finish()) reject(error);
      return;
    }
    pending.then(
      (value) => {
        if (finish()) resolve(value);
      },
      (error: unknown) => {
        if (finish()) reject(error);
      },
    );
  });
}

/**
 * Bounds every call of `fn` by `timeoutMs`. The wrapped function receives its arguments
 * followed by an `AbortSignal` that aborts at the deadline; the returned function takes the
 * arguments alone.
 *
 * ```ts
 * const getUser = withTimeout({ timeoutMs: 1_000 })(
 *   (id: string, signal: AbortSignal) => fetch(`/users/${id}`, { signal }).then((r) => r.json()),
 * );
 * await getUser('42');
 * ```
 * @throws {TimeoutError} when a call passes its deadline.
 * @throws {AbortedError} when `options.signal` aborts.
 * @throws {RangeError} when `timeoutMs` is not > 0.
 */
export function withTimeout(options: TimeoutOptions): TimeoutPolicy {
  checkTimeout(options.timeoutMs);
  return <A extends unknown[], R>(fn: (...args: [...A, AbortSignal]) => Promise<R>): ((...args: A) => Promise<R>) =>
    function (this: unknown, ...args: A): Promise<R> {
      return runWithTimeout((signal) => fn.apply(this, [...args, signal]), options);
    };
}
