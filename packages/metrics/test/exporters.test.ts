import { ConfigError, DatabaseConfig, PoolManager, PoolTimeoutError, QueryError, type Connection, type PoolStatus } from '@dal/core';
import { SqliteDatabase } from '@dal/driver-sqlite';
import { Registry, Counter } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrometheusRegistry, prometheusText, registerDalMetrics, registerShardingSource } from '../src/index.js';
import { cumulativeBuckets, otelHarness, otelHistogram, otelValue, parseExposition, sampleOf, tempDir, type Sample } from './helpers.js';

// Quotes, a backslash and a newline: label escaping must give the alias back unchanged.
const ALIAS = 'metrics "exp"\\orts\nsqlite';
const tmp = tempDir('metrics-exporters-');
let db: SqliteDatabase;
let held: Connection[] = [];
const otel = otelHarness();

function status(): PoolStatus {
  const s = PoolManager.getPoolStatus(db.config.hash());
  if (s === undefined) throw new Error('pool not open');
  return s;
}

/** Run statements under three operation names, one failing, and one acquisition timeout. */
async function workload(rounds: number): Promise<{ timeouts: number; failures: number }> {
  let failures = 0;
  for (let i = 0; i < rounds; i++) {
    await db.withConnection(async (conn) => {
      await conn.execute('INSERT INTO [metrics_exporters] ([n]) VALUES (?)', [i], { tags: { operation: 'insert_row' } });
      await conn.execute('SELECT * FROM [metrics_exporters] WHERE [n] < ?', [i], { tags: { operation: 'select_rows' } });
      await conn.execute('SELECT 1');
    });
  }
  await db.withConnection(async (conn) => {
    try {
      await conn.execute('SELEKT nonsense', [], { tags: { operation: 'broken' } });
    } catch (error) {
      if (error instanceof QueryError) failures++;
      else throw error;
    }
  });
  // Exhaust the pool (max 3), then one more caller must time out.
  const settled = await Promise.allSettled([db.connection(), db.connection(), db.connection()]);
  const all = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  let timeouts = 0;
  try {
    if (all.length !== 3) throw new Error('could not take all 3 connections');
    await (await db.connection()).release();
  } catch (error) {
    if (error instanceof PoolTimeoutError) timeouts++;
    else throw error;
  } finally {
    await Promise.all(all.map((c) => c.release()));
  }
  return { timeouts, failures };
}

beforeAll(async () => {
  db = new SqliteDatabase(new DatabaseConfig({ database: tmp.file('exporters.db'), alias: ALIAS, poolMin: 3, poolMax: 3, connectionAcquisitionTimeoutMs: 80 }));
  await db.withConnection((conn) => conn.execute('CREATE TABLE [metrics_exporters] ([n] INTEGER)'));
});

afterAll(async () => {
  await Promise.all(held.map((c) => c.release()));
  await db?.withConnection((conn) => conn.execute('DROP TABLE IF EXISTS [metrics_exporters]')).catch(() => undefined);
  await db?.close();
  await otel.shutdown();
  tmp.cleanup();
});

