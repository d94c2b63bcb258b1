import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { HistogramSnapshot } from '@dal/core';
import { readPools, replicaNodeRows, scalingLevelNumber, type PoolView } from './pool-source.js';
import { readShardings, type ShardingView } from './sharding-source.js';

/** The label names every pool metric carries. */
const POOL_LABELS = ['pool', 'db_system'] as const;

type Labels = Record<string, string>;
type GaugeRow = { labels: Labels; value: number };

function poolLabels(p: PoolView): Labels {
  return { pool: p.name, db_system: p.system };
}

/** A metric whose rows are computed at scrape time from the current pools. */
interface Spec {
  name: string;
  help: string;
  kind: 'gauge' | 'counter';
  labels?: readonly string[];
  rows: (p: PoolView) => Array<{ labels?: Labels; value: number | undefined }>;
}

const one = (value: number | undefined): Array<{ value: number | undefined }> => [{ value }];

const SPECS: readonly Spec[] = [
  {
    name: 'dal_pool_connections',
    help: 'Open connections by state (OTel db.client.connection.count).',
    kind: 'gauge',
    labels: ['state'],
    rows: (p) => [
      { labels: { state: 'idle' }, value: p.status.sizes.idle },
      { labels: { state: 'used' }, value: p.status.sizes.inUse },
    ],
  },
  { name: 'dal_pool_connections_max', help: 'Most connections the pool may open (OTel db.client.connection.max).', kind: 'gauge', rows: (p) => one(p.status.sizes.max) },
  { name: 'dal_pool_connections_idle_max', help: 'Most idle connections kept (OTel db.client.connection.idle.max).', kind: 'gauge', rows: (p) => one(p.status.sizes.max) },
  { name: 'dal_pool_connections_idle_min', help: 'Fewest connections kept open (OTel db.client.connection.idle.min).', kind: 'gauge', rows: (p) => one(p.status.sizes.min) },
  { name: 'dal_pool_connections_creating', help: 'Connections being opened right now.', kind: 'gauge', rows: (p) => one(p.status.sizes.creating) },
  { name: 'dal_pool_pending_requests', help: 'Callers waiting for a connection (OTel db.client.connection.pending_requests).', kind: 'gauge', rows: (p) => one(p.status.sizes.pending) },
  { name: 'dal_pool_utilisation_ratio', help: 'Connections in use / pool max, 0..1.', kind: 'gauge', rows: (p) => one(p.status.utilisation) },
  {
    name: 'dal_pool_healthy',
    help: 'Last health check: 1 healthy, 0 unhealthy (absent before the first check).',
    kind: 'gauge',
    rows: (p) => one(p.status.healthy === undefined ? undefined : Number(p.status.healthy)),
  },
  { name: 'dal_pool_timeout_rate', help: 'Acquisition timeouts / attempts over the scaling window, 0..1.', kind: 'gauge', rows: (p) => one(p.status.scaling.timeoutRate) },
  {
    name: 'dal_pool_scaling_level',
    help: 'Scaling advice level: 0 normal, 1 mild, 2 high, 3 critical.',
    kind: 'gauge',
    labels: ['level', 'advice'],
    rows: (p) => [{ labels: { level: p.status.scaling.level, advice: p.status.scaling.advice }, value: scalingLevelNumber(p.status.scaling.level) }],
  },
  { name: 'dal_pool_acquisitions_total', help: 'Connections handed out.', kind: 'counter', rows: (p) => one(p.status.metrics.acquisitions) },
  { name: 'dal_pool_timeouts_total', help: 'Acquisitions that timed out (OTel db.client.connection.timeouts).', kind: 'counter', rows: (p) => one(p.status.metrics.acquisitionTimeouts) },
  { name: 'dal_pool_acquire_errors_total', help: 'Acquisitions that failed for another reason.', kind: 'counter', rows: (p) => one(p.status.metrics.acquireErrors) },
  { name: 'dal_pool_connections_created_total', help: 'Physical connections opened.', kind: 'counter', rows: (p) => one(p.status.metrics.connectionsCreated) },
  { name: 'dal_pool_connections_destroyed_total', help: 'Physical connections closed.', kind: 'counter', rows: (p) => one(p.status.metrics.connectionsDestroyed) },
  { name: 'dal_pool_connection_errors_total', help: 'Connections that could not be opened or broke.', kind: 'counter', rows: (p) => one(p.status.metrics.connectionErrors) },
  { name: 'dal_query_total', help: 'Statements run.', kind: 'counter', rows: (p) => one(p.status.metrics.queries) },
  { name: 'dal_query_slow_total', help: 'Statements slower than slowQueryThresholdMs.', kind: 'counter', rows: (p) => one(p.status.metrics.slowQueries) },
  {
    name: 'dal_query_errors_total',
    help: 'Failed statements and acquisitions by category (OTel dal.client.errors{error.type}).',
    kind: 'counter',
    labels: ['category'],
    rows: (p) => Object.entries(p.status.metrics.errorsByCategory).map(([category, value]) => ({ labels: { category }, value })),
  },
  {
    name: 'dal_circuit_state',
    help: 'Circuit breaker state: 1 for the current state, 0 for the others.',
    kind: 'gauge',
    labels: ['state'],
    rows: (p) => (p.status.circuit === undefined ? [] : (['closed', 'open', 'half-open'] as const).map((state) => ({ labels: { state }, value: Number(p.status.circuit!.state === state) }))),
  },
  { name: 'dal_circuit_opens_total', help: 'Times the circuit breaker opened.', kind: 'counter', rows: (p) => one(p.status.circuit?.opens) },
  { name: 'dal_circuit_rejected_total', help: 'Calls rejected while the circuit was open.', kind: 'counter', rows: (p) => one(p.status.circuit?.rejected) },
  { name: 'dal_server_connections_max', help: 'The server connection limit (max_connections), after a capacity check.', kind: 'gauge', rows: (p) => one(p.status.capacity?.serverMaxConnections) },
  { name: 'dal_server_connections', help: 'Connections open on the server from every client, at the last capacity check.', kind: 'gauge', rows: (p) => one(p.status.capacity?.serverConnections) },
  { name: 'dal_server_additional_instances', help: 'More app instances with this pool size the server can take.', kind: 'gauge', rows: (p) => one(p.status.capacity?.additionalInstances) },
  { name: 'dal_replica_node_healthy', help: 'Per server of a replica set: 1 when it answered the last check.', kind: 'gauge', labels: ['node', 'role'], rows: (p) => replicaNodeRows(p, (n) => Number(n.healthy)) },
  { name: 'dal_replica_node_writer', help: 'Per server of a replica set: 1 for the one writes go to.', kind: 'gauge', labels: ['node', 'role'], rows: (p) => replicaNodeRows(p, (n) => Number(n.writer)) },
  { name: 'dal_replica_lag_seconds', help: 'How long ago the primary was first seen past what the replica replayed.', kind: 'gauge', labels: ['node', 'role'], rows: (p) => replicaNodeRows(p, (n) => (n.lagMs === undefined ? undefined : n.lagMs / 1000)) },
  { name: 'dal_replica_lag_bytes', help: 'WAL bytes the replica is behind the primary (PostgreSQL).', kind: 'gauge', labels: ['node', 'role'], rows: (p) => replicaNodeRows(p, (n) => n.lagBytes) },
  { name: 'dal_replica_lag_transactions', help: 'Transactions the replica is behind the primary (MariaDB GTIDs).', kind: 'gauge', labels: ['node', 'role'], rows: (p) => replicaNodeRows(p, (n) => n.lagTransactions) },
  { name: 'dal_replica_reads_total', help: 'Reads db.replica() sent to each server of a replica set.', kind: 'counter', labels: ['node', 'role'], rows: (p) => replicaNodeRows(p, (n) => n.reads) },
  {
    name: 'dal_cache_hits_total',
    help: 'Cache hits by cache.',
    kind: 'counter',
    labels: ['cache'],
    rows: (p) => Object.entries(p.status.caches).map(([cache, c]) => ({ labels: { cache }, value: c.hits })),
  },
  {
    name: 'dal_cache_misses_total',
    help: 'Cache misses by cache.',
    kind: 'counter',
    labels: ['cache'],
    rows: (p) => Object.entries(p.status.caches).map(([cache, c]) => ({ labels: { cache }, value: c.misses })),
  },
  {
    name: 'dal_cache_evictions_total',
    help: 'Cache evictions by cache.',
    kind: 'counter',
    labels: ['cache'],
    rows: (p) => Object.entries(p.status.caches).map(([cache, c]) => ({ labels: { cache }, value: c.evictions })),
  },
  {
    name: 'dal_cache_entries',
    help: 'Entries held by each cache.',
    kind: 'gauge',
    labels: ['cache'],
    rows: (p) => Object.entries(p.status.caches).map(([cache, c]) => ({ labels: { cache }, value: c.size })),
  },
];

