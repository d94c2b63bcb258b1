export { createMysqlDriver, MysqlDriver } from './mysql-driver.js';
export type { MysqlDriverOptions } from './mysql-driver.js';
export { MysqlConnection } from './mysql-connection.js';
export type { MysqlConnectionOptions } from './mysql-connection.js';
export { mysqlDialect } from './mysql-dialect.js';
export { mapMysqlError } from './map-error.js';
export type { MysqlErrorContext } from './map-error.js';
export { MysqlDatabase } from './mysql-database.js';
