/**
 * `@dal/core/testing`: an in-memory driver for tests of pools, connections and code built on
 * core (plugins, repositories, request handlers), with switches for the failures a real server
 * produces. See the README section "Testing your code and your backend".
 */
export { TestDriver, TestConnection } from './test-driver.js';
export type { TestAnswer, TestDriverOptions, TestDriverStats, TestEvent, TestRow, ConnectFailure } from './test-driver.js';
export { TestDriverError, testDialect } from './test-dialect.js';
export type { TestErrorCode } from './test-dialect.js';
