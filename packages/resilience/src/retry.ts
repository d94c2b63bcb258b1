import { abortedErrorFor, firstAborted, sleep } from './abort.js';
import { AbortedError, DalError } from './errors.js';
import type { Policy } from './compose.js';
import { reportListenerError } from './report-error.js';

/** How random spread is added to each backoff delay. */
export type JitterMode = 'equal' | 'full' | 'none';

/** Settings of {@link retryWithBackoff}; every field is optional. */
export interface RetryOptions {
  /** Retries after the first attempt. Default 3 (so at most 4 calls). */
  maxRetries?: number;
  /** Delay before the first retry, doubled for each later one. Default 100. */
  baseDelayMs?: number;
  /** Cap on a single delay. Default 10 000. */
  maxDelayMs?: number;
  /** No retry whose sleep would end later than this after the first call. Default 30 000. */
  totalTimeoutMs?: number;
  /** `'equal'` (default): half fixed, half random; `'full'`: random in [0, delay]; `'none'`. */
  jitter?: JitterMode;
  /** Decides whether an error is worth another attempt. Default: {@link isRetryable}. */
  retryOn?: (error: unknown, attempt: number) => boolean;
  /** Source of randomness in [0, 1), for deterministic tests. Default `Math.random`. */
  random?: () => number;
  /** Aborting it stops retrying; a sleep in progress rejects at once. */
  signal?: AbortSignal;
  /** Called before each sleep with the error, the number of the retry to come (1-based) and the delay. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Called once when giving up, with the last error and the number of calls made. */
  onGiveUp?: (error: unknown, attempts: number) => void;
}

/** The backoff part of {@link RetryOptions}, as taken by {@link backoffDelay}. */
export type BackoffOptions = Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs' | 'jitter' | 'random'>;

/**
 * The default retry filter: true when the error carries `retryable === true` (every `DalError`
 * sets it, and other errors may).
 *
 * ```ts
 * isRetryable(new ConnectionError('...')); // true
 * ```
 */
export function isRetryable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { retryable?: unknown }).retryable === true;
}

function checkNumber(name: string, value: number, { integer = false, allowInfinity = false } = {}): number {
  const valid = typeof value === 'number' && value >= 0 && (allowInfinity ? !Number.isNaN(value) : Number.isFinite(value));
  if (!valid || (integer && !Number.isInteger(value))) {
    throw new RangeError(`${name} must be a${integer ? 'n integer' : ' number'} >= 0`);
  }
  return value;
}

/**
 * The delay before retry number `retryIndex + 1`: `baseDelayMs * 2^retryIndex`, capped at
 * `maxDelayMs`, then jittered, rounded to whole milliseconds.
 *
 * ```ts
 * backoffDelay(2, { baseDelayMs: 100, jitter: 'none' }); // 400
 * ```
 */
export function backoffDelay(retryIndex: number, options: BackoffOptions = {}): number {
  const base = options.baseDelayMs ?? 100;
  const cap = options.maxDelayMs ?? 10_000;
  const exponential = Math.min(cap, base * 2 ** retryIndex);
  const r = Math.min(1, Math.max(0, (options.random ?? Math.random)()));
  switch (options.jitter ?? 'equal') {
    case 'none':
      return Math.round(exponential);
    case 'full':
      return Math.round(exponential * r);
    case 'equal':
      return Math.round(exponential / 2 + (exponential / 2) * r);
  }
}

/**
 * Retries a failing async function with exponential backoff and jitter. It stops after
 * `maxRetries` retries, when `retryOn` says no, or when the next sleep would end past
 * `totalTimeoutMs` since the first call, and then rethrows the last error unchanged. The
 * `signal` option and an `AbortSignal` passed as the last argument of a call both stop it.
 * `totalTimeoutMs` does not cut an attempt short: stack `withTimeout` inside for that.
 *
 * ```ts
 * const get = retryWithBackoff({ maxRetries: 3, retryOn: (e) => e instanceof TypeError })(
 *   (url: string) => fetch(url).then((r) => r.json()),
 * );
 * ```
 * @throws {AbortedError} when a signal aborts (the attempt's error, if any, is its `cause`).
 * @throws {RangeError} when an option is out of range.
 */
export function retryWithBackoff(options: RetryOptions = {}): Policy {
  const maxRetries = checkNumber('maxRetries', options.maxRetries ?? 3, { integer: true });
  const backoff: BackoffOptions = {
    baseDelayMs: checkNumber('baseDelayMs', options.baseDelayMs ?? 100),
    maxDelayMs: checkNumber('maxDelayMs', options.maxDelayMs ?? 10_000),
    jitter: options.jitter ?? 'equal',
    random: options.random ?? Math.random,
  };
  if (!['equal', 'full', 'none'].includes(backoff.jitter as string)) throw new RangeError("jitter must be 'equal', 'full' or 'none'");
  const totalTimeoutMs = checkNumber('totalTimeoutMs', options.totalTimeoutMs ?? 30_000, { allowInfinity: true });
  const retryOn = options.retryOn ?? isRetryable;

  const shouldRetry = (error: unknown, attempt: number): boolean => {
    try {
      return retryOn(error, attempt);
    } catch (predicateError) {
      reportListenerError('retryOn', predicateError);
      return false;
    }
  };
  const notify = <P extends unknown[]>(where: string, hook: ((...p: P) => void) | undefined, ...payload: P): void => {
    try {
      hook?.(...payload);
    } catch (hookError) {
      reportListenerError(where, hookError);
    }
  };

  return <A extends unknown[], R>(fn: (...args: A) => Promise<R>): ((...args: A) => Promise<R>) =>
    async function (this: unknown, ...args: A): Promise<R> {
      const signals: AbortSignal[] = [];
      if (options.signal !== undefined) signals.push(options.signal);
      const last = args[args.length - 1];
      if (last instanceof AbortSignal) signals.push(last);
      const startedAt = performance.now();

      for (let retries = 0; ; retries++) {
        const abortedBefore = firstAborted(signals);
        if (abortedBefore !== undefined) throw abortedErrorFor(abortedBefore, 'Retry aborted');
        try {
          return await fn.apply(this, args);
        } catch (error) {
          const aborted = firstAborted(signals);
          if (aborted !== undefined) {
            if (DalError.isInstance(error) && error.code === 'DAL_ABORTED') throw error;
            throw new AbortedError('Retry aborted', aborted.reason, { cause: error });
          }
          if (retries >= maxRetries || !shouldRetry(error, retries + 1)) {
            notify('onGiveUp', options.onGiveUp, error, retries + 1);
            throw error;
          }
          const delayMs = backoffDelay(retries, backoff);
          if (performance.now() - startedAt + delayMs > totalTimeoutMs) {
            notify('onGiveUp', options.onGiveUp, error, retries + 1);
            throw error;
          }
          notify('onRetry', options.onRetry, error, retries + 1, delayMs);
          await sleep(delayMs, { signal: signals });
        }
      }
    };
}
