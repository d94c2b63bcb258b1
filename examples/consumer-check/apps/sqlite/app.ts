// Type-checked with moduleResolution node16 and bundler against the installed .d.ts files.
import { DatabaseConfig, DatabaseFactory, DriverNotInstalledError, type Database } from '@dal/core';
import { SqliteDatabase } from '@dal/driver-sqlite';

const config = new DatabaseConfig({ database: ':memory:' });
const direct: Database = new SqliteDatabase(config);
const viaFactory: Database = DatabaseFactory.createDatabase('sqlite', config);
const names: Promise<string[]> = direct.withConnection(async (conn) => (await conn.execute<{ name: string }>('SELECT [name] FROM [users]')).map((row) => row.name));
const missing = (error: unknown): string | undefined => (error instanceof DriverNotInstalledError ? error.packageName : undefined);
export { names, missing, viaFactory };
