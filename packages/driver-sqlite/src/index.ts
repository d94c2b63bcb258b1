export { SqliteDriver, createSqliteDriver } from './sqlite-driver.js';
export { sqliteDialect } from './sqlite-dialect.js';
export { SqliteConnection, SqliteSyncConnection } from './sqlite-connection.js';
export { SqliteWorkerConnection } from './sqlite-worker-connection.js';
export type { SqliteRemoteMode } from './sqlite-worker-connection.js';
export { mapSqliteError, mapSqliteConnectError } from './map-error.js';
export { toSqliteParams } from './sqlite-params.js';
export type { SqliteDriverOptions, SqliteMode, SqliteOpenOptions } from './sqlite-options.js';
export { SqliteDatabase } from './sqlite-database.js';
