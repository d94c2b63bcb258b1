// An ESM app with only @dal/core, @dal/driver-sqlite and better-sqlite3 installed runs a query.
import { DatabaseConfig, DatabaseFactory, PoolManager } from '@dal/core';

const config = new DatabaseConfig({ database: ':memory:', alias: 'install-check-esm' });
const db = DatabaseFactory.createDatabase('sqlite', config);
const rows = await db.withConnection(async (conn) => {
  await conn.execute('CREATE TABLE [users] ([id] INTEGER PRIMARY KEY, [name] TEXT NOT NULL)');
  await conn.executeMany('INSERT INTO [users] ([name]) VALUES (?)', [['Phil'], ['Karen']]);
  return conn.execute('SELECT [name] FROM [users] ORDER BY [id]');
});
await PoolManager.closePool(config.hash());
if (rows.map((row) => row.name).join(',') !== 'Phil,Karen') throw new Error(`unexpected rows ${JSON.stringify(rows)}`);
console.log('query ran from ESM');
