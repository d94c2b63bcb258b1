import { DatabaseConfig, PoolManager } from '@dal/core';
import { describeConformance } from '@dal/conformance';
import { afterAll } from 'vitest';
import { MysqlDatabase } from '../src/index.js';

const base = DatabaseConfig.fromUrl(process.env.DAL_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test', { alias: 'mysql' });
afterAll(() => PoolManager.closeAll());

describeConformance({
  name: 'mysql',
  createDatabase: (overrides, options) => new MysqlDatabase(base.with({ ...overrides }), options),
  types: { int: 'INT', bigint: 'BIGINT', text: 'TEXT', varchar: 'VARCHAR', decimal: 'DECIMAL(12,2)', timestamp: 'DATETIME(3)', boolean: 'BOOLEAN', bytes: 'LONGBLOB', autoIncrementKey: 'INT AUTO_INCREMENT PRIMARY KEY' },
  slowStatement: (seconds, marker) => `SELECT /* ${marker} */ SLEEP(${Number(seconds)})`,
  isRunningOnServer: async (db, marker) => {
    const rows = await db.execute<{ n: number }>(
      `SELECT COUNT(*) AS [n] FROM information_schema.PROCESSLIST WHERE [ID] <> CONNECTION_ID() AND [COMMAND] = 'Query' AND [INFO] LIKE ?`,
      [`%${marker}%`],
    );
    return Number(rows[0]!.n) > 0;
  },
  sessionId: async (conn) => (await conn.execute<{ id: number }>('SELECT CONNECTION_ID() AS [id]'))[0]!.id,
  sessionBusy: async (db, id) => {
    const rows = await db.execute<{ command: string }>('SELECT [COMMAND] AS [command] FROM information_schema.PROCESSLIST WHERE [ID] = ?', [id]);
    return rows[0]?.command !== 'Sleep';
  },
  killSession: async (db, id) => {
    await db.execute(`KILL ${Number(id)}`);
  },
  networked: true,
});
