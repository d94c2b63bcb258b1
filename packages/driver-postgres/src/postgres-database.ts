import { Database, type DatabaseConfig, type DatabaseOptions } from '@dal/core';
import { createPostgresDriver } from './postgres-driver.js';

/**
 * A Postgres database without the factory: `new PostgresDatabase(config)`.
 *
 * ```ts
 * const db = new PostgresDatabase(DatabaseConfig.fromUrl(process.env.DATABASE_URL!));
 * ```
 */
export class PostgresDatabase extends Database {
  constructor(config: DatabaseConfig, options?: DatabaseOptions) {
    super(config, createPostgresDriver(config.driverOptions), options);
  }
}
