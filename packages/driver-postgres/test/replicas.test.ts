import { PoolManager, QueryError, type DatabaseConfigOptions } from '@dal/core';
import { describeReplicaConformance, useReplicaCluster } from '@dal/conformance';
import { startPostgresReplicaCluster } from '@dal/test-utils';
import { describe, expect, it } from 'vitest';
import { PostgresDatabase } from '../src/index.js';
import { waitFor } from './helpers.js';

// A primary and a streaming replica of their own, on spare ports; the shared server is not touched.
const { cluster, config } = useReplicaCluster(startPostgresReplicaCluster, 'pg_replicas');
const replicatedDatabase = (overrides: Partial<DatabaseConfigOptions> = {}) => new PostgresDatabase(config(overrides));

describeReplicaConformance({
  name: 'postgres',
  createDatabase: replicatedDatabase,
  cluster,
  serverPort: 'inet_server_port()',
  types: { int: 'INTEGER' },
});

const portOf = (row: Record<string, unknown> | undefined) => Number(row?.['port']);

describe('postgres read replicas: hot standby specifics', () => {
  it('a read the standby cancels to apply WAL (recovery conflict, 40001) runs again on the primary', async () => {
    const db = replicatedDatabase({ replicaRecheckMs: 200 });
    await cluster().admin('replica', 'ALTER SYSTEM SET max_standby_streaming_delay = 0');
    await cluster().admin('replica', 'SELECT pg_reload_conf()');
    try {
      await db.execute('CREATE TABLE conflict_t (x int)');
      await cluster().waitForCatchUp();
      const conflicts = async () => Number((await cluster().admin('replica', "SELECT confl_lock FROM pg_stat_database_conflicts WHERE datname = 'test'"))[0]?.[0]);
      const conflictsBefore = await conflicts();
      // Holds a lock on conflict_t on the standby for 1.5 s...
      const read = db.replica().executeFirst('SELECT /* dal_conflict */ inet_server_port() AS port, (SELECT count(*) FROM conflict_t) AS n, pg_sleep(1.5) AS slept');
      expect(await waitFor(async () => (await cluster().admin('replica', "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%dal_conflict%' AND pid <> pg_backend_pid()"))[0]?.[0] === '1', 5_000)).toBe(true);
      // ...which replaying this exclusive lock may not wait for (max_standby_streaming_delay = 0).
      await cluster().admin('primary', 'TRUNCATE conflict_t');
      const row = await read;
      expect(portOf(row)).toBe(cluster().primary.port);
      // The standby counted the cancelled read; a session flushes its statistics when it ends (or after 10 s idle).
      await db.close();
      expect(await waitFor(async () => (await conflicts()) === conflictsBefore + 1, 5_000)).toBe(true);
    } finally {
      await cluster().admin('replica', 'ALTER SYSTEM RESET max_standby_streaming_delay');
      await cluster().admin('replica', 'SELECT pg_reload_conf()');
      await cluster().admin('primary', 'DROP TABLE IF EXISTS conflict_t');
      await db.close();
    }
  }, 30_000);

  it('maxLagBytes keeps a standby that many WAL bytes behind out of reads', async () => {
    const db = replicatedDatabase({ replicaRecheckMs: 100, maxLagBytes: 1 });
    const readPort = async () => portOf(await db.replica().executeFirst('SELECT inet_server_port() AS port'));
    try {
      await db.execute('CREATE TABLE lag_bytes_t (x int)');
      await cluster().waitForCatchUp();
      expect(await waitFor(async () => (await readPort()) === cluster().replica.port, 5_000)).toBe(true);
      await cluster().setReplayDelay(3_000);
      await db.execute('INSERT INTO lag_bytes_t VALUES (1)');
      expect(await waitFor(() => (PoolManager.getPoolStatus(db.config.hash())?.nodes?.[1]?.lagBytes ?? 0) > 1, 5_000)).toBe(true);
      expect(await readPort()).toBe(cluster().primary.port);
    } finally {
      await cluster().setReplayDelay(0);
      await db.execute('DROP TABLE IF EXISTS lag_bytes_t').catch(() => undefined);
      await db.close();
    }
  }, 30_000);

  // The nodes trade roles for good; later tests follow them through cluster().primary / .replica.
  it('a write refused by a standby (25006) makes writes look for the primary at once', async () => {
    // Rechecks far apart: only the refused write can move writes within this test.
    const db = replicatedDatabase({ replicaRecheckMs: 600_000 });
    const [oldPrimary, oldReplica] = [cluster().primary.port, cluster().replica.port];
    const writerPort = () => PoolManager.getPoolStatus(db.config.hash())?.nodes?.find((n) => n.writer)?.port;
    try {
      await db.execute('CREATE TABLE roles_t (x int)');
      expect(writerPort()).toBe(oldPrimary);
      await cluster().waitForCatchUp();
      await cluster().swapRoles();
      expect([cluster().primary.port, cluster().replica.port]).toEqual([oldReplica, oldPrimary]);
      // The pool's connections died with the old primary; the write dials the same port, now a standby.
      const refused = await db.execute('INSERT INTO roles_t VALUES (1)').catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(QueryError);
      expect((refused as QueryError).sqlState).toBe('25006');
      const started = Date.now();
      expect(await waitFor(() => writerPort() === oldReplica, 5_000)).toBe(true);
      expect(Date.now() - started).toBeLessThan(5_000);
      const row = await db.executeFirst('INSERT INTO roles_t VALUES (2) RETURNING inet_server_port() AS port, pg_is_in_recovery() AS standby');
      expect([portOf(row), row?.['standby']]).toEqual([oldReplica, false]);
      const nodes = PoolManager.getPoolStatus(db.config.hash())?.nodes ?? [];
      expect(nodes.map((n) => [n.port, n.role, n.writer])).toEqual([
        [oldPrimary, 'replica', false],
        [oldReplica, 'primary', true],
      ]);
    } finally {
      await db.execute('DROP TABLE IF EXISTS roles_t').catch(() => undefined);
      await db.close();
    }
  }, 60_000);

  // Last: it turns the replica into the primary for good.
  it('after the primary fails and the replica is promoted, writes go to the new primary within the recheck interval', async () => {
    const db = replicatedDatabase({ replicaRecheckMs: 200, circuitBreaker: { recoveryTimeoutMs: 200 } });
    try {
      expect(portOf(await db.executeFirst('SELECT inet_server_port() AS port'))).toBe(cluster().primary.port);
      // Hold every connection of the primary's pool, so the next write has to wait for a new one.
      const held = await Promise.all(Array.from({ length: db.config.poolMax }, () => db.connection()));
      await cluster().stopNode('primary');
      const waiting = db.executeFirst('SELECT inet_server_port() AS port');
      await cluster().promoteReplica();
      const started = Date.now();
      const writerPort = () => PoolManager.getPoolStatus(db.config.hash())?.nodes?.find((n) => n.writer)?.port;
      expect(await waitFor(() => writerPort() === cluster().replica.port, 10_000)).toBe(true);
      // Within a few recheck intervals (a statement already waiting on the old primary waits out its own timeout).
      expect(Date.now() - started).toBeLessThan(3_000);
      // The write that was waiting on the old primary's pool moved with them.
      expect(portOf(await waiting)).toBe(cluster().replica.port);
      expect(Date.now() - started).toBeLessThan(3_000);
      await Promise.all(held.map((conn) => conn.release()));
      const row = await db.executeFirst('SELECT inet_server_port() AS port, pg_is_in_recovery() AS standby');
      expect([portOf(row), row?.['standby']]).toEqual([cluster().replica.port, false]);
      await db.execute('CREATE TABLE promoted_t (x int)');
      await db.execute('INSERT INTO promoted_t VALUES (1)');
      const nodes = PoolManager.getPoolStatus(db.config.hash())?.nodes ?? [];
      expect(nodes.map((n) => [n.port, n.writer])).toEqual([
        [cluster().primary.port, false],
        [cluster().replica.port, true],
      ]);
      // No replica is left: reads fall back to the (new) primary.
      expect(portOf(await db.replica().executeFirst('SELECT inet_server_port() AS port'))).toBe(cluster().replica.port);
    } finally {
      await db.close();
    }
  }, 40_000);
});
