// The same from CommonJS.
const { DatabaseConfig, DatabaseFactory, DriverNotInstalledError } = require('@dal/core');

async function main() {
  try {
    require.resolve('pg');
    throw new Error('pg is installed: this app must not have it');
  } catch (error) {
    if (error.code !== 'MODULE_NOT_FOUND') throw error;
  }
  const db = DatabaseFactory.createDatabase('postgres', new DatabaseConfig({ database: 'app', alias: 'install-check-cjs' }));
  try {
    await db.withConnection((conn) => conn.execute('SELECT 1'));
    throw new Error('a query without pg installed succeeded');
  } catch (error) {
    if (!(error instanceof DriverNotInstalledError) || error.packageName !== 'pg' || !error.message.includes('npm install')) throw error;
    console.log(`CJS: ${error.name} (${error.code}) names ${error.packageName}: ${error.message}`);
  }
}
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