/** Every non-histogram number both exporters must carry, from PoolManager's status. */
function expectedScalars(s: PoolStatus): Array<{ prom: string; promLabels: Record<string, string>; otel: string | undefined; otelAttrs: Record<string, string>; value: number }> {
  const m = s.metrics;
  return [
    { prom: 'dal_pool_connections', promLabels: { state: 'idle' }, otel: 'db.client.connection.count', otelAttrs: { 'db.client.connection.state': 'idle' }, value: s.sizes.idle },
    { prom: 'dal_pool_connections', promLabels: { state: 'used' }, otel: 'db.client.connection.count', otelAttrs: { 'db.client.connection.state': 'used' }, value: s.sizes.inUse },
    { prom: 'dal_pool_connections_max', promLabels: {}, otel: 'db.client.connection.max', otelAttrs: {}, value: s.sizes.max },
    { prom: 'dal_pool_connections_idle_max', promLabels: {}, otel: 'db.client.connection.idle.max', otelAttrs: {}, value: s.sizes.max },
    { prom: 'dal_pool_connections_idle_min', promLabels: {}, otel: 'db.client.connection.idle.min', otelAttrs: {}, value: s.sizes.min },
    { prom: 'dal_pool_pending_requests', promLabels: {}, otel: 'db.client.connection.pending_requests', otelAttrs: {}, value: s.sizes.pending },
    { prom: 'dal_pool_timeouts_total', promLabels: {}, otel: 'db.client.connection.timeouts', otelAttrs: {}, value: m.acquisitionTimeouts },
    { prom: 'dal_pool_acquisitions_total', promLabels: {}, otel: 'dal.client.connection.acquisitions', otelAttrs: {}, value: m.acquisitions },
    { prom: 'dal_pool_utilisation_ratio', promLabels: {}, otel: 'dal.client.connection.utilisation', otelAttrs: {}, value: s.utilisation },
    { prom: 'dal_pool_timeout_rate', promLabels: {}, otel: 'dal.client.connection.timeout_rate', otelAttrs: {}, value: s.scaling.timeoutRate },
    { prom: 'dal_query_total', promLabels: {}, otel: 'dal.client.operation.count', otelAttrs: {}, value: m.queries },
    { prom: 'dal_query_errors_total', promLabels: { category: 'query' }, otel: 'dal.client.errors', otelAttrs: { 'error.type': 'query' }, value: m.errorsByCategory.query },
    { prom: 'dal_query_errors_total', promLabels: { category: 'pool' }, otel: 'dal.client.errors', otelAttrs: { 'error.type': 'pool' }, value: m.errorsByCategory.pool },
    { prom: 'dal_pool_connections_created_total', promLabels: {}, otel: undefined, otelAttrs: {}, value: m.connectionsCreated },
  ];
}

