import { DatabaseConfig, PoolManager } from '@dal/core';
import { describeConformance } from '@dal/conformance';
import { afterAll } from 'vitest';
import { PostgresDatabase } from '../src/index.js';

const base = DatabaseConfig.fromUrl(process.env.DAL_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test', { alias: 'postgres' });
afterAll(() => PoolManager.closeAll());

describeConformance({
  name: 'postgres',
  createDatabase: (overrides, options) => new PostgresDatabase(base.with({ ...overrides }), options),
  types: { int: 'INTEGER', bigint: 'BIGINT', text: 'TEXT', varchar: 'VARCHAR', decimal: 'NUMERIC(12,2)', timestamp: 'TIMESTAMPTZ', boolean: 'BOOLEAN', bytes: 'BYTEA', autoIncrementKey: 'SERIAL PRIMARY KEY' },
  slowStatement: (seconds, marker) => `SELECT /* ${marker} */ pg_sleep(${Number(seconds)})`,
  isRunningOnServer: async (db, marker) => {
    const rows = await db.execute<{ n: number }>(
      `SELECT COUNT(*) AS [n] FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND query LIKE ?`,
      [`%${marker}%`],
    );
    return Number(rows[0]!.n) > 0;
  },
  sessionId: async (conn) => (await conn.execute<{ pid: number }>('SELECT pg_backend_pid() AS [pid]'))[0]!.pid,
  sessionBusy: async (db, id) => {
    const rows = await db.execute<{ state: string | null }>('SELECT [state] FROM pg_stat_activity WHERE [pid] = ?', [id]);
    return rows[0]?.state !== 'idle';
  },
  killSession: async (db, id) => {
    await db.execute('SELECT pg_terminate_backend(?)', [id]);
  },
  networked: true,
});
