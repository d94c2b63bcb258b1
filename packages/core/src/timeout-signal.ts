/**
 * An AbortSignal that aborts after `ms` or when `parent` aborts, with an explicit `clear()`.
 *
 * Not `AbortSignal.any([AbortSignal.timeout(ms), parent])`: on Node 20 a garbage collection can
 * free the inner timeout signal, and the combined one then never fires (nodejs/node#57736).
 */
export function timeoutSignal(ms: number, reason: () => unknown, parent?: AbortSignal): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(reason()), ms);
  const onParentAbort = (): void => controller.abort(parent!.reason);
  if (parent !== undefined) {
    if (parent.aborted) controller.abort(parent.reason);
    else parent.addEventListener('abort', onParentAbort, { once: true });
  }
  return {
    signal: controller.signal,
    clear() {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onParentAbort);
    },
  };
}
