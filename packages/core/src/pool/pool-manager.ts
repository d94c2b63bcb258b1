import { TimeoutError } from '@dal/resilience';
import { translationCacheStats } from '@dal/sql-translate';
import { UnsupportedFeatureError } from '../errors/errors.js';
import type { DatabaseConfig } from '../config/database-config.js';
import type { Driver } from '../driver/driver.js';
import type { Logger } from '../logger.js';
import { Pool, type PoolSizes } from './pool.js';
import { PoolMetrics, type PoolMetricsSnapshot, type ScalingAdvice } from './pool-metrics.js';
import { PoolRuntime } from './pool-runtime.js';
import { HostSelector } from './host-selector.js';
import { ConnectionGate } from './connection-gate.js';
import { ReaderCache } from '../connection/reader-cache.js';
import { ReplicaSet, type ReplicaNodeStatus } from '../replicas/replica-set.js';

export interface PoolStatus {
  alias: string;
  hash: string;
  dialect: string;
  env: string;
  /** Database name (file path for SQLite). */
  database: string;
  /** The server new connections go to (changes on failover). */
  server: { host: string; port: number | undefined };
  sizes: PoolSizes;
  /** inUse / max, 0..1. */
  utilisation: number;
  metrics: PoolMetricsSnapshot;
  /** Last health check result, or undefined when none ran yet. */
  healthy: boolean | undefined;
  scaling: ScalingAdvice;
  /** The pool's circuit breaker, or undefined when disabled. */
  circuit: CircuitStatus | undefined;
  /** What the server can still take, from its connection limit (after `refreshCapacity` or a health check). */
  capacity: CapacityAdvice | undefined;
  /** Hit/miss/eviction counts of the caches on this pool's path (translation, entity metadata, ...). */
  caches: Record<string, CacheStats>;
  /** With `replicas` in the config: every server (the configured primary first) with its role, health, lag and reads served. */
  nodes?: ReplicaNodeStatus[];
}

export interface CircuitStatus {
  state: 'closed' | 'open' | 'half-open';
  failures: number;
  rejected: number;
  /** How often it opened since the pool was created. */
  opens: number;
  retryAfterMs: number;
}

export interface CapacityAdvice {
  /** The server's connection limit (`max_connections`). */
  serverMaxConnections: number;
  /** Connections open on the server now, from every client. */
  serverConnections: number;
  /** This pool's maximum size. */
  poolMax: number;
  /** How many more app instances with this pool size the server can take before it is saturated. */
  additionalInstances: number;
  advice: string;
  checkedAt: string;
}

export interface CacheStats {
  hits: number;
  misses: number;
  evictions: number;
  size: number;
}

export interface LeakedConnection {
  alias: string;
  heldForMs: number;
  /** Where it was acquired; empty unless acquisition stacks are tracked (env other than 'prod'). */
  stack: string;
}

export interface OpenPoolOptions {
  logger: Logger;
  trackAcquireStacks: boolean;
}

const HEALTH_CHECK_TIMEOUT_MS = 5_000;

interface ManagedPool {
  /** The `config.hash()` it was opened for, and the backend it serves (see `PoolManager.open`). */
  hash: string;
  backend: string;
  runtime: PoolRuntime;
  hosts: HostSelector;
  healthy: boolean | undefined;
  capacity: CapacityAdvice | undefined;
  opens: number;
}

const cacheStatsProviders = new Map<string, () => CacheStats>([
  [
    'translation',
    () => {
      const { hits, misses, evictions, size } = translationCacheStats();
      return { hits, misses, evictions, size };
    },
  ],
]);

/**
 * Where a pool is registered. Pools are keyed by backend as well as by `config.hash()`: a config
 * that does not name its backend hashes the same for every backend, and a Database must never
 * run on another backend's pool (a "postgres" Database on MariaDB's connections). The user's
 * `config.hash()` still finds the pool (see `getPoolStatus`), so it is not replaced by a hash
 * of the config with its backend filled in, which the user never sees.
 */
