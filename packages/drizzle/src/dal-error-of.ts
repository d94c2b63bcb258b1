import { DalError } from '@dal/core';

/** How deep to follow `cause` links: drizzle wraps once; a cycle must not loop forever. */
const MAX_CAUSE_DEPTH = 8;

/**
 * The @dal error behind an error drizzle threw, or undefined. drizzle wraps every failed query in
 * its `DrizzleQueryError` ("Failed query: ...") with the driver's error as `cause`; through these
 * proxies that cause is @dal's typed error (`QueryTimeoutError`, `PoolTimeoutError`, ...).
 *
 * ```ts
 * try { await orm.select().from(users); }
 * catch (e) { if (dalErrorOf(e) instanceof PoolTimeoutError) shedLoad(); else throw e; }
 * ```
 */
export function dalErrorOf(error: unknown): DalError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth <= MAX_CAUSE_DEPTH && current !== null && typeof current === 'object'; depth++) {
    if (DalError.isInstance(current)) return current as DalError;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
