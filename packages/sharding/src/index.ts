export { ShardedDatabase, ShardHandle } from './sharded-database.js';
export type {
  ShardedDatabaseOptions,
  ForEachShardOptions,
  PhysicalShardInfo,
  ShardResult,
  MoveShardOptions,
  MoveReport,
  ShardCounters,
  ShardingStatus,
} from './sharded-database.js';
export { ShardMap } from './shard-map.js';
export type { ShardMapJSON, ShardDatabaseSpec } from './shard-map.js';
export { hashRouter, rangeRouter, directoryRouter, fnv1a64 } from './routing.js';
export type { ShardKey, ShardRouter } from './routing.js';
export { decodeId, ID_EPOCH_MS, SHARD_BITS, SEQUENCE_BITS, MAX_LOGICAL_SHARDS } from './ids.js';
export type { DecodedId, IdOptions } from './ids.js';
export type { ShardedTable, TableDigest, SyncCounts } from './table-sync.js';
export { ShardMapError, ShardKeyError, CrossShardError, ShardMovingError, StaleShardMapError, ShardMoveError } from './errors.js';
export { FENCE_TABLE, FENCE_LOCK_KEY } from './shard-fence.js';
