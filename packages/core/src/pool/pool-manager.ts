import { UnsupportedFeatureError, ConnectionError } from '../errors/errors.js';
import type { DatabaseConfig } from '../config/database-config.js';
import type { Driver } from '../driver/driver.js';
import type { Logger } from '../logger.js';
import { Pool, type PoolSizes } from './pool.js';
import { PoolMetrics, type PoolMetricsSnapshot, type ScalingAdvice } from './pool-metrics.js';
import { PoolRuntime } from './pool-runtime.js';

export interface PoolStatus {
  alias: string;
  hash: string;
  dialect: string;
  sizes: PoolSizes;
  /** inUse / max, 0..1. */
  utilisation: number;
  metrics: PoolMetricsSnapshot;
  /** Last health check result, or undefined when none ran yet. */
  healthy: boolean | undefined;
  scaling: ScalingAdvice;
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
  runtime: PoolRuntime;
  healthy: boolean | undefined;
}

/**
 * The process-wide registry of pools, shared per `config.hash()`.
 *
 * ```ts
 * PoolManager.getPoolStatus(config.hash()).scaling; // { level: 'normal', advice: 'no action needed', ... }
 * await PoolManager.closeAll();
 * ```
 */
export class PoolManager {
  static readonly #pools = new Map<string, ManagedPool>();
  static readonly #opening = new Map<string, Promise<PoolRuntime>>();

  private constructor() {}

  /**
   * @internal Get the live pool for a config, creating it (and its first connections) once.
   * Concurrent callers share one creation.
   */
  static open(config: DatabaseConfig, loadDriver: () => Promise<Driver>, options: OpenPoolOptions): Promise<PoolRuntime> {
    const hash = config.hash();
    const live = PoolManager.#pools.get(hash);
    if (live !== undefined && !live.runtime.pool.closed) return Promise.resolve(live.runtime);
    let opening = PoolManager.#opening.get(hash);
    if (opening === undefined) {
      opening = PoolManager.#create(config, loadDriver, options).finally(() => PoolManager.#opening.delete(hash));
      PoolManager.#opening.set(hash, opening);
    }
    return opening;
  }

  static async #create(config: DatabaseConfig, loadDriver: () => Promise<Driver>, options: OpenPoolOptions): Promise<PoolRuntime> {
    const driver = await loadDriver();
    if (driver.specVersion !== 'v1') {
      throw new UnsupportedFeatureError(
        `${config.alias}: driver declares contract ${String(driver.specVersion)}, this @dal/core supports v1; upgrade the driver or core`,
        'driver-spec',
        driver.dialect?.name,
      );
    }
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
      create: (signal) => driver.connect(config, { signal }),
      metrics: new PoolMetrics(),
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        pool.warmUp(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new ConnectionError(`${config.alias}: the pool was not ready within poolCreationTimeoutMs (${config.poolCreationTimeoutMs} ms)`)),
            config.poolCreationTimeoutMs,
          );
        }),
      ]);
    } catch (error) {
      await pool.close(0);
      await driver.close?.().catch(() => undefined);
      throw error;
    } finally {
      clearTimeout(timer);
    }
    const runtime = new PoolRuntime(config, driver, pool, options.logger);
    PoolManager.#pools.set(config.hash(), { runtime, healthy: true });
    return runtime;
  }

  /** Sizes, utilisation, metrics, health and scaling advice of one pool; undefined if there is none. */
  static getPoolStatus(hash: string): PoolStatus | undefined {
    const managed = PoolManager.#pools.get(hash);
    if (managed === undefined) return undefined;
    const { runtime } = managed;
    const sizes = runtime.pool.sizes();
    return {
      alias: runtime.config.alias,
      hash,
      dialect: runtime.dialect.name,
      sizes,
      utilisation: sizes.max === 0 ? 0 : sizes.inUse / sizes.max,
      metrics: runtime.metrics.snapshot(),
      healthy: managed.healthy,
      scaling: runtime.metrics.scaling(),
    };
  }

  /** Status of every pool keyed by hash, or of one pool when a hash is given. */
  static getPoolMetrics(hash?: string): Record<string, PoolStatus> {
    const out: Record<string, PoolStatus> = {};
    for (const key of hash === undefined ? PoolManager.#pools.keys() : [hash]) {
      const status = PoolManager.getPoolStatus(key);
      if (status !== undefined) out[key] = status;
    }
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
            entry.discard = true;
          } finally {
            pool.release(entry);
          }
        } catch {
          healthy = false;
        }
        managed.healthy = healthy;
        return [config.alias, healthy] as const;
      }),
    );
    return Object.fromEntries(results);
  }

  /** Connections held longer than `thresholdMs` (default 5 min), with where they were acquired. */
  static async checkForLeakedConnections(options: { thresholdMs?: number } = {}): Promise<LeakedConnection[]> {
    const threshold = options.thresholdMs ?? 300_000;
    const now = performance.now();
    const leaks: LeakedConnection[] = [];
    for (const { runtime } of PoolManager.#pools.values()) {
      for (const entry of runtime.pool.inUseEntries()) {
        const heldForMs = now - entry.acquiredAt;
        if (heldForMs < threshold) continue;
        const leak = { alias: runtime.config.alias, heldForMs: Math.round(heldForMs), stack: entry.acquireStack?.stack ?? '' };
        runtime.logger.warn?.({ ...leak }, '[dal] connection held longer than the leak threshold');
        leaks.push(leak);
      }
    }
    return leaks;
  }

  /**
   * Close one pool: waiters are rejected, idle connections closed, connections in use get up
   * to `timeoutMs` (default 30 s) to come back. Returns false when there was no such pool.
   */
  static async closePool(hash: string, options: { timeoutMs?: number } = {}): Promise<boolean> {
    const managed = PoolManager.#pools.get(hash);
    if (managed === undefined) return false;
    PoolManager.#pools.delete(hash);
    await managed.runtime.pool.close(options.timeoutMs ?? 30_000);
    await managed.runtime.driver.close?.().catch(() => undefined);
    return true;
  }

  /** Close every pool of the process. */
  static async closeAll(options: { timeoutMs?: number } = {}): Promise<void> {
    await Promise.all([...PoolManager.#pools.keys()].map((hash) => PoolManager.closePool(hash, options)));
  }
}
