/**
 * Key -> logical shard. The default is a stable hash that every process (and every language)
 * computes alike: 64-bit FNV-1a of the key's UTF-8 bytes, modulo the number of logical shards.
 * Integers and bigints are hashed as their decimal text, so `42`, `42n` and `'42'` route alike.
 */
import { ShardKeyError, ShardMapError } from './errors.js';

/** What a shard key may be: a tenant id, a user id, a workspace id, ... */
export type ShardKey = string | number | bigint;

/** Maps a key to a logical shard in `[0, logicalShards)`. Must be pure: same key, same shard, in every process. */
export type ShardRouter = (key: ShardKey, logicalShards: number) => number;

const encoder = new TextEncoder();

/** The key's bytes: UTF-8 of the string, or of the integer's decimal form. */
function keyBytes(key: ShardKey): Uint8Array {
  if (typeof key === 'string') {
    if (key.length === 0) throw new ShardKeyError('a shard key must not be empty');
    return encoder.encode(key);
  }
  if (typeof key === 'bigint' || (typeof key === 'number' && Number.isSafeInteger(key))) return encoder.encode(String(key));
  throw new ShardKeyError(`a shard key must be a non-empty string, a safe integer or a bigint (got ${typeof key === 'number' ? String(key) : typeof key})`);
}

/**
 * 64-bit FNV-1a (offset basis 0xcbf29ce484222325, prime 0x100000001b3), computed in four 16-bit
 * limbs so it stays in exact double arithmetic without BigInt on the routing path.
 */
export function fnv1a64(data: Uint8Array | string): bigint {
  const bytes = typeof data === 'string' ? encoder.encode(data) : data;
  let h0 = 0x2325;
  let h1 = 0x8422;
  let h2 = 0x9ce4;
  let h3 = 0xcbf2;
  for (const byte of bytes) {
    h0 ^= byte;
    // h * (2^40 + 0x1b3): the 2^40 part shifts limbs 0 and 1 up by two limbs and 8 bits.
    const t0 = h0 * 0x1b3;
    const t1 = h1 * 0x1b3 + (t0 >>> 16);
    const t2 = h2 * 0x1b3 + (h0 << 8) + (t1 >>> 16);
    const t3 = h3 * 0x1b3 + (h1 << 8) + (t2 >>> 16);
    h0 = t0 & 0xffff;
    h1 = t1 & 0xffff;
    h2 = t2 & 0xffff;
    h3 = t3 & 0xffff;
  }
  return (BigInt(h3 * 0x10000 + h2) << 32n) | BigInt(h1 * 0x10000 + h0);
}

/** The default router: `fnv1a64(utf8(key)) mod logicalShards`. */
export const hashRouter: ShardRouter = (key, logicalShards) => Number(fnv1a64(keyBytes(key)) % BigInt(logicalShards));

/**
 * Ranges of ordered keys: shard i holds the keys below `upperBounds[i]` (and at or above the
 * previous bound); the last shard holds the rest, so give `logicalShards - 1` bounds. Numbers and
 * bigints compare numerically, strings by UTF-16 code units; use one kind of key per router.
 */
export function rangeRouter(upperBounds: readonly ShardKey[]): ShardRouter {
  for (let i = 1; i < upperBounds.length; i++) {
    if (!(upperBounds[i - 1]! < upperBounds[i]!)) throw new ShardMapError(`rangeRouter: bounds must be strictly increasing (bound ${i} is not above bound ${i - 1})`);
  }
  return (key, logicalShards) => {
    keyBytes(key); // same key validation as the hash router
    if (upperBounds.length !== logicalShards - 1) {
      throw new ShardMapError(`rangeRouter: ${upperBounds.length} bounds for ${logicalShards} logical shards; give logicalShards - 1`);
    }
    let low = 0;
    let high = upperBounds.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (key < upperBounds[mid]!) high = mid;
      else low = mid + 1;
    }
    return low;
  };
}

/**
 * A directory: `lookup(key)` names the shard of keys placed by hand (a big tenant on a shard of
 * its own); other keys fall back to `fallback` (the hash router by default). Every process must
 * see the same directory.
 */
export function directoryRouter(lookup: (key: ShardKey) => number | undefined, fallback: ShardRouter = hashRouter): ShardRouter {
  return (key, logicalShards) => lookup(key) ?? fallback(key, logicalShards);
}

/** Run a router and check that what it returned is a shard of the map. */
export function routeKey(router: ShardRouter, key: ShardKey, logicalShards: number): number {
  const shard = router(key, logicalShards);
  if (!Number.isInteger(shard) || shard < 0 || shard >= logicalShards) {
    throw new ShardMapError(`the shard router returned ${String(shard)} for a key; it must be an integer in [0, ${logicalShards})`);
  }
  return shard;
}
