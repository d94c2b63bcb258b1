export { DalError, TimeoutError, AbortedError, CircuitOpenError } from './errors.js';
export type { DalErrorCode, DalErrorOptions } from './errors.js';
