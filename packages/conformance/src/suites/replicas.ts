import { ConfigError, DatabaseConfig, PoolManager, type Database, type DatabaseConfigOptions, type ReplicaNodeStatus } from '@dal/core';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { conformanceTest as test, eventually, tableName } from '../harness.js';
import type { ConformanceTarget } from '../target.js';

/** A replicated cluster (@dal/test-utils' `ReplicaCluster` has these). */
export interface ReplicaClusterUnderTest {
  readonly primary: { readonly host: string; readonly port: number };
  readonly replica: { readonly host: string; readonly port: number };
  readonly database: string;
  readonly user: string;
  setReplayDelay(ms: number): Promise<void>;
  waitForCatchUp(timeoutMs?: number): Promise<void>;
  stopNode(node: 'primary' | 'replica'): Promise<void>;
  startNode(node: 'primary' | 'replica'): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Start a cluster for the test file (in `beforeAll`) and remove it afterwards, whatever happened;
 * `config()` points at its primary with its replica in `replicas`.
 */
export function useReplicaCluster<C extends ReplicaClusterUnderTest>(start: () => Promise<C>, alias: string): { cluster(): C; config(overrides?: Partial<DatabaseConfigOptions>): DatabaseConfig } {
  let started: C | undefined;
  beforeAll(async () => {
    started = await start();
  }, 120_000);
  afterAll(async () => {
    await PoolManager.closeAll();
    await started?.stop();
  }, 60_000);
  const cluster = (): C => {
    if (started === undefined) throw new Error('the replica cluster did not start');
    return started;
  };
  return {
    cluster,
    config: (overrides = {}) => {
      const { primary, replica, database, user } = cluster();
      return new DatabaseConfig({ database, user, host: primary.host, port: primary.port, replicas: [replica], alias, ...overrides });
    },
  };
}

/** What the replica section needs: Databases on a primary with one replica, and how to ask a server its port. */
export interface ReplicaTarget extends Pick<ConformanceTarget, 'name' | 'skip'> {
  /** A Database whose config has the cluster's primary as host/port and its replica in `replicas`, `overrides` on top. */
  createDatabase(overrides?: Partial<DatabaseConfigOptions>): Database;
  /** The cluster; called when the tests run (start it in `beforeAll`). */
  cluster(): ReplicaClusterUnderTest;
  /** A native expression giving the port of the server that evaluates it (`inet_server_port()`, `@@port`). */
  readonly serverPort: string;
  readonly types: { readonly int: string };
}

const RECHECK_MS = 200;

/**
 * Routing of reads to replicas on a real primary/replica pair, asserted on the server (the port
 * of the node that ran each statement): replica reads on the replica, writes and transactions on
 * the primary, read-your-writes with a commit token on a delayed replica, lag limits, and a
 * stopped replica. Tests change the replica's delay and stop it, so they run one after another.
 */
export function replicaSuite(target: ReplicaTarget): void {
  const asTarget = target as unknown as ConformanceTarget;
  const it = (title: string, fn: () => Promise<void>, timeoutMs = 30_000) => test(asTarget, title, fn, timeoutMs);
  const port = (row: Record<string, unknown> | undefined) => Number(row?.['port']);
  const table = tableName(asTarget, 'replicas');
  let db: Database;
  /** Count of rows with `id` and the port of the server that counted, in one statement. */
  const countSql = `SELECT ${target.serverPort} AS [port], count(*) AS [n] FROM [${table}] WHERE [id] = ?`;
  const nodesOf = (database: Database): ReplicaNodeStatus[] => PoolManager.getPoolStatus(database.config.hash())?.nodes ?? [];

  beforeAll(async () => {
    db = target.createDatabase({ replicaRecheckMs: RECHECK_MS });
    await db.execute(`CREATE TABLE [${table}] ([id] ${target.types.int} NOT NULL PRIMARY KEY)`);
    await db.execute(`INSERT INTO [${table}] ([id]) VALUES (1)`);
    await target.cluster().waitForCatchUp();
  }, 60_000);
  afterAll(async () => {
    await target.cluster().setReplayDelay(0).catch(() => undefined);
    await db?.execute(`DROP TABLE [${table}]`).catch(() => undefined);
    await db?.close();
  }, 30_000);

  describe('read replicas', () => {
    it('db.replica() reads run on the replica; plain statements and transactions on the primary; nodes report it', async () => {
      const { primary, replica } = target.cluster();
      const read = await db.replica().executeFirst(countSql, [1]);
      expect(port(read)).toBe(replica.port);
      expect(Number(read?.['n'])).toBe(1);
      expect(port(await db.executeFirst(`SELECT ${target.serverPort} AS [port]`))).toBe(primary.port);
      const inTransaction = await db.withConnection((conn) =>
        conn.transaction(async (tx) => {
          await tx.execute(`INSERT INTO [${table}] ([id]) VALUES (100)`);
          return tx.executeFirst(countSql, [100]);
        }),
      );
      expect(port(inTransaction)).toBe(primary.port);
      expect(Number(inTransaction?.['n'])).toBe(1);
      // A read-only transaction on the replica handle stays on one node, the replica.
      const ports = await db.replica().withConnection((conn) =>
        conn.transaction(async (tx) => [port(await tx.executeFirst(countSql, [1])), port(await tx.executeFirst(countSql, [1]))]),
      );
      expect(ports).toEqual([replica.port, replica.port]);
      const nodes = nodesOf(db);
      expect(nodes.map((n) => [n.port, n.role, n.healthy, n.writer])).toEqual([
        [primary.port, 'primary', true, true],
        [replica.port, 'replica', true, false],
      ]);
      expect(nodes[1]!.reads).toBeGreaterThanOrEqual(2);
      expect(nodes[0]!.reads).toBe(0);
    });

    it('a delayed replica misses a fresh row without a token, sees it with one, and maxWaitMs falls back to the primary', async () => {
      const cluster = target.cluster();
      await cluster.setReplayDelay(2_000);
      try {
        await db.execute(`INSERT INTO [${table}] ([id]) VALUES (2)`);
        const token = await db.commitToken();
        expect(typeof token).toBe('string');
        const stale = await db.replica().executeFirst(countSql, [2]);
        expect([port(stale), Number(stale?.['n'])]).toEqual([cluster.replica.port, 0]);
        const fallback = await db.replica({ consistentWith: token, maxWaitMs: 50 }).executeFirst(countSql, [2]);
        expect([port(fallback), Number(fallback?.['n'])]).toEqual([cluster.primary.port, 1]);
        const waited = await db.replica({ consistentWith: token, maxWaitMs: 10_000 }).executeFirst(countSql, [2]);
        expect([port(waited), Number(waited?.['n'])]).toEqual([cluster.replica.port, 1]);
      } finally {
        await cluster.setReplayDelay(0);
      }
    });

    it('maxLagMs keeps a replica that is too far behind out of reads until it catches up', async () => {
      const cluster = target.cluster();
      const limited = target.createDatabase({ replicaRecheckMs: 100, maxLagMs: 400 });
      try {
        expect(port(await limited.replica().executeFirst(countSql, [1]))).toBe(cluster.replica.port);
        await cluster.setReplayDelay(3_000);
        await limited.execute(`INSERT INTO [${table}] ([id]) VALUES (3)`);
        expect(await eventually(() => (nodesOf(limited)[1]?.lagMs ?? 0) > 400, 5_000)).toBe(true);
        expect(nodesOf(limited)[1]!.healthy).toBe(true);
        expect(port(await limited.replica().executeFirst(countSql, [3]))).toBe(cluster.primary.port);
        await cluster.setReplayDelay(0);
        await cluster.waitForCatchUp();
        expect(await eventually(async () => port(await limited.replica().executeFirst(countSql, [3])) === cluster.replica.port, 5_000, 50)).toBe(true);
        expect(nodesOf(limited)[1]!.lagMs).toBe(0);
      } finally {
        await cluster.setReplayDelay(0);
        await limited.close();
      }
    });

    it('a stopped replica sends reads to the primary; they return to it once it answers again', async () => {
      const cluster = target.cluster();
      expect(port(await db.replica().executeFirst(countSql, [1]))).toBe(cluster.replica.port);
      await cluster.stopNode('replica');
      try {
        // The pooled session to the replica is dead: the read runs again on the primary.
        expect(port(await db.replica().executeFirst(countSql, [1]))).toBe(cluster.primary.port);
        expect(await eventually(() => nodesOf(db)[1]?.healthy === false, 5_000)).toBe(true);
        expect(port(await db.replica().executeFirst(countSql, [1]))).toBe(cluster.primary.port);
      } finally {
        await cluster.startNode('replica');
      }
      expect(await eventually(async () => port(await db.replica().executeFirst(countSql, [1])) === cluster.replica.port, 15_000, 100)).toBe(true);
      expect(nodesOf(db)[1]!.healthy).toBe(true);
    }, 60_000);

    it('bad replica options and tokens are ConfigErrors', async () => {
      expect(() => db.replica({ maxWaitMs: -1 })).toThrow(ConfigError);
      expect(() => db.replica({ consistentWith: 42 as unknown as string })).toThrow(ConfigError);
      await expect(db.replica({ consistentWith: 'not a token' }).execute(countSql, [1])).rejects.toBeInstanceOf(ConfigError);
    });
  });
}
