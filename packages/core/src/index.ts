export { DalError, TimeoutError, AbortedError, CircuitOpenError } from '@dal/resilience';
export type { DalErrorCode, DalErrorOptions } from '@dal/resilience';
export * from './errors/errors.js';
export { DatabaseConfig } from './config/database-config.js';
export type { DatabaseConfigOptions, BackendName } from './config/database-config.js';
export type * from './driver/driver.js';
