import { DatabaseConfig, PoolManager } from '@dal/core';
import { PostgresDatabase } from '@dal/driver-postgres';
import { startPostgresReplicaCluster, type ReplicaCluster } from '@dal/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prometheusText } from '../src/index.js';
import { otelHarness, otelValue, parseExposition, sampleOf } from './helpers.js';

// A PostgreSQL primary and streaming replica of their own: the per-node numbers of a replica set
// in the Prometheus exposition are the ones PoolManager reports.
let cluster: ReplicaCluster;
const otel = otelHarness();
beforeAll(async () => {
  cluster = await startPostgresReplicaCluster();
}, 120_000);
afterAll(async () => {
  await otel.shutdown();
  await PoolManager.closeAll();
  await cluster?.stop();
}, 60_000);

describe('metrics: read replica nodes', () => {
  it('exports role, health, writer, lag and reads of every node, as PoolManager reports them', async () => {
    const db = new PostgresDatabase(
      new DatabaseConfig({ database: cluster.database, user: cluster.user, host: cluster.primary.host, port: cluster.primary.port, replicas: [cluster.replica], alias: 'metrics_replicas' }),
    );
    try {
      for (let i = 0; i < 3; i++) await db.replica().execute('SELECT 1');
      const nodes = PoolManager.getPoolStatus(db.config.hash())!.nodes!;
      const { samples } = parseExposition(await prometheusText());
      const primary = { pool: 'metrics_replicas', node: `${cluster.primary.host}:${cluster.primary.port}`, role: 'primary' };
      const replica = { pool: 'metrics_replicas', node: `${cluster.replica.host}:${cluster.replica.port}`, role: 'replica' };
      expect(sampleOf(samples, 'dal_replica_reads_total', replica)).toBe(3);
      expect(sampleOf(samples, 'dal_replica_reads_total', primary)).toBe(0);
      expect([sampleOf(samples, 'dal_replica_node_writer', primary), sampleOf(samples, 'dal_replica_node_writer', replica)]).toEqual([1, 0]);
      expect([sampleOf(samples, 'dal_replica_node_healthy', primary), sampleOf(samples, 'dal_replica_node_healthy', replica)]).toEqual([1, 1]);
      expect(sampleOf(samples, 'dal_replica_lag_bytes', replica)).toBe(nodes[1]!.lagBytes);
      expect(sampleOf(samples, 'dal_replica_lag_seconds', replica)).toBeCloseTo(nodes[1]!.lagMs! / 1000, 3);
      // The writer has no lag of its own: no sample rather than a made-up 0.
      expect(() => sampleOf(samples, 'dal_replica_lag_bytes', primary)).toThrow(/found 0/);
      const points = await otel.collect();
      const replicaPoint = { 'db.client.connection.pool.name': 'metrics_replicas', 'server.address': cluster.replica.host, 'dal.replica.role': 'replica' };
      expect(otelValue(points, 'dal.client.replica.reads', replicaPoint)).toBe(3);
      expect(otelValue(points, 'dal.client.replica.healthy', replicaPoint)).toBe(1);
      expect(otelValue(points, 'dal.client.replica.lag_bytes', replicaPoint)).toBe(nodes[1]!.lagBytes);
    } finally {
      await db.close();
    }
  }, 30_000);
});
