import { DatabaseConfig, PoolManager } from '@dal/core';
import { PostgresDatabase } from '@dal/driver-postgres';
import { startPostgresReplicaCluster, type ReplicaCluster } from '@dal/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prometheusText, serveDashboard } from '../src/index.js';
import { launchChromium, otelHarness, otelValue, parseExposition, sampleOf, waitFor } from './helpers.js';

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

  it('the dashboard lists each node with its role, health, where writes go, lag and reads, and shows a stopped replica unhealthy', async () => {
    const db = new PostgresDatabase(
      new DatabaseConfig({
        database: cluster.database,
        user: cluster.user,
        host: cluster.primary.host,
        port: cluster.primary.port,
        replicas: [cluster.replica],
        alias: 'dashboard_replicas',
        replicaRecheckMs: 200, // this test is about the page following a node's health, not the interval
      }),
    );
    const page = await serveDashboard({ port: 0, refreshMs: 100 });
    const browser = await launchChromium();
    try {
      for (let i = 0; i < 4; i++) await db.replica().execute('SELECT 1');
      const body = (await (await fetch(new URL('api/pools', page.url), { signal: AbortSignal.timeout(5_000) })).json()) as { pools: Array<{ name: string; nodes: unknown[] }> };
      const pool = body.pools.find((p) => p.name === 'dashboard_replicas')!;
      expect(pool.nodes).toEqual(JSON.parse(JSON.stringify(PoolManager.getPoolStatus(db.config.hash())!.nodes)));

      const tab = await browser.context.newPage();
      const errors: string[] = [];
      tab.on('pageerror', (e) => errors.push(e.message));
      await tab.goto(page.url);
      const card = tab.locator('[data-pool="dashboard_replicas"]');
      const primaryRow = card.locator(`.replica-nodes tr[data-node="${cluster.primary.host}:${cluster.primary.port}"]`);
      const replicaRow = card.locator(`.replica-nodes tr[data-node="${cluster.replica.host}:${cluster.replica.port}"]`);
      expect(await primaryRow.locator('[data-field="role"]').textContent({ timeout: 5_000 })).toBe('primary');
      expect(await primaryRow.locator('[data-field="writer"]').textContent()).toBe('here');
      expect(await replicaRow.locator('[data-field="role"]').textContent()).toBe('replica');
      expect(await replicaRow.locator('[data-field="healthy"]').textContent()).toBe('yes');
      expect(await replicaRow.locator('[data-field="reads"]').textContent()).toBe('4');
      expect(await replicaRow.locator('[data-field="lag"]').textContent()).toMatch(/ms · \d+ B$/);

      await cluster.stopNode('replica');
      try {
        expect(await waitFor(async () => (await replicaRow.locator('[data-field="healthy"]').textContent()) === 'no', 15_000)).toBe(true);
        expect(await replicaRow.getAttribute('class')).toContain('failing');
      } finally {
        await cluster.startNode('replica');
      }
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
      await page.close();
      await db.close();
    }
  }, 60_000);
});