function specRows(spec: Spec): GaugeRow[] {
  const out: GaugeRow[] = [];
  for (const p of readPools()) {
    for (const row of spec.rows(p)) {
      if (row.value === undefined || !Number.isFinite(row.value)) continue;
      out.push({ labels: { ...poolLabels(p), ...row.labels }, value: row.value });
    }
  }
  return out;
}

/** A metric of every registered sharding source, computed at scrape time like the pool metrics. */
interface ShardingSpec {
  name: string;
  help: string;
  kind: 'gauge' | 'counter';
  labels: readonly string[];
  rows: (s: ShardingView) => GaugeRow[];
}

const perDatabase = (s: ShardingView, value: (d: ShardingView['status']['databases'][number]) => number): GaugeRow[] =>
  s.status.databases.map((d) => ({ labels: { sharding: s.name, database: d.name, backend: d.backend }, value: value(d) }));
const perShard = (s: ShardingView, value: (d: ShardingView['status']['shards'][number]) => number): GaugeRow[] =>
  s.status.shards.map((d) => ({ labels: { sharding: s.name, shard: String(d.shard), database: d.database }, value: value(d) }));

const SHARDING_SPECS: readonly ShardingSpec[] = [
  { name: 'dal_shard_map_version', help: 'The shard map version this process routes by.', kind: 'gauge', labels: ['sharding'], rows: (s) => [{ labels: { sharding: s.name }, value: s.status.version }] },
  { name: 'dal_shard_database_shards', help: 'Logical shards a physical database holds.', kind: 'gauge', labels: ['sharding', 'database', 'backend'], rows: (s) => perDatabase(s, (d) => d.shards.length) },
  { name: 'dal_shard_database_requests_total', help: 'Operations sent to a physical database through its shards (and fan-outs).', kind: 'counter', labels: ['sharding', 'database', 'backend'], rows: (s) => perDatabase(s, (d) => d.requests) },
  { name: 'dal_shard_database_errors_total', help: 'Of those, the ones that failed.', kind: 'counter', labels: ['sharding', 'database', 'backend'], rows: (s) => perDatabase(s, (d) => d.errors) },
  { name: 'dal_shard_requests_total', help: 'Operations on a logical shard, labelled with the database that holds it now.', kind: 'counter', labels: ['sharding', 'shard', 'database'], rows: (s) => perShard(s, (d) => d.requests) },
  { name: 'dal_shard_errors_total', help: 'Failed operations on a logical shard (refused during a move included).', kind: 'counter', labels: ['sharding', 'shard', 'database'], rows: (s) => perShard(s, (d) => d.errors) },
  { name: 'dal_shard_frozen', help: '1 while a move holds the logical shard\'s operations in this process, else 0.', kind: 'gauge', labels: ['sharding', 'shard', 'database'], rows: (s) => perShard(s, (d) => Number(d.state === 'frozen')) },
];