function poolKey(hash: string, backend: string): string {
  return `${backend}:${hash}`;
}

/**
 * The process-wide registry of pools, shared per backend and `config.hash()`.
 *
 * ```ts
 * PoolManager.getPoolStatus(config.hash()).scaling; // { level: 'normal', advice: 'no action needed', ... }
 * await PoolManager.closeAll();
 * ```
 */
export class PoolManager {
  /** By poolKey, in the order the pools were opened. */
  static readonly #pools = new Map<string, ManagedPool>();
  static readonly #opening = new Map<string, Promise<PoolRuntime>>();
  /**
   * The connection gate (and so the circuit breaker) of each config, kept when building its pool
   * failed: the next attempt then shares the breaker, so a server that keeps refusing (wrong
   * credentials, down at start-up) opens it and is probed, instead of being dialled by every call.
   */
  static readonly #gates = new Map<string, ConnectionGate>();

  private constructor() {}

  /**
   * @internal Get the live pool of `backend` for a config, creating it (and its first
   * connections) once. Concurrent callers share one creation.
   */
  static open(config: DatabaseConfig, backend: string, loadDriver: () => Promise<Driver>, options: OpenPoolOptions): Promise<PoolRuntime> {
    const key = poolKey(config.hash(), backend);
    const live = PoolManager.#pools.get(key);
    if (live !== undefined && !live.runtime.pool.closed) return Promise.resolve(live.runtime);
    let opening = PoolManager.#opening.get(key);
    if (opening === undefined) {
      opening = PoolManager.#create(config, backend, loadDriver, options).finally(() => PoolManager.#opening.delete(key));
      PoolManager.#opening.set(key, opening);
    }
    return opening;
  }

  /**
   * @internal The live pool of `backend` for a config, built at once when there is none, without
   * opening connections first (for `db.syncConnection()`, which cannot wait): its statements are
   * recorded in the pool's metrics like any other, and the pool opens its connections when first asked.
   */
  static openSync(config: DatabaseConfig, backend: string, driver: Driver, options: OpenPoolOptions): PoolRuntime {
    const live = PoolManager.#live(config.hash(), backend);
    if (live !== undefined) return live;
    const managed = PoolManager.#build(config, backend, driver, options);
    PoolManager.#register(managed);
    PoolManager.#attachReplicas(managed, options);
    return managed.runtime;
  }

