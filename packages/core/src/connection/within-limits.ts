import { AbortedError, type DalError } from '@dal/resilience';
import { QueryTimeoutError } from '../errors/errors.js';

/** Node fires longer timers at once, so anything beyond its limit means "no timeout". */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * A driver's `pending` promise under a statement's timeout and signal: when either fires first,
 * the caller gets `QueryTimeoutError` / `AbortedError` at once and `giveUp(pending)` stops the
 * work on the server. Used by a connection's statements and by each batch of a stream.
 */
export function withinLimits<T>(
  pending: Promise<T>,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  alias: string,
  nativeSql: string,
  giveUp: (pending: Promise<T>) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const finish = (): void => {
      done = true;
      clearTimeout(timer);
      if (onAbort !== undefined) signal!.removeEventListener('abort', onAbort);
    };
    const interrupt = (error: DalError): void => {
      if (done) return;
      finish();
      giveUp(pending);
      reject(error);
    };
    const timer =
      timeoutMs <= MAX_TIMER_MS
        ? setTimeout(() => interrupt(new QueryTimeoutError(`${alias}: statement timed out after ${timeoutMs} ms and was cancelled`, timeoutMs, nativeSql)), timeoutMs)
        : undefined;
    const onAbort = signal === undefined ? undefined : () => interrupt(new AbortedError(`${alias}: statement aborted and cancelled`, signal.reason));
    if (onAbort !== undefined) signal!.addEventListener('abort', onAbort, { once: true });
    pending.then(
      (value) => {
        if (done) return;
        finish();
        resolve(value);
      },
      (error: unknown) => {
        if (done) return;
        finish();
        reject(error);
      },
    );
  });
}