describe('Prometheus exposition and OTel bridge over a SQLite pool', () => {
  it('carry the numbers of PoolManager, read back with a real parser and the in-memory exporter', async () => {
    const done = await workload(20);
    expect(done).toEqual({ timeouts: 1, failures: 1 });
    held = [await db.connection()]; // one connection in use while scraping
    const s = status();
    const { types, samples } = parseExposition(await prometheusText());
    const metrics = await otel.collect();
    const promPool = { pool: ALIAS, db_system: 'sqlite' };
    const otelPool = { 'db.client.connection.pool.name': ALIAS, 'db.system.name': 'sqlite' };

    expect(s.sizes.inUse).toBe(1);
    expect(s.metrics.acquisitionTimeouts).toBe(1);
    for (const row of expectedScalars(s)) {
      expect(sampleOf(samples, row.prom, { ...promPool, ...row.promLabels }), row.prom).toBe(row.value);
      if (row.otel !== undefined) expect(otelValue(metrics, row.otel, { ...otelPool, ...row.otelAttrs }), row.otel).toBe(row.value);
    }
    expect(sampleOf(samples, 'dal_pool_scaling_level', { ...promPool, level: s.scaling.level, advice: s.scaling.advice })).toBe(['normal', 'mild', 'high', 'critical'].indexOf(s.scaling.level));
    expect(otelValue(metrics, 'dal.client.connection.scaling.level', { ...otelPool, 'dal.scaling.level': s.scaling.level })).toBe(['normal', 'mild', 'high', 'critical'].indexOf(s.scaling.level));

    expect(types.get('dal_pool_wait_seconds')).toBe('HISTOGRAM');
    expect(types.get('dal_pool_timeouts_total')).toBe('COUNTER');
    expect(types.get('dal_pool_connections')).toBe('GAUGE');
    const histograms: Array<[string, string, PoolStatus['metrics']['waitTime'], Record<string, string>, Record<string, string>]> = [
      ['dal_pool_wait_seconds', 'db.client.connection.wait_time', s.metrics.waitTime, {}, {}],
      ['dal_pool_use_seconds', 'db.client.connection.use_time', s.metrics.useTime, {}, {}],
    ];
    for (const op of ['insert_row', 'select_rows', 'unknown', 'broken']) {
      const stats = s.metrics.operations[op];
      expect(stats, op).toBeDefined();
      histograms.push(['dal_query_duration_seconds', 'db.client.operation.duration', stats!.duration, { operation: op }, { 'db.operation.name': op }]);
    }
    expect(s.metrics.operations['insert_row']!.count).toBe(20);
    for (const [prom, otelName, core, promLabels, otelAttrs] of histograms) {
      for (const [le, cumulative] of cumulativeBuckets(core)) {
        expect(sampleOf(samples, `${prom}_bucket`, { ...promPool, ...promLabels, le }), `${prom} le=${le}`).toBe(cumulative);
      }
      expect(sampleOf(samples, `${prom}_count`, { ...promPool, ...promLabels })).toBe(core.count);
      expect(sampleOf(samples, `${prom}_sum`, { ...promPool, ...promLabels })).toBeCloseTo(core.sumMs / 1000, 9);
      const o = otelHistogram(metrics, otelName, { ...otelPool, ...otelAttrs });
      expect(o.boundaries).toEqual(core.boundsMs.map((b) => b / 1000));
      expect(o.counts, otelName).toEqual(core.counts);
      expect(o.count).toBe(core.count);
      expect(o.sum).toBeCloseTo(core.sumMs / 1000, 9);
    }
    await Promise.all(held.map((c) => c.release()));
    held = [];
  });

  it('stay equal to PoolManager after more traffic (histograms are not counted twice)', async () => {
    await workload(7);
    const s = status();
    const metrics = await otel.collect();
    const { samples } = parseExposition(await prometheusText());
    const otelPool = { 'db.client.connection.pool.name': ALIAS, 'db.system.name': 'sqlite' };
    expect(s.metrics.operations['insert_row']!.count).toBe(27);
    expect(s.metrics.acquisitionTimeouts).toBe(2);
    for (const [name, core, attrs] of [
      ['db.client.connection.wait_time', s.metrics.waitTime, {}],
      ['db.client.operation.duration', s.metrics.operations['select_rows']!.duration, { 'db.operation.name': 'select_rows' }],
    ] as const) {
      const o = otelHistogram(metrics, name, { ...otelPool, ...attrs });
      expect(o.counts).toEqual(core.counts);
      expect(o.sum).toBeCloseTo(core.sumMs / 1000, 9);
    }
    expect(otelValue(metrics, 'db.client.connection.timeouts', otelPool)).toBe(2);
    expect(sampleOf(samples, 'dal_pool_timeouts_total', { pool: ALIAS })).toBe(2);
    expect(sampleOf(samples, 'dal_query_duration_seconds_count', { pool: ALIAS, operation: 'insert_row' })).toBe(27);
  });

  it('register next to an application metric in its own registry, and in a fresh registry', async () => {
    const appRegistry = new Registry();
    const requests = new Counter({ name: 'app_requests_total', help: 'requests', registers: [appRegistry] });
    requests.inc(3);
    registerDalMetrics(appRegistry);
    const { samples } = parseExposition(await appRegistry.metrics());
    expect(sampleOf(samples, 'app_requests_total', {})).toBe(3);
    expect(sampleOf(samples, 'dal_pool_connections_max', { pool: ALIAS })).toBe(3);
    expect(() => registerDalMetrics(appRegistry)).toThrow(/already been registered/);

    const fresh = parseExposition(await createPrometheusRegistry().metrics()).samples;
    expect(sampleOf(fresh, 'dal_pool_acquisitions_total', { pool: ALIAS })).toBe(status().metrics.acquisitions);
  });

  it('drop a pool from both outputs once it is closed', async () => {
    const other = new SqliteDatabase(new DatabaseConfig({ database: tmp.file('other.db'), alias: 'metrics_other', poolMin: 1, poolMax: 2 }));
    await other.withConnection((conn) => conn.execute('SELECT 1'));
    const has = (list: Sample[] | undefined): boolean => (list ?? []).some((x) => x.labels['pool'] === 'metrics_other');
    expect(has(parseExposition(await prometheusText()).samples.get('dal_pool_connections_max'))).toBe(true);
    const before = await otel.collect();
    expect(otelValue(before, 'db.client.connection.max', { 'db.client.connection.pool.name': 'metrics_other' })).toBe(2);
    await other.close();
    await new Promise((r) => setImmediate(r));
    expect(has(parseExposition(await prometheusText()).samples.get('dal_pool_connections_max'))).toBe(false);
  });

  it('export a registered sharding source per physical database and per logical shard, through both', async () => {
    // Any object with status() in the shape of @dal/sharding's ShardedDatabase.status() is a source.
    const shards = [
      { shard: 0, database: 'east', state: 'serving', inFlight: 0, requests: 7, errors: 1 },
      { shard: 1, database: 'west', state: 'frozen', inFlight: 2, requests: 3, errors: 0 },
    ];
    const source = {
      status: () => ({
        version: 4,
        logicalShards: 2,
        databases: [
          { name: 'east', backend: 'postgres', shards: [0], requests: 9, errors: 1 },
          { name: 'west', backend: 'mysql', shards: [1], requests: 3, errors: 0 },
        ],
        shards,
      }),
    };
    const registration = registerShardingSource('tenants', source);
    try {
      const { samples, types } = parseExposition(await prometheusText());
      expect(types.get('dal_shard_requests_total')).toBe('COUNTER');
      expect(sampleOf(samples, 'dal_shard_requests_total', { sharding: 'tenants', shard: '0', database: 'east' })).toBe(7);
      expect(sampleOf(samples, 'dal_shard_errors_total', { sharding: 'tenants', shard: '0', database: 'east' })).toBe(1);
      expect(sampleOf(samples, 'dal_shard_frozen', { sharding: 'tenants', shard: '1', database: 'west' })).toBe(1);
      expect(sampleOf(samples, 'dal_shard_frozen', { sharding: 'tenants', shard: '0' })).toBe(0);
      expect(sampleOf(samples, 'dal_shard_database_requests_total', { sharding: 'tenants', database: 'east', backend: 'postgres' })).toBe(9);
      expect(sampleOf(samples, 'dal_shard_database_errors_total', { sharding: 'tenants', database: 'east' })).toBe(1);
      expect(sampleOf(samples, 'dal_shard_map_version', { sharding: 'tenants' })).toBe(4);

      shards[0]!.requests = 11; // read again at the next scrape and collection
      expect(sampleOf(parseExposition(await prometheusText()).samples, 'dal_shard_requests_total', { sharding: 'tenants', shard: '0' })).toBe(11);
      const metrics = await otel.collect();
      expect(otelValue(metrics, 'dal.shard.requests', { 'dal.sharding.name': 'tenants', 'dal.shard.database': 'east' })).toBe(11);
      expect(otelValue(metrics, 'dal.shard.errors', { 'dal.sharding.name': 'tenants', 'dal.shard.database': 'east' })).toBe(1);
      expect(otelValue(metrics, 'dal.shard.database.requests', { 'dal.sharding.name': 'tenants', 'dal.shard.database': 'west', 'db.system.name': 'mysql' })).toBe(3);
      expect(otelValue(metrics, 'dal.shard.map.version', { 'dal.sharding.name': 'tenants' })).toBe(4);
    } finally {
      registration.unregister();
    }
    expect(parseExposition(await prometheusText()).samples.get('dal_shard_requests_total') ?? []).toEqual([]);
    expect(() => registerShardingSource('', source)).toThrow(ConfigError);
    expect(() => registerShardingSource('x', {} as never)).toThrow(ConfigError);
  });
});