function shardingRows(spec: ShardingSpec): GaugeRow[] {
  return readShardings().flatMap((s) => spec.rows(s));
}

/** Seconds, the Prometheus base unit for durations. */
const toSeconds = (ms: number): number => ms / 1000;

type HistogramRow = { labels: Labels; histogram: HistogramSnapshot };

/**
 * A prom-client histogram whose buckets are core's own cumulative counts, read at scrape
 * time: prom-client's Histogram can only `observe()`, and replaying core's data into it would
 * double count across scrapes.
 */
class SnapshotHistogram extends Histogram<string> {
  readonly #name: string;
  readonly #help: string;
  readonly #read: () => HistogramRow[];

  constructor(name: string, help: string, labelNames: readonly string[], read: () => HistogramRow[]) {
    super({ name, help, labelNames: [...labelNames], registers: [] });
    this.#name = name;
    this.#help = help;
    this.#read = read;
  }

  // Registry.metrics() formats through this method; get() below serves getMetricsAsJSON().
  async getForPromString(): Promise<{ name: string; help: string; type: 'histogram'; values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }>; aggregator: 'sum' }> {
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    for (const { labels, histogram } of this.#read()) {
      let cumulative = 0;
      histogram.boundsMs.forEach((bound, i) => {
        cumulative += histogram.counts[i] ?? 0;
        values.push({ metricName: `${this.#name}_bucket`, labels: { ...labels, le: toSeconds(bound) }, value: cumulative });
      });
      values.push({ metricName: `${this.#name}_bucket`, labels: { ...labels, le: '+Inf' }, value: histogram.count });
      values.push({ metricName: `${this.#name}_sum`, labels, value: toSeconds(histogram.sumMs) });
      values.push({ metricName: `${this.#name}_count`, labels, value: histogram.count });
    }
    return { name: this.#name, help: this.#help, type: 'histogram', values, aggregator: 'sum' };
  }

  override async get(): Promise<Awaited<ReturnType<Histogram<string>['get']>>> {
    return (await this.getForPromString()) as unknown as Awaited<ReturnType<Histogram<string>['get']>>;
  }

  override reset(): void {}
}

