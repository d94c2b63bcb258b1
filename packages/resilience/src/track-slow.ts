import type { Policy } from './compose.js';
import { reportListenerError } from './report-error.js';

/** What {@link trackSlow} reports about a slow call. */
export interface SlowCallInfo {
  /** The `name` option, when given. */
  name?: string;
  /** Measured with `performance.now()`. */
  durationMs: number;
  thresholdMs: number;
  outcome: 'success' | 'failure';
  /** The error of a failed call (the same one the caller receives). */
  error?: unknown;
  /** The call's arguments, only with `includeArgs: true`. */
  args?: readonly unknown[];
}

/** Settings of {@link trackSlow}; every field is optional. */
export interface TrackSlowOptions {
  /** Calls lasting longer than this are reported. Default 2 000. */
  thresholdMs?: number;
  /** Names the call in reports. */
  name?: string;
  /** Put the arguments in reports. Default false, so no parameter values leak into logs. */
  includeArgs?: boolean;
  /** Receives each report. Default: one `console.warn` line. */
  onSlow?: (info: SlowCallInfo) => void;
}

function defaultOnSlow(info: SlowCallInfo): void {
  const what = info.name === undefined ? 'Slow call' : `Slow call "${info.name}"`;
  const line = `[@dal/resilience] ${what} ${info.outcome === 'failure' ? 'failed after' : 'took'} ${Math.round(info.durationMs)} ms (threshold ${info.thresholdMs} ms)`;
  if (info.args === undefined) console.warn(line);
  else console.warn(line, info.args);
}

/**
 * Measures each call and reports those lasting longer than `thresholdMs`, successes and
 * failures alike. The result or error passes through unchanged; a throwing `onSlow` is logged
 * and ignored.
 *
 * ```ts
 * const query = trackSlow({ thresholdMs: 500, name: 'report', onSlow: (i) => log.warn(i) })(runReport);
 * ```
 * @throws {RangeError} when `thresholdMs` is negative.
 */
export function trackSlow(options: TrackSlowOptions = {}): Policy {
  const thresholdMs = options.thresholdMs ?? 2_000;
  if (typeof thresholdMs !== 'number' || Number.isNaN(thresholdMs) || thresholdMs < 0) {
    throw new RangeError('thresholdMs must be a number >= 0');
  }
  const onSlow = options.onSlow ?? defaultOnSlow;

  const report = (startedAt: number, args: readonly unknown[], failed: boolean, error: unknown): void => {
    const durationMs = performance.now() - startedAt;
    if (durationMs <= thresholdMs) return;
    const info: SlowCallInfo = { durationMs, thresholdMs, outcome: failed ? 'failure' : 'success' };
    if (options.name !== undefined) info.name = options.name;
    if (failed) info.error = error;
    if (options.includeArgs === true) info.args = args;
    try {
      onSlow(info);
    } catch (hookError) {
      reportListenerError('onSlow', hookError);
    }
  };

  return <A extends unknown[], R>(fn: (...args: A) => Promise<R>): ((...args: A) => Promise<R>) =>
    async function (this: unknown, ...args: A): Promise<R> {
      const startedAt = performance.now();
      let result: R;
      try {
        result = await fn.apply(this, args);
      } catch (error) {
        report(startedAt, args, true, error);
        throw error;
      }
      report(startedAt, args, false, undefined);
      return result;
    };
}
