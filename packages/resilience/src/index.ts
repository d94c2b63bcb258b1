export { DalError, TimeoutError, AbortedError, CircuitOpenError } from './errors.js';
export type { DalErrorCode, DalErrorOptions } from './errors.js';
export { CircuitBreaker, circuitBreaker } from './circuit-breaker.js';
export type {
  CircuitBreakerEvents,
  CircuitBreakerOptions,
  CircuitBreakerPolicy,
  CircuitBreakerSnapshot,
  CircuitState,
  GuardedFunction,
} from './circuit-breaker.js';
export { retryWithBackoff, backoffDelay, isRetryable } from './retry.js';
export type { BackoffOptions, JitterMode, RetryOptions } from './retry.js';
export { withTimeout, runWithTimeout } from './timeout.js';
export type { TimeoutOptions, TimeoutPolicy } from './timeout.js';
export { trackSlow } from './track-slow.js';
export type { SlowCallInfo, TrackSlowOptions } from './track-slow.js';
export { compose } from './compose.js';
export type { Policy } from './compose.js';
export { sleep } from './abort.js';
export type { SleepOptions } from './abort.js';
export type { Unsubscribe } from './emitter.js';