  static #live(hash: string, backend: string): PoolRuntime | undefined {
    const live = PoolManager.#pools.get(poolKey(hash, backend));
    return live !== undefined && !live.runtime.pool.closed ? live.runtime : undefined;
  }

  static #register(managed: ManagedPool): void {
    PoolManager.#pools.set(poolKey(managed.hash, managed.backend), managed);
  }

  static async #create(config: DatabaseConfig, backend: string, loadDriver: () => Promise<Driver>, options: OpenPoolOptions): Promise<PoolRuntime> {
    const driver = await loadDriver();
    const built = PoolManager.#live(config.hash(), backend);
    if (built !== undefined) return built;
    const managed = PoolManager.#build(config, backend, driver, options);
    const { pool } = managed.runtime;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        pool.warmUp(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new TimeoutError(`${config.alias}: the pool was not ready within poolCreationTimeoutMs (${config.poolCreationTimeoutMs} ms)`, config.poolCreationTimeoutMs, {
                  retryable: true,
                }),
              ),
            config.poolCreationTimeoutMs,
          );
        }),
      ]);
    } catch (error) {
      managed.runtime.stop({ keepGate: true });
      await pool.close(0);
      await driver.close?.().catch(() => undefined);
      throw error;
    } finally {
      clearTimeout(timer);
    }
    // A synchronous connection built the pool meanwhile: keep that one.
    const meanwhile = PoolManager.#live(config.hash(), backend);
    if (meanwhile !== undefined) {
      managed.runtime.stop({ keepGate: true });
      await pool.close(0);
      return meanwhile;
    }
    PoolManager.#register(managed);
    PoolManager.#attachReplicas(managed, options);
    return managed.runtime;
  }

  /** A config with replicas: start watching its servers; their pools are opened here too, one per server. */
  static #attachReplicas(managed: ManagedPool, options: OpenPoolOptions): void {
    const { runtime, backend } = managed;
    if (runtime.config.replicas.length === 0) return;
    const driver = runtime.driver;
    runtime.replicas = new ReplicaSet(runtime, {
      open: (config) => PoolManager.open(config, backend, () => Promise.resolve(driver), options),
      close: async (config) => {
        await PoolManager.closePool(config.hash(), { backend });
      },
    });
  }

  /** A pool for `config` and everything around it, not yet registered, with no connection open. */
  static #build(config: DatabaseConfig, backend: string, driver: Driver, options: OpenPoolOptions): ManagedPool {
    if (driver.specVersion !== 'v1') {
      throw new UnsupportedFeatureError(
        `${config.alias}: driver declares contract ${String(driver.specVersion)}, this @dal/core supports v1; upgrade the driver or core`,
        'driver-spec',
        driver.dialect?.name,
      );
    }
    if (config.replicas.length > 0 && driver.dialect.replication === undefined) {
      throw new UnsupportedFeatureError(`${config.alias}: the ${driver.dialect.name} backend does not support read replicas`, 'replicas', driver.dialect.name);
    }
    let gate = PoolManager.#gates.get(poolKey(config.hash(), backend));
    if (gate === undefined) {
      gate = new ConnectionGate(config, new HostSelector(config, driver, options.logger));
      PoolManager.#gates.set(poolKey(config.hash(), backend), gate);
    }
    const open = gate;
    const metrics = new PoolMetrics({ alias: config.alias, hash: config.hash() }, config.metricsWindowMs);
    const configured = { min: config.poolMin, max: config.poolMax };
    const sizes = config.poolSizeExplicit ? configured : (driver.defaultPoolSize?.(config) ?? configured);
    const pool = new Pool({
      name: config.alias,
      min: sizes.min,
      max: sizes.max,
      acquireTimeoutMs: config.connectionAcquisitionTimeoutMs,
      createTimeoutMs: config.connectionCreationTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      maxLifetimeMs: config.maxLifetimeMs,
      trackAcquireStacks: options.trackAcquireStacks,
      create: (signal) => open.open(signal),
      readersFor: (conn) => ReaderCache.of(conn, driver.dialect.translateTarget),
      unavailable: (waitedMs) => open.unavailableError(waitedMs),
      metrics,
    });
    const runtime = new PoolRuntime(config, driver, pool, options.logger, gate);
    const managed: ManagedPool = { hash: config.hash(), backend, runtime, hosts: gate.hosts, healthy: true, capacity: undefined, opens: 0 };
    runtime.breaker?.on('open', () => managed.opens++);
    return managed;
  }

  /** The pools opened for `hash` (all when undefined), of `backend` only when given. */
  static #find(hash: string | undefined, backend?: string): ManagedPool[] {
    if (hash !== undefined && backend !== undefined) {
      const managed = PoolManager.#pools.get(poolKey(hash, backend));
      return managed === undefined ? [] : [managed];
    }
    return [...PoolManager.#pools.values()].filter((managed) => hash === undefined || managed.hash === hash);
  }

  /**
   * The pools of `hash` (or all) by the key their statuses are reported under: the config hash,
   * and for a config used by Databases of several backends, `hash:backend` for every pool after the first.
   */
  static #keyed(hash: string | undefined): [string, ManagedPool][] {
    const out: [string, ManagedPool][] = [];
    const seen = new Set<string>();
    for (const managed of PoolManager.#find(hash)) {
      out.push([seen.has(managed.hash) ? `${managed.hash}:${managed.backend}` : managed.hash, managed]);
      seen.add(managed.hash);
    }
    return out;
  }

  /**
   * Sizes, utilisation, metrics, health and scaling advice of the pool of `config.hash()`;
   * undefined if there is none. When Databases of several backends were made from one config,
   * each has its own pool: `backend` picks one, else the first opened is reported.
   */
  static getPoolStatus(hash: string, backend?: string): PoolStatus | undefined {
    const managed = PoolManager.#find(hash, backend)[0];
    return managed === undefined ? undefined : PoolManager.#status(managed);
  }

  static #status(managed: ManagedPool): PoolStatus {
    const { runtime, hash } = managed;
    const sizes = runtime.pool.sizes();
    const breaker = runtime.breaker;
    const caches: Record<string, CacheStats> = {};
    for (const [name, provider] of cacheStatsProviders) caches[name] = provider();
    return {
      alias: runtime.config.alias,
      hash,
      dialect: runtime.dialect.name,
      env: runtime.config.env,
      database: runtime.config.database,
      server: managed.hosts.currentAddress,
      sizes,
      utilisation: sizes.max === 0 ? 0 : sizes.inUse / sizes.max,
      metrics: runtime.metrics.snapshot(),
      healthy: managed.healthy,
      scaling: runtime.metrics.scaling(),
      circuit:
        breaker === undefined
          ? undefined
          : { state: breaker.state, failures: breaker.failures, rejected: breaker.rejected, opens: managed.opens, retryAfterMs: breaker.retryAfterMs },
      capacity: managed.capacity,
      caches,
      ...(runtime.replicas === undefined ? {} : { nodes: runtime.replicas.statuses() }),
    };
  }

  /**
   * Status of every pool keyed by hash, or of the pools of one hash. A config used by Databases
   * of several backends has a pool each: the first is under the hash, the others under `hash:backend`.
   */
  static getPoolMetrics(hash?: string): Record<string, PoolStatus> {
    const out: Record<string, PoolStatus> = {};
    for (const [key, managed] of PoolManager.#keyed(hash)) out[key] = PoolManager.#status(managed);
    return out;
  }

  /** Acquire and ping one connection of every pool: `{ [alias]: healthy }`. */
  static async healthCheckAllPools(): Promise<Record<string, boolean>> {
    const entries = [...PoolManager.#pools.values()];
    const results = await Promise.all(
      entries.map(async (managed) => {
        const { pool, config } = managed.runtime;
        const signal = AbortSignal.timeout(HEALTH_CHECK_TIMEOUT_MS);
        let healthy = false;
        try {
          const entry = await pool.acquire(signal);
          try {
            await entry.conn.ping({ signal });
            healthy = true;
          } catch {
            pool.discardOnRelease(entry);
          } finally {
            pool.release(entry);
          }
        } catch {
          healthy = false;
        }
        managed.healthy = healthy;
        if (healthy) await PoolManager.#refreshCapacity(managed).catch(() => undefined);
        return [config.alias, healthy] as const;
      }),
    );
    return Object.fromEntries(results);
  }

  /** Connections held longer than `thresholdMs` (default 5 min), with where they were acquired; each is logged once. */
  static async checkForLeakedConnections(options: { thresholdMs?: number } = {}): Promise<LeakedConnection[]> {
    const threshold = options.thresholdMs ?? 300_000;
    return [...PoolManager.#pools.values()].flatMap(({ runtime }) => runtime.reportLeaks(threshold));
  }

  /**
   * Read the server's connection limit for one pool (or all) and work out how many more app
   * instances of this pool size it can take. The result shows in `getPoolStatus(hash).capacity`.
   */
  static async refreshCapacity(hash?: string): Promise<Record<string, CapacityAdvice | undefined>> {
    const out: Record<string, CapacityAdvice | undefined> = {};
    for (const [key, managed] of PoolManager.#keyed(hash)) out[key] = await PoolManager.#refreshCapacity(managed);
    return out;
  }

  static async #refreshCapacity(managed: ManagedPool): Promise<CapacityAdvice | undefined> {
    const { runtime } = managed;
    const sql = runtime.dialect.connectionLimitsSql;
    if (sql === undefined) return undefined;
    const entry = await runtime.acquire(AbortSignal.timeout(HEALTH_CHECK_TIMEOUT_MS));
    let row: Record<string, unknown> | undefined;
    try {
      const result = await entry.conn.execute<Record<string, unknown>>(sql, [], { rowMode: 'object', timeoutMs: HEALTH_CHECK_TIMEOUT_MS });
      row = result.rows[0];
    } finally {
      runtime.pool.release(entry);
    }
    const serverMaxConnections = Number(row?.['max_connections']);
    const serverConnections = Number(row?.['current_connections']);
    if (!Number.isFinite(serverMaxConnections) || !Number.isFinite(serverConnections)) return undefined;
    const { max: poolMax, size } = runtime.pool.sizes();
    // Room left on the server, counting this pool at its full size.
    const free = serverMaxConnections - serverConnections - (poolMax - size);
    const additionalInstances = Math.max(0, Math.floor(free / poolMax));
    managed.capacity = {
      serverMaxConnections,
      serverConnections,
      poolMax,
      additionalInstances,
      advice:
        additionalInstances === 0
          ? `the server is saturated (${serverConnections} of ${serverMaxConnections} connections): add database capacity or shard before adding app instances`
          : `the server can take about ${additionalInstances} more app instance(s) with poolMax ${poolMax} (${serverConnections} of ${serverMaxConnections} connections in use)`,
      checkedAt: new Date().toISOString(),
    };
    return managed.capacity;
  }

  /** Report a cache's counters in every pool status under `name` (used by @dal/entities). */
  static registerCacheStats(name: string, provider: () => CacheStats): void {
    cacheStatsProviders.set(name, provider);
  }

  /**
   * Close the pool of `config.hash()` (of every backend using that config, or of `backend` only):
   * waiters are rejected, idle connections closed, connections in use get up to `timeoutMs`
   * (default 30 s) to come back. Returns false when there was no such pool.
   */
  static async closePool(hash: string, options: { timeoutMs?: number; backend?: string } = {}): Promise<boolean> {
    // A pool still being built is closed once it is: otherwise it would be registered afterwards.
    for (const [key, opening] of PoolManager.#opening) {
      if (PoolManager.#matches(key, hash, options.backend)) await opening.catch(() => undefined);
    }
    for (const [key, gate] of PoolManager.#gates) {
      if (!PoolManager.#matches(key, hash, options.backend)) continue;
      gate.close();
      PoolManager.#gates.delete(key);
    }
    const found = PoolManager.#find(hash, options.backend);
    await Promise.all(found.map((managed) => PoolManager.#close(managed, options.timeoutMs)));
    return found.length > 0;
  }

  /** Close every pool of the process. */
  static async closeAll(options: { timeoutMs?: number } = {}): Promise<void> {
    for (const gate of PoolManager.#gates.values()) gate.close();
    PoolManager.#gates.clear();
    await Promise.all(PoolManager.#find(undefined).map((managed) => PoolManager.#close(managed, options.timeoutMs)));
  }

  /** True when the poolKey `key` belongs to `hash` (and to `backend`, when given). */
  static #matches(key: string, hash: string, backend: string | undefined): boolean {
    return backend === undefined ? key.endsWith(`:${hash}`) : key === poolKey(hash, backend);
  }

  static async #close(managed: ManagedPool, timeoutMs = 30_000): Promise<void> {
    PoolManager.#pools.delete(poolKey(managed.hash, managed.backend));
    await managed.runtime.replicas?.close();
    managed.runtime.stop();
    await managed.runtime.pool.close(timeoutMs);
    await managed.runtime.driver.close?.().catch(() => undefined);
  }
}
