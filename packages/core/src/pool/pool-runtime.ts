import { DalError } from '@dal/resilience';
import type { TranslateTarget } from '@dal/sql-translate';
import type { DatabaseConfig } from '../config/database-config.js';
import type { Dialect, Driver } from '../driver/driver.js';
import { QueryTimeoutError } from '../errors/errors.js';
import type { Logger } from '../logger.js';
import type { Pool } from './pool.js';
import type { PoolMetrics } from './pool-metrics.js';

/**
 * Everything a live pool's connections share: config, driver, the pool itself, metrics and
 * the logger. One per config hash, owned by PoolManager.
 */
export class PoolRuntime {
  readonly dialect: Dialect;
  readonly translateTarget: TranslateTarget;
  readonly metrics: PoolMetrics;
  readonly #slowMs: number;
  readonly #errorContext: { alias: string; sql?: string };

  constructor(
    readonly config: DatabaseConfig,
    readonly driver: Driver,
    readonly pool: Pool,
    readonly logger: Logger,
  ) {
    this.dialect = driver.dialect;
    this.translateTarget = driver.dialect.translateTarget;
    this.metrics = pool.metrics;
    this.#slowMs = config.slowQueryThresholdMs;
    this.#errorContext = { alias: config.alias };
  }

  /** Native error -> DalError through the dialect; DalErrors pass through. */
  mapError(error: unknown, sql: string | undefined): DalError {
    if (DalError.isInstance(error)) return error;
    return this.dialect.mapError(error, sql === undefined ? this.#errorContext : { alias: this.config.alias, sql });
  }

  /** Count one statement, and log it when slow. */
  recordQuery(durationMs: number, error: DalError | undefined, tags: Readonly<Record<string, unknown>> | undefined, sql: string): void {
    const metrics = this.metrics;
    metrics.queries++;
    metrics.totalQueryMs += durationMs;
    if (error !== undefined) {
      metrics.queryErrors++;
      if (error instanceof QueryTimeoutError) metrics.queryTimeouts++;
    }
    if (durationMs >= this.#slowMs) {
      metrics.slowQueries++;
      this.logger.warn?.(
        { alias: this.config.alias, durationMs: Math.round(durationMs), thresholdMs: this.#slowMs, tags, sql, error: error?.code },
        '[dal] slow query',
      );
    }
  }
}
