/**
 * Errors of @dal/sharding. Each extends the core error whose code and meaning fit, so code that
 * already handles `ConfigError`, `TransactionError` or `TimeoutError` handles these too; the
 * class (and `name`) tells them apart. (New `DAL_*` codes would mean editing the code union in
 * @dal/resilience, which this package does not own.)
 */
import { ConfigError, TimeoutError, TransactionError, type DalErrorOptions } from '@dal/core';

/** A shard map (or a change to it) is invalid: unassigned shard, unknown database, older version, ... */
export class ShardMapError extends ConfigError {
  override readonly name: string = 'ShardMapError';
}

/**
 * Work that would span two logical shards: a statement for shard B inside a transaction of shard A,
 * or a key that belongs to another shard than the handle it was used with. Not retryable: fix the code.
 */
export class CrossShardError extends TransactionError {
  override readonly name: string = 'CrossShardError';
  constructor(message: string, readonly shard: number, readonly otherShard: number) {
    super(message);
  }
}

/**
 * The logical shard is frozen for a move and stayed frozen longer than `freezeWaitMs`; the
 * operation never ran. Retryable: once the move switches the map, it goes to the new database.
 */
export class ShardMovingError extends TimeoutError {
  override readonly name: string = 'ShardMovingError';
  constructor(message: string, readonly shard: number, waitedMs: number, options: DalErrorOptions = {}) {
    super(message, waitedMs, { retryable: true, ...options });
  }
}

/**
 * The logical shard left the database this process routed to, at a map version newer than the
 * one it routes by (another process moved it). The operation never ran. Retryable once the newer
 * map is loaded (`reloadMap`, or the `loadMap` option, which does it and retries by itself).
 */
export class StaleShardMapError extends ShardMovingError {
  override readonly name: string = 'StaleShardMapError';
  constructor(message: string, shard: number, readonly leftAtVersion: number, options: DalErrorOptions = {}) {
    super(message, shard, 0, options);
  }
}

/**
 * A move stopped before switching the map: the shard still lives on its source database, every
 * write went there, and the copy on the target is left for the next attempt (which resumes it).
 */
export class ShardMoveError extends TransactionError {
  override readonly name: string = 'ShardMoveError';
  constructor(message: string, readonly shard: number, options: DalErrorOptions = {}) {
    super(message, options);
  }
}

/** A key that cannot be routed: not a string, an integer or a bigint, or empty. */
export class ShardKeyError extends ConfigError {
  override readonly name: string = 'ShardKeyError';
}
