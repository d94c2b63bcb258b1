// An ESM app with @dal/core and @dal/driver-postgres but without pg: the first use of the
// database rejects with DriverNotInstalledError naming pg (never a bare "Cannot find module").
import { createRequire } from 'node:module';
import { DatabaseConfig, DatabaseFactory, DriverNotInstalledError } from '@dal/core';

try {
  createRequire(import.meta.url).resolve('pg');
  throw new Error('pg is installed: this app must not have it');
} catch (error) {
  if (error.code !== 'MODULE_NOT_FOUND') throw error;
}
const db = DatabaseFactory.createDatabase('postgres', new DatabaseConfig({ database: 'app', alias: 'install-check-esm' }));
try {
  await db.withConnection((conn) => conn.execute('SELECT 1'));
  throw new Error('a query without pg installed succeeded');
} catch (error) {
  if (!(error instanceof DriverNotInstalledError) || error.packageName !== 'pg' || !error.message.includes('npm install')) throw error;
  console.log(`ESM: ${error.name} (${error.code}) names ${error.packageName}: ${error.message}`);
}
