import { Database, type DatabaseConfig, type DatabaseOptions } from '@dal/core';
import { createPgliteDriver, type PgliteDriverOptions } from './pglite-driver.js';

/**
 * A PGlite database without the factory: `new PgliteDatabase(config)`.
 *
 * ```ts
 * const db = new PgliteDatabase(new DatabaseConfig({ database: ':memory:' }));
 * ```
 */
export class PgliteDatabase extends Database {
  constructor(config: DatabaseConfig, options?: DatabaseOptions) {
    super(config, createPgliteDriver(config.driverOptions as PgliteDriverOptions), options);
  }
}
