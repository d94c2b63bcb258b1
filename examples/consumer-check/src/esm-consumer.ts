// A TypeScript app importing every package from its built output (dist/*.d.ts) as ESM.
import { DatabaseConfig, DatabaseFactory, PoolManager, QueryError, type Connection, type PoolStatus } from '@dal/core';
import { PostgresDatabase } from '@dal/driver-postgres';
import { MysqlDatabase } from '@dal/driver-mysql';
import { SqliteDatabase } from '@dal/driver-sqlite';
import { circuitBreaker, retryWithBackoff, withTimeout, trackSlow } from '@dal/resilience';
import { translate, type Translated } from '@dal/sql-translate';
import { describeConformance, type ConformanceTarget } from '@dal/conformance';
import { saveEntity } from '@dal/entities';
import { prometheusText } from '@dal/metrics';
import { ShardMap, fnv1a64 } from '@dal/sharding';

const config = new DatabaseConfig({ database: ':memory:', alias: 'typecheck' });
const databases = [new SqliteDatabase(config), new PostgresDatabase(config), new MysqlDatabase(config), DatabaseFactory.createDatabase('sqlite', config)];
const rows: Promise<Array<{ id: string }>> = databases[0]!.withConnection((conn: Connection) => conn.execute<{ id: string }>('SELECT 1 AS [id]'));
const status: PoolStatus | undefined = PoolManager.getPoolStatus(config.hash());
const guarded = circuitBreaker({ name: 'x' })(async (n: number) => n * 2);
const retried = retryWithBackoff({ maxRetries: 1 })(async () => 'ok');
const bounded = withTimeout({ timeoutMs: 10 })(async (s: string, signal: AbortSignal) => (signal.aborted ? '' : s));
const watched = trackSlow({ thresholdMs: 5 })(async () => 1);
const translated: Translated = translate('SELECT [a] FROM [t] WHERE [b] = ?', 'postgres', [1]);
const target: ConformanceTarget | undefined = undefined;
const isQueryError = (e: unknown): boolean => e instanceof QueryError;
const saved = databases[0]!.withConnection((conn) => saveEntity(conn, 'user', { name: 'Phil' }));
const exposition: Promise<string> = prometheusText();
const shardMaps: [typeof ShardMap, typeof fnv1a64] = [ShardMap, fnv1a64];
export { rows, status, guarded, retried, bounded, watched, translated, target, describeConformance, isQueryError, saved, exposition, shardMaps };
