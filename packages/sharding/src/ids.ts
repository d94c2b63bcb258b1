/**
 * Ids that carry their logical shard, in Instagram's layout (64 bits, sortable by time):
 *
 * ```
 *  63                                    23 22            10 9              0
 * +---------------------------------------+----------------+----------------+
 * | milliseconds since ID_EPOCH_MS (41)   | logical shard  | sequence (10)  |
 * |                                       |     (13)       | [worker|count] |
 * +---------------------------------------+----------------+----------------+
 * ```
 *
 * The epoch is 2024-01-01T00:00:00Z. Ids stay positive as a signed BIGINT until 2^40 ms after
 * it (2058-11) and fit 41 bits until 2093. The sequence counts ids made in the same millisecond
 * for the same shard; with `workerBits` > 0 its high bits hold the process's `workerId`, so
 * processes never make the same id.
 */
import { ConfigError } from '@dal/core';
import { ShardKeyError } from './errors.js';

export const ID_EPOCH_MS = Date.UTC(2024, 0, 1);
export const SHARD_BITS = 13;
export const SEQUENCE_BITS = 10;
/** 2^13: the shard field's capacity, and so the most logical shards a map may have. */
export const MAX_LOGICAL_SHARDS = 1 << SHARD_BITS;
const TIME_BITS = 41;
const MAX_TIME = 2 ** TIME_BITS - 1;

export interface IdOptions {
  /** Bits of the 10-bit sequence given to `workerId` (default 0: ids are unique within one process). */
  workerBits?: number;
  /** This process's number, below 2^workerBits; give each process that makes ids its own. */
  workerId?: number;
  /** The clock (milliseconds since 1970); for tests. */
  now?: () => number;
}

/** The parts of an id. */
export interface DecodedId {
  timestamp: Date;
  shard: number;
  sequence: number;
}

/** Makes ids for logical shards; one per ShardedDatabase. */
export class IdGenerator {
  readonly #workerPrefix: number;
  readonly #countBits: number;
  readonly #now: () => number;
  /** Per shard: the millisecond of the last id and the count used in it. */
  readonly #last = new Map<number, { ms: number; count: number }>();

  constructor(options: IdOptions = {}) {
    const workerBits = options.workerBits ?? 0;
    const workerId = options.workerId ?? 0;
    if (!Number.isInteger(workerBits) || workerBits < 0 || workerBits > SEQUENCE_BITS - 1) {
      throw new ConfigError(`workerBits must be an integer from 0 to ${SEQUENCE_BITS - 1} (got ${String(workerBits)})`);
    }
    if (!Number.isInteger(workerId) || workerId < 0 || workerId >= 2 ** workerBits) {
      throw new ConfigError(`workerId must be an integer from 0 to ${2 ** workerBits - 1} with workerBits ${workerBits} (got ${String(workerId)})`);
    }
    this.#countBits = SEQUENCE_BITS - workerBits;
    this.#workerPrefix = workerId << this.#countBits;
    this.#now = options.now ?? Date.now;
  }

  /** A new id for a logical shard: later ids of this generator sort after earlier ones. */
  next(shard: number): bigint {
    const last = this.#last.get(shard) ?? { ms: -1, count: 0 };
    // Never go back in time (a clock stepped back keeps using the last millisecond).
    let ms = Math.max(this.#now() - ID_EPOCH_MS, last.ms);
    if (ms === last.ms) {
      last.count++;
      if (last.count >= 2 ** this.#countBits) {
        // This millisecond's sequence is used up: wait for the next one (at most 1 ms).
        while ((ms = this.#now() - ID_EPOCH_MS) <= last.ms);
        last.count = 0;
      }
    } else {
      last.count = 0;
    }
    if (ms < 0 || ms > MAX_TIME) throw new ConfigError(`the clock is outside the id range (${ID_EPOCH_MS} .. ${ID_EPOCH_MS + MAX_TIME} ms)`);
    last.ms = ms;
    this.#last.set(shard, last);
    return (BigInt(ms) << BigInt(SHARD_BITS + SEQUENCE_BITS)) | (BigInt(shard) << BigInt(SEQUENCE_BITS)) | BigInt(this.#workerPrefix | last.count);
  }
}

/**
 * Read an id's parts. Accepts a bigint, a decimal string (how PostgreSQL returns BIGINT) or a safe integer.
 * @throws {ShardKeyError} for anything that is not a non-negative 64-bit integer.
 */
export function decodeId(id: bigint | string | number): DecodedId {
  let value: bigint;
  try {
    if (typeof id === 'number' && !Number.isSafeInteger(id)) throw new RangeError('unsafe');
    value = BigInt(id);
  } catch {
    throw new ShardKeyError(`"${String(id)}" is not an id (a 64-bit integer)`);
  }
  if (value < 0n || value >= 1n << 64n) throw new ShardKeyError(`"${String(id)}" is not an id (a 64-bit integer)`);
  return {
    timestamp: new Date(Number(value >> BigInt(SHARD_BITS + SEQUENCE_BITS)) + ID_EPOCH_MS),
    shard: Number((value >> BigInt(SEQUENCE_BITS)) & BigInt(MAX_LOGICAL_SHARDS - 1)),
    sequence: Number(value & BigInt(2 ** SEQUENCE_BITS - 1)),
  };
}
