/**
 * Reports an error thrown by a user-supplied listener or hook. Observers must never change
 * the outcome of the call they observe, so the error is logged instead of rethrown.
 */
export function reportListenerError(where: string, error: unknown): void {
  console.error(`[@dal/resilience] ${where} threw; the error was ignored`, error);
}
