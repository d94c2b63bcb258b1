import { Database, type DatabaseConfig, type DatabaseOptions } from '@dal/core';
import { createMysqlDriver } from './mysql-driver.js';

/**
 * A Mysql database without the factory: `new MysqlDatabase(config)`.
 *
 * ```ts
 * const db = new MysqlDatabase(DatabaseConfig.fromUrl(process.env.DATABASE_URL!));
 * ```
 */
export class MysqlDatabase extends Database {
  constructor(config: DatabaseConfig, options?: DatabaseOptions) {
    super(config, createMysqlDriver(config.driverOptions), options);
  }
}
