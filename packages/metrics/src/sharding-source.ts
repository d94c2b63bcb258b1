import { ConfigError } from '@dal/core';

/**
 * What a sharded database reports about itself: requests and errors per physical database and
 * per logical shard, counted in this process. `ShardedDatabase.status()` of @dal/sharding has
 * this shape; any other router can implement it (this package does not depend on @dal/sharding).
 */
export interface ShardingSourceStatus {
  /** The shard map version the process routes by. */
  version: number;
  logicalShards: number;
  databases: ReadonlyArray<{ name: string; backend: string; shards: readonly number[]; requests: number; errors: number }>;
  shards: ReadonlyArray<{ shard: number; database: string; state: string; inFlight: number; requests: number; errors: number }>;
}

/** A source of `ShardingSourceStatus`, read at each scrape, collection or dashboard poll. */
export interface ShardingSource {
  status(): ShardingSourceStatus;
}

/** What `registerShardingSource` returns. */
export interface ShardingRegistration {
  /** Stop exporting the source (e.g. after `sharded.close()`). */
  unregister(): void;
}

/** One registered source as the exporters see it. */
export interface ShardingView {
  /** The registration name: the `sharding` label / `dal.sharding.name` attribute. */
  name: string;
  status: ShardingSourceStatus;
}

const sources = new Map<string, { source: ShardingSource; registration: ShardingRegistration }>();

/**
 * Export a sharded database's status per physical database and per logical shard through
 * `prometheusText()` (`dal_shard_requests_total{sharding,shard,database}`, ...), the OpenTelemetry
 * bridge and the dashboard. The same source under the same name again returns the first registration.
 *
 * ```ts
 * const sharded = new ShardedDatabase(map, options);
 * const registration = registerShardingSource('orders', sharded);
 * // ... at shutdown
 * registration.unregister();
 * ```
 * @throws {ConfigError} for an empty name, a source without `status()`, or a name taken by another source.
 */
export function registerShardingSource(name: string, source: ShardingSource): ShardingRegistration {
  if (typeof name !== 'string' || name.length === 0) throw new ConfigError('registerShardingSource: name must be a non-empty string');
  if (typeof source?.status !== 'function') throw new ConfigError(`registerShardingSource("${name}"): the source needs a status() method`);
  const existing = sources.get(name);
  if (existing !== undefined) {
    if (existing.source === source) return existing.registration;
    throw new ConfigError(`registerShardingSource: "${name}" is registered for another source; unregister it first or pick another name`);
  }
  const registration: ShardingRegistration = {
    unregister() {
      if (sources.get(name)?.source === source) sources.delete(name);
    },
  };
  sources.set(name, { source, registration });
  return registration;
}

/** Every registered source's status now, by name. A source whose status() throws is left out of this read. */
export function readShardings(): ShardingView[] {
  const views: ShardingView[] = [];
  for (const [name, { source }] of sources) {
    try {
      views.push({ name, status: source.status() });
    } catch {
      // A closed or broken source must not break the scrape of everything else.
    }
  }
  return views;
}
