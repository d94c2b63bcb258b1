import { AbortedError, DalError } from './errors.js';

/** Options accepted by {@link sleep}. */
export interface SleepOptions {
  /** Aborting it rejects the sleep at once with `AbortedError`. */
  signal?: AbortSignal | readonly AbortSignal[];
}

function toList(signal: AbortSignal | readonly AbortSignal[] | undefined): readonly AbortSignal[] {
  if (signal === undefined) return [];
  return signal instanceof AbortSignal ? [signal] : signal;
}

/**
 * Builds the `AbortedError` for an aborted signal; an `AbortedError` used as the reason is
 * returned as is, so an abort is reported once and not wrapped again and again.
 */
export function abortedErrorFor(signal: AbortSignal, message = 'Operation aborted'): AbortedError {
  const reason: unknown = signal.reason;
  if (DalError.isInstance(reason) && reason.code === 'DAL_ABORTED') return reason as AbortedError;
  return new AbortedError(message, reason);
}

/** Returns the first aborted signal of the list, if any. */
export function firstAborted(signals: readonly AbortSignal[]): AbortSignal | undefined {
  return signals.find((s) => s.aborted);
}

/**
 * Waits `ms` milliseconds with `setTimeout` (so fake timers control it); an abort of any given
 * signal rejects at once.
 *
 * ```ts
 * await sleep(250, { signal: AbortSignal.timeout(1_000) });
 * ```
 * @throws {AbortedError} when a signal aborts before or during the wait.
 */
export function sleep(ms: number, options: SleepOptions = {}): Promise<void> {
  const signals = toList(options.signal);
  const already = firstAborted(signals);
  if (already !== undefined) return Promise.reject(abortedErrorFor(already, 'Sleep aborted'));
  return new Promise<void>((resolve, reject) => {
    const onAbort = (event: Event): void => {
      cleanup();
      reject(abortedErrorFor(event.target as AbortSignal, 'Sleep aborted'));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      for (const s of signals) s.removeEventListener('abort', onAbort);
    };
    const timer = setTimeout(() => {
      cleanup();
      resolve();
    }, Math.max(0, ms));
    for (const s of signals) s.addEventListener('abort', onAbort, { once: true });
  });
}
