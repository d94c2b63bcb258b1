import { DatabaseFactory, type BackendPackage } from '@dal/core';

export { PgliteDriver, createPgliteDriver } from './pglite-driver.js';
export type { PgliteDriverOptions } from './pglite-driver.js';
export { pgliteDialect, quotePgliteIdentifier } from './pglite-dialect.js';
export { pgliteSchemaSql, classifyPgliteSchemaError } from './pglite-schema-sql.js';
export { PgliteConnection } from './pglite-connection.js';
export { mapPgliteError } from './map-error.js';
export { PgliteDatabase } from './pglite-database.js';

/** How `DatabaseFactory` finds this backend: `createDatabase('pglite', config)`, `fromUrl('pglite:///path')`, `pglite::memory:`. */
export const PGLITE_BACKEND: BackendPackage = Object.freeze({
  packageName: '@dal/driver-pglite',
  factoryExport: 'createPgliteDriver',
  nativePackages: ['@electric-sql/pglite'],
  urlSchemes: ['pglite'],
  embedded: true,
});

// Importing the package is enough to make 'pglite' known, as for a third-party plugin.
DatabaseFactory.registerBackend('pglite', PGLITE_BACKEND);
