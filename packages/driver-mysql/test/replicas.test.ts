import { PoolManager, QueryError, type DatabaseConfigOptions } from '@dal/core';
import { describeReplicaConformance, useReplicaCluster } from '@dal/conformance';
import { startMariadbReplicaCluster } from '@dal/test-utils';
import { describe, expect, it } from 'vitest';
import { MysqlDatabase } from '../src/index.js';

// A primary and a GTID replica of their own, on spare ports; the shared server is not touched.
const { cluster, config } = useReplicaCluster(startMariadbReplicaCluster, 'mariadb_replicas');
const replicatedDatabase = (overrides: Partial<DatabaseConfigOptions> = {}) => new MysqlDatabase(config(overrides));

describeReplicaConformance({
  name: 'mysql',
  createDatabase: replicatedDatabase,
  cluster,
  serverPort: '@@port',
  types: { int: 'INT' },
});

describe('mariadb read replicas: roles', () => {
  // Last: it swaps the roles of the two servers.
  it('a write refused by a read-only server (1290) makes writes look for the primary at once', async () => {
    // Rechecks far apart: only the refused write can move writes within this test.
    const db = replicatedDatabase({ replicaRecheckMs: 600_000 });
    try {
      await db.execute('CREATE TABLE IF NOT EXISTS roles_t (x INT)');
      await cluster().admin('primary', 'SET GLOBAL read_only = 1');
      await cluster().admin('replica', 'STOP SLAVE; SET GLOBAL read_only = 0');
      const refused = await db.execute('INSERT INTO roles_t VALUES (1)').catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(QueryError);
      expect((refused as QueryError).vendorCode).toBe('1290');
      const deadline = Date.now() + 5_000;
      let row: Record<string, unknown> | undefined;
      while (Date.now() < deadline) {
        row = await db.executeFirst('SELECT @@port AS port, @@read_only AS ro');
        if (Number(row?.['port']) === cluster().replica.port) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect([Number(row?.['port']), Number(row?.['ro'])]).toEqual([cluster().replica.port, 0]);
      const nodes = PoolManager.getPoolStatus(db.config.hash())?.nodes ?? [];
      expect(nodes.map((n) => [n.port, n.role, n.writer])).toEqual([
        [cluster().primary.port, 'replica', false],
        [cluster().replica.port, 'primary', true],
      ]);
    } finally {
      await db.close();
    }
  }, 30_000);
});
