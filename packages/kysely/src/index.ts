export { DalDialect } from './dal-dialect.js';
export type { DalDialectConfig } from './dal-dialect.js';
export { DalDriver, DalKyselyConnection } from './dal-driver.js';
export type { AbortableOptions } from './dal-driver.js';
