import { Database, type DatabaseConfig, type DatabaseOptions } from '@dal/core';
import { createSqliteDriver } from './sqlite-driver.js';

/**
 * A SQLite database without the factory: `new SqliteDatabase(config)`.
 *
 * ```ts
 * const db = new SqliteDatabase(new DatabaseConfig({ database: 'app.db' }));
 * ```
 */
export class SqliteDatabase extends Database {
  constructor(config: DatabaseConfig, options?: DatabaseOptions) {
    super(config, createSqliteDriver(config.driverOptions), options);
  }
}
