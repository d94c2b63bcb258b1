import { DURATION_BOUNDS_MS, type HistogramSnapshot } from '@dal/core';
import type { Attributes, BatchObservableResult, Histogram, MeterProvider, Observable } from '@opentelemetry/api';
import { histogramDelta, replaySteps } from './histogram-replay.js';
import { dbSystemName, readPools, scalingLevelNumber, type PoolView } from './pool-source.js';
import { readShardings } from './sharding-source.js';

/** What `registerOtelMetrics` returns. */
export interface OtelRegistration {
  /** Stop observing the pools (instruments stay defined, as the OTel API cannot remove them). */
  unregister(): void;
}

/** Options of `registerOtelMetrics`. */
export interface OtelMetricsOptions {
  /** Meter name (default '@dal/metrics'). */
  meterName?: string;
}

const POOL_NAME = 'db.client.connection.pool.name';
const SYSTEM_NAME = 'db.system.name';
const registrations = new WeakMap<MeterProvider, OtelRegistration>();

function poolAttributes(p: PoolView): Attributes {
  return { [POOL_NAME]: p.name, [SYSTEM_NAME]: p.system };
}

/**
 * Expose every pool through OpenTelemetry instruments named by the database client semantic
 * conventions (`db.client.connection.count{db.client.connection.state=idle|used}`,
 * `db.client.connection.wait_time`, `db.client.operation.duration`, ...), plus `dal.*` extras
 * (scaling level, timeout rate) and the registered sharding sources (`dal.shard.requests`, ...).
 * Counts are observable instruments read at each collection;
 * the three histograms are synchronous, fed at each collection with what core recorded since
 * the previous one (same buckets and sum as core; OTel has no observable histogram).
 * Calling it again with the same provider returns the first registration.
 *
 * ```ts
 * const provider = new MeterProvider({ readers: [reader] });
 * registerOtelMetrics(provider);
 * ```
 */
