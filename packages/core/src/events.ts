/**
 * A process-wide stream of pool events, for exporters that need every observation (an
 * OpenTelemetry histogram, a tracer). Nothing is allocated for it while nobody listens.
 *
 * ```ts
 * const off = onDalEvent((e) => { if (e.type === 'query') histogram.record(e.durationMs / 1000, { op: e.operation }); });
 * ```
 */
export type DalEvent =
  | { type: 'acquire'; alias: string; hash: string; waitMs: number }
  | { type: 'acquire-timeout'; alias: string; hash: string; waitMs: number }
  | { type: 'release'; alias: string; hash: string; useMs: number }
  | { type: 'query'; alias: string; hash: string; durationMs: number; operation: string; errorCode: string | undefined }
  | { type: 'circuit'; alias: string; hash: string; state: 'closed' | 'open' | 'half-open' }
  | { type: 'leak'; alias: string; hash: string; heldForMs: number; stack: string }
  /**
   * A statement at or above `slowQueryThresholdMs` (also logged). `sql` is the native SQL with its
   * placeholders; parameter values are never part of the event. `at` is `Date.now()` when recorded.
   */
  | {
      type: 'slow-query';
      alias: string;
      hash: string;
      durationMs: number;
      sql: string;
      parameterCount: number;
      tags: Readonly<Record<string, unknown>> | undefined;
      errorCode: string | undefined;
      at: number;
    };

export type DalEventListener = (event: DalEvent) => void;

/** @internal Listeners, read on the hot path only through `length`. */
export const eventListeners: DalEventListener[] = [];

/** Subscribe to every pool's events; returns the unsubscribe function. A throwing listener is ignored. */
export function onDalEvent(listener: DalEventListener): () => void {
  eventListeners.push(listener);
  return () => {
    const index = eventListeners.indexOf(listener);
    if (index >= 0) eventListeners.splice(index, 1);
  };
}

/** @internal */
export function emitDalEvent(event: DalEvent): void {
  for (const listener of eventListeners) {
    try {
      listener(event);
    } catch {
      // An exporter's bug must not break a query.
    }
  }
}
