import { PoolManager, type PoolStatus, type ReplicaNodeStatus } from '@dal/core';

/** One pool as the exporters see it: core's status plus the names both exporters label it with. */
export interface PoolView {
  /** `db.client.connection.pool.name`: the alias, made unique with a hash prefix when two pools share it. */
  name: string;
  /** `db.system.name`: postgresql, mysql, sqlite (or core's dialect name when unknown). */
  system: string;
  status: PoolStatus;
}

const SYSTEM_NAMES: Readonly<Record<string, string>> = { postgres: 'postgresql', mysql: 'mysql', sqlite: 'sqlite' };

/**
 * Map core's dialect name to the OpenTelemetry `db.system.name` value.
 *
 * ```ts
 * dbSystemName('postgres'); // 'postgresql'
 * ```
 */
export function dbSystemName(dialect: string): string {
  return SYSTEM_NAMES[dialect] ?? dialect;
}

/** Scaling levels as numbers for gauges: normal 0, mild 1, high 2, critical 3. */
const SCALING_LEVELS: readonly string[] = ['normal', 'mild', 'high', 'critical'];

/** The numeric level (0..3) of a scaling level name. */
export function scalingLevelNumber(level: string): number {
  return Math.max(0, SCALING_LEVELS.indexOf(level));
}

let cached: PoolView[] | undefined;

/**
 * Every pool of the process. One read is shared by the callers of one synchronous run, so the
 * metrics of one scrape come from one snapshot: prom-client calls every metric's collect() in
 * the same pass before its first await. It is dropped at the next microtask, not the next
 * macrotask: statements on SQLite's inline connections complete without ever leaving the
 * microtask queue, and a scrape after them must see them.
 */
export function readPools(): PoolView[] {
  if (cached !== undefined) return cached;
  const statuses = Object.values(PoolManager.getPoolMetrics());
  const aliasCount = new Map<string, number>();
  for (const s of statuses) aliasCount.set(s.alias, (aliasCount.get(s.alias) ?? 0) + 1);
  const pools = statuses.map(
    (status): PoolView => ({
      name: aliasCount.get(status.alias)! > 1 ? `${status.alias}#${status.hash.slice(0, 8)}` : status.alias,
      system: dbSystemName(status.dialect),
      status,
    }),
  );
  cached = pools;
  queueMicrotask(() => {
    cached = undefined;
  });
  return pools;
}

/**
 * One row per server of a pool with read replicas (none without), labelled `node` (host:port)
 * and `role`, with `value` picked from the node's status.
 */
export function replicaNodeRows(p: PoolView, value: (node: ReplicaNodeStatus) => number | undefined): Array<{ labels: Record<string, string>; value: number | undefined }> {
  return (p.status.nodes ?? []).map((node) => ({ labels: { node: `${node.host}:${node.port ?? 'default'}`, role: node.role }, value: value(node) }));
}