export function registerOtelMetrics(meterProvider: MeterProvider, options: OtelMetricsOptions = {}): OtelRegistration {
  const existing = registrations.get(meterProvider);
  if (existing !== undefined) return existing;
  const meter = meterProvider.getMeter(options.meterName ?? '@dal/metrics');
  // Core's bounds, in seconds, so each replayed value lands in the bucket core counted it in.
  const advice = { explicitBucketBoundaries: DURATION_BOUNDS_MS.map((ms) => ms / 1000) };

  const count = meter.createObservableUpDownCounter('db.client.connection.count', { unit: '{connection}', description: 'The number of connections that are currently in the state described by the state attribute.' });
  const max = meter.createObservableUpDownCounter('db.client.connection.max', { unit: '{connection}', description: 'The maximum number of open connections allowed.' });
  const idleMax = meter.createObservableUpDownCounter('db.client.connection.idle.max', { unit: '{connection}', description: 'The maximum number of idle open connections allowed.' });
  const idleMin = meter.createObservableUpDownCounter('db.client.connection.idle.min', { unit: '{connection}', description: 'The minimum number of idle open connections allowed.' });
  const pending = meter.createObservableUpDownCounter('db.client.connection.pending_requests', { unit: '{request}', description: 'The number of current pending requests for an open connection.' });
  const timeouts = meter.createObservableCounter('db.client.connection.timeouts', { unit: '{timeout}', description: 'The number of connection timeouts that have occurred trying to obtain a connection from the pool.' });
  const acquisitions = meter.createObservableCounter('dal.client.connection.acquisitions', { unit: '{acquisition}', description: 'Connections handed out by the pool.' });
  const utilisation = meter.createObservableGauge('dal.client.connection.utilisation', { unit: '1', description: 'Connections in use / pool max.' });
  const timeoutRate = meter.createObservableGauge('dal.client.connection.timeout_rate', { unit: '1', description: 'Acquisition timeouts / attempts over the scaling window.' });
  const scalingLevel = meter.createObservableGauge('dal.client.connection.scaling.level', { unit: '1', description: 'Scaling advice level: 0 normal, 1 mild, 2 high, 3 critical.' });
  const queries = meter.createObservableCounter('dal.client.operation.count', { unit: '{operation}', description: 'Statements run.' });
  const errors = meter.createObservableCounter('dal.client.errors', { unit: '{error}', description: 'Failed statements and acquisitions by error.type category.' });
  const circuitState = meter.createObservableGauge('dal.client.circuit.state', { unit: '1', description: 'Circuit breaker state: 1 for the current state, 0 for the others.' });
  const replicaHealthy = meter.createObservableGauge('dal.client.replica.healthy', { unit: '1', description: 'Per server of a replica set: 1 when it answered the last check.' });
  const replicaLag = meter.createObservableGauge('dal.client.replica.lag', { unit: 's', description: 'How long ago the primary was first seen past what the replica replayed.' });
  const replicaLagBytes = meter.createObservableGauge('dal.client.replica.lag_bytes', { unit: 'By', description: 'WAL bytes the replica is behind the primary (PostgreSQL).' });
  const replicaLagTransactions = meter.createObservableGauge('dal.client.replica.lag_transactions', { unit: '{transaction}', description: 'Transactions the replica is behind the primary (MariaDB GTIDs).' });
  const replicaReads = meter.createObservableCounter('dal.client.replica.reads', { unit: '{read}', description: 'Reads db.replica() sent to each server of a replica set.' });
  const waitTime = meter.createHistogram('db.client.connection.wait_time', { unit: 's', description: 'The time it took to obtain an open connection from the pool.', advice });
  const useTime = meter.createHistogram('db.client.connection.use_time', { unit: 's', description: 'The time between borrowing a connection and returning it to the pool.', advice });
  const shardRequests = meter.createObservableCounter('dal.shard.requests', { unit: '{operation}', description: 'Operations on a logical shard (dal.shard), with the database that holds it now.' });
  const shardErrors = meter.createObservableCounter('dal.shard.errors', { unit: '{error}', description: 'Failed operations on a logical shard.' });
  const shardDatabaseRequests = meter.createObservableCounter('dal.shard.database.requests', { unit: '{operation}', description: 'Operations sent to a physical database of a sharded database.' });
  const shardDatabaseErrors = meter.createObservableCounter('dal.shard.database.errors', { unit: '{error}', description: 'Failed operations on a physical database of a sharded database.' });
  const shardMapVersion = meter.createObservableGauge('dal.shard.map.version', { unit: '1', description: 'The shard map version the process routes by.' });
  const operationDuration = meter.createHistogram('db.client.operation.duration', { unit: 's', description: 'Duration of database client operations.', advice });

  // Last core histogram seen per instrument and series, so each collection replays only the growth.
  const seen = new Map<string, HistogramSnapshot>();
  const replay = (instrument: Histogram, key: string, current: HistogramSnapshot | undefined, attributes: Attributes): void => {
    if (current === undefined) return;
    const delta = histogramDelta(current, seen.get(key));
    seen.set(key, current);
    for (const step of replaySteps(delta, 1000)) {
      for (let i = 0; i < step.times; i++) instrument.record(step.value, attributes);
    }
  };

  const observables: Observable[] = [
    count, max, idleMax, idleMin, pending, timeouts, acquisitions, utilisation, timeoutRate, scalingLevel, queries, errors, circuitState,
    shardRequests, shardErrors, shardDatabaseRequests, shardDatabaseErrors, shardMapVersion,
    replicaHealthy, replicaLag, replicaLagBytes, replicaLagTransactions, replicaReads,
  ];
  const callback = (result: BatchObservableResult): void => {
    const pools = readPools();
    const live = new Set(pools.map((p) => p.status.hash));
    for (const key of seen.keys()) if (!live.has(key.split('\u0000')[1]!)) seen.delete(key);
    for (const p of pools) {
      const attrs = poolAttributes(p);
      const { sizes, metrics, scaling } = p.status;
      result.observe(count, sizes.idle, { ...attrs, 'db.client.connection.state': 'idle' });
      result.observe(count, sizes.inUse, { ...attrs, 'db.client.connection.state': 'used' });
      result.observe(max, sizes.max, attrs);
      result.observe(idleMax, sizes.max, attrs);
      result.observe(idleMin, sizes.min, attrs);
      result.observe(pending, sizes.pending, attrs);
      result.observe(timeouts, metrics.acquisitionTimeouts, attrs);
      result.observe(acquisitions, metrics.acquisitions, attrs);
      result.observe(utilisation, p.status.utilisation, attrs);
      result.observe(timeoutRate, scaling.timeoutRate, attrs);
      result.observe(scalingLevel, scalingLevelNumber(scaling.level), { ...attrs, 'dal.scaling.level': scaling.level, 'dal.scaling.advice': scaling.advice });
      result.observe(queries, metrics.queries, attrs);
      for (const [category, value] of Object.entries(metrics.errorsByCategory)) {
        result.observe(errors, value, { ...attrs, 'error.type': category });
      }
      const circuit = p.status.circuit;
      if (circuit !== undefined) {
        for (const state of ['closed', 'open', 'half-open'] as const) {
          result.observe(circuitState, Number(circuit.state === state), { ...attrs, 'dal.circuit.state': state });
        }
      }
      for (const node of p.status.nodes ?? []) {
        const nodeAttrs = { ...attrs, 'server.address': node.host, ...(node.port === undefined ? {} : { 'server.port': node.port }), 'dal.replica.role': node.role };
        result.observe(replicaHealthy, Number(node.healthy), nodeAttrs);
        result.observe(replicaReads, node.reads, nodeAttrs);
        if (node.lagMs !== undefined) result.observe(replicaLag, node.lagMs / 1000, nodeAttrs);
        if (node.lagBytes !== undefined) result.observe(replicaLagBytes, node.lagBytes, nodeAttrs);
        if (node.lagTransactions !== undefined) result.observe(replicaLagTransactions, node.lagTransactions, nodeAttrs);
      }
      const key = `\u0000${p.status.hash}\u0000`;
      replay(waitTime, `wait${key}`, metrics.waitTime, attrs);
      replay(useTime, `use${key}`, metrics.useTime, attrs);
      for (const [operation, stats] of Object.entries(metrics.operations)) {
        replay(operationDuration, `op${key}${operation}`, stats.duration, { ...attrs, 'db.operation.name': operation });
      }
    }
    for (const { name, status } of readShardings()) {
      result.observe(shardMapVersion, status.version, { 'dal.sharding.name': name });
      for (const d of status.databases) {
        const attrs = { 'dal.sharding.name': name, 'dal.shard.database': d.name, [SYSTEM_NAME]: dbSystemName(d.backend) };
        result.observe(shardDatabaseRequests, d.requests, attrs);
        result.observe(shardDatabaseErrors, d.errors, attrs);
      }
      for (const s of status.shards) {
        const attrs = { 'dal.sharding.name': name, 'dal.shard': s.shard, 'dal.shard.database': s.database };
        result.observe(shardRequests, s.requests, attrs);
        result.observe(shardErrors, s.errors, attrs);
      }
    }
  };
  meter.addBatchObservableCallback(callback, observables);
  const registration: OtelRegistration = {
    unregister() {
      meter.removeBatchObservableCallback(callback, observables);
      registrations.delete(meterProvider);
    },
  };
  registrations.set(meterProvider, registration);
  return registration;
}