function poolHistogramRows(pick: (p: PoolView) => HistogramSnapshot | undefined): HistogramRow[] {
  const rows: HistogramRow[] = [];
  for (const p of readPools()) {
    const histogram = pick(p);
    if (histogram !== undefined) rows.push({ labels: poolLabels(p), histogram });
  }
  return rows;
}

function operationRows(): HistogramRow[] {
  const rows: HistogramRow[] = [];
  for (const p of readPools()) {
    for (const [operation, stats] of Object.entries(p.status.metrics.operations)) {
      rows.push({ labels: { ...poolLabels(p), operation }, histogram: stats.duration });
    }
  }
  return rows;
}

/** Anything with prom-client's `registerMetric` (also a Registry from another copy of prom-client). */
export interface MetricRegistry {
  registerMetric(metric: never): void;
}

/**
 * Add every `dal_*` metric to an existing prom-client registry; values are read from
 * `PoolManager` and the registered sharding sources (`registerShardingSource`) at each scrape.
 *
 * ```ts
 * import { register } from 'prom-client';
 * registerDalMetrics(register); // next to the app's own metrics
 * ```
 * @throws {Error} (from prom-client) when the registry already holds a metric of the same name.
 */
export function registerDalMetrics(registry: MetricRegistry): void {
  const add = (metric: unknown): void => registry.registerMetric(metric as never);
  const computed = (name: string, help: string, kind: 'gauge' | 'counter', labelNames: string[], rows: () => GaugeRow[]): void => {
    if (kind === 'gauge') {
      add(new Gauge({ name, help, labelNames, registers: [], collect() {
        this.reset();
        for (const row of rows()) this.set(row.labels, row.value);
      } }));
    } else {
      add(new Counter({ name, help, labelNames, registers: [], collect() {
        // The sources keep the running totals; a counter is reset and re-filled with them at each scrape.
        this.reset();
        for (const row of rows()) this.inc(row.labels, row.value);
      } }));
    }
  };
  for (const spec of SPECS) computed(spec.name, spec.help, spec.kind, [...POOL_LABELS, ...(spec.labels ?? [])], () => specRows(spec));
  for (const spec of SHARDING_SPECS) computed(spec.name, spec.help, spec.kind, [...spec.labels], () => shardingRows(spec));
  add(new SnapshotHistogram('dal_pool_wait_seconds', 'Time callers waited for a connection (OTel db.client.connection.wait_time).', POOL_LABELS, () => poolHistogramRows((p) => p.status.metrics.waitTime)));
  add(new SnapshotHistogram('dal_pool_use_seconds', 'Time connections were held (OTel db.client.connection.use_time).', POOL_LABELS, () => poolHistogramRows((p) => p.status.metrics.useTime)));
  add(new SnapshotHistogram('dal_query_duration_seconds', 'Statement duration by tags.operation (OTel db.client.operation.duration).', [...POOL_LABELS, 'operation'], operationRows));
}

/**
 * A new prom-client registry holding every `dal_*` metric, for apps that keep registries apart.
 *
 * ```ts
 * const registry = createPrometheusRegistry();
 * res.setHeader('content-type', registry.contentType).end(await registry.metrics());
 * ```
 */
export function createPrometheusRegistry(): Registry {
  const registry = new Registry();
  registerDalMetrics(registry);
  return registry;
}

let defaultRegistry: Registry | undefined;

/** The Prometheus content type of `prometheusText()`. */
export const PROMETHEUS_CONTENT_TYPE: string = Registry.PROMETHEUS_CONTENT_TYPE;

/**
 * The Prometheus text exposition of every pool of the process.
 *
 * ```ts
 * http.createServer(async (_req, res) => {
 *   res.setHeader('content-type', PROMETHEUS_CONTENT_TYPE).end(await prometheusText());
 * });
 * ```
 */
export async function prometheusText(): Promise<string> {
  defaultRegistry ??= createPrometheusRegistry();
  return defaultRegistry.metrics();
}
