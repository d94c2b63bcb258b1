/** A wrapper that keeps the signature of the function it wraps. */
export type Policy = <A extends unknown[], R>(fn: (...args: A) => Promise<R>) => (...args: A) => Promise<R>;

/**
 * Stacks policies: the first one listed is the outermost. The usual order is retry outside,
 * then the breaker (so each retry is seen and may be refused), then the timeout innermost (so
 * each attempt gets its own deadline). `withTimeout` changes the signature (it appends a
 * signal), so apply it to the function first.
 *
 * ```ts
 * const run = compose(retryWithBackoff(), circuitBreaker({ name: 'api' }), trackSlow())(
 *   withTimeout({ timeoutMs: 2_000 })((url: string, signal: AbortSignal) => fetch(url, { signal })),
 * );
 * ```
 */
export function compose(...policies: Policy[]): Policy {
  return <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    policies.reduceRight<(...args: A) => Promise<R>>((inner, policy) => policy(inner), fn);
}
