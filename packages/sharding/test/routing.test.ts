import { describe, expect, it } from 'vitest';
import { ConfigError } from '@dal/core';
import {
  CrossShardError,
  ID_EPOCH_MS,
  ShardKeyError,
  ShardMap,
  ShardMapError,
  ShardedDatabase,
  decodeId,
  directoryRouter,
  fnv1a64,
  hashRouter,
  rangeRouter,
  type ShardMapJSON,
} from '../src/index.js';

/** FNV-1a 64 written the textbook way, with BigInt, to check the limb arithmetic against. */
function referenceFnv(text: string): bigint {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * 0x100000001b3n);
  return hash;
}

function sqliteMap(logicalShards: number, databases: number, version = 1): ShardMapJSON {
  const per = logicalShards / databases;
  const json: ShardMapJSON = { version, logicalShards, databases: {}, shards: {} };
  for (let i = 0; i < databases; i++) {
    json.databases[`db${i}`] = { backend: 'sqlite', config: { database: `/tmp/dal-shard-unit-${i}.db` } };
    json.shards[`${i * per}-${(i + 1) * per - 1}`] = `db${i}`;
  }
  return json;
}

describe('hash routing', () => {
  it('is 64-bit FNV-1a of the UTF-8 bytes (published vectors, and a BigInt reference)', () => {
    expect(fnv1a64('')).toBe(0xcbf29ce484222325n);
    expect(fnv1a64('a')).toBe(0xaf63dc4c8601ec8cn);
    expect(fnv1a64('foobar')).toBe(0x85944171f73967e8n);
    for (const text of ['tenant-1', 'ünïcødé ✓ 𝄞', 'x'.repeat(1000), '\u0000\uffff']) expect(fnv1a64(text)).toBe(referenceFnv(text));
  });

  it('routes fixed keys to fixed shards (a change here re-routes stored data)', () => {
    // Computed independently (Python, same definition): fnv1a64(utf8(key)) mod N.
    const expected: Array<[string | number, number, number]> = [
      ['tenant-1', 11, 139],
      ['tenant-2', 62, 574],
      ['acme', 15, 527],
      ['ünïcødé', 32, 672],
      [42, 35, 547],
    ];
    for (const [key, of64, of1024] of expected) {
      expect(hashRouter(key, 64)).toBe(of64);
      expect(hashRouter(key, 1024)).toBe(of1024);
    }
    expect(hashRouter(42n, 64)).toBe(hashRouter('42', 64));
  });

  it('spreads keys evenly over the logical shards', () => {
    const counts = new Array<number>(64).fill(0);
    for (let i = 0; i < 64_000; i++) counts[hashRouter(`tenant-${i}`, 64)]!++;
    expect(Math.min(...counts)).toBeGreaterThan(800);
    expect(Math.max(...counts)).toBeLessThan(1200);
  });

  it('rejects keys it cannot route with ShardKeyError', () => {
    for (const bad of ['', 1.5, Number.NaN, 2 ** 60, {} as never, null as never]) expect(() => hashRouter(bad, 8)).toThrow(ShardKeyError);
    expect(new ShardKeyError('x')).toBeInstanceOf(ConfigError);
  });

  it('range and directory routers replace the hash', () => {
    const range = rangeRouter([100, 200, 300]);
    expect([0, 99, 100, 250, 300, 10_000].map((key) => range(key, 4))).toEqual([0, 0, 1, 2, 3, 3]);
    expect(() => range(5, 8)).toThrow(ShardMapError);
    expect(() => rangeRouter([3, 2])).toThrow(ShardMapError);
    const vip = new Map<string, number>([['big-customer', 7]]);
    const directory = directoryRouter((key) => vip.get(String(key)));
    expect(directory('big-customer', 8)).toBe(7);
    expect(directory('tenant-1', 8)).toBe(hashRouter('tenant-1', 8));
  });

  it('a router that answers outside the map is a ShardMapError', async () => {
    const sharded = new ShardedDatabase(ShardMap.fromJSON(sqliteMap(4, 2)), { router: () => 9 });
    expect(() => sharded.shardOf('a')).toThrow(ShardMapError);
    await sharded.close();
  });
});

describe('ShardMap', () => {
  it('round-trips through JSON with ranges, and withShardOn makes the next version', () => {
    const map = ShardMap.fromJSON(JSON.stringify(sqliteMap(16, 4)));
    expect(map.toJSON().shards).toEqual({ '0-3': 'db0', '4-7': 'db1', '8-11': 'db2', '12-15': 'db3' });
    expect(map.shardsOf('db2')).toEqual([8, 9, 10, 11]);
    const moved = map.withShardOn(9, 'db0');
    expect(moved.version).toBe(2);
    expect(moved.databaseOf(9)).toBe('db0');
    expect(moved.toJSON().shards).toEqual({ '0-3': 'db0', '4-7': 'db1', '8': 'db2', '9': 'db0', '10-11': 'db2', '12-15': 'db3' });
    expect(ShardMap.fromJSON(moved.toJSON()).sameAs(moved)).toBe(true);
    expect(map.databaseOf(9)).toBe('db2'); // maps are immutable
    const added = map.withShardOn(0, 'db4', { backend: 'sqlite', config: { database: '/tmp/dal-shard-unit-4.db' } });
    expect(added.physical('db4').config.alias).toBe('db4');
  });

  it('rejects maps that would misroute', () => {
    const base = sqliteMap(8, 2);
    const bad: Array<[string, ShardMapJSON | string]> = [
      ['unassigned', { ...base, shards: { '0-6': 'db0' } }],
      ['twice', { ...base, shards: { '0-7': 'db0', '3': 'db1' } }],
      ['unknown database', { ...base, shards: { '0-7': 'nowhere' } }],
      ['out of range', { ...base, shards: { '0-8': 'db0' } }],
      ['not a range', { ...base, shards: { 'a-b': 'db0' } }],
      ['version 0', { ...base, version: 0 }],
      ['too many shards', { ...base, logicalShards: 8193 }],
      ['same database twice', { ...base, databases: { db0: base.databases['db0']!, db1: base.databases['db0']! } }],
      ['bad settings', { ...base, databases: { ...base.databases, db1: { backend: 'sqlite', config: { database: 'x', poolMax: -1 } } } }],
      ['no backend', { ...base, databases: { ...base.databases, db1: { config: { database: 'x' } } } }],
      ['not JSON', '{ nope'],
    ];
    for (const [why, json] of bad) expect(() => ShardMap.fromJSON(json), why).toThrow(ShardMapError);
  });

  it('reloadMap takes newer versions only, and never a new shard count', async () => {
    const sharded = new ShardedDatabase(ShardMap.fromJSON(sqliteMap(8, 2)));
    const v2 = sharded.map.withShardOn(0, 'db1');
    sharded.reloadMap(v2);
    expect(sharded.map.version).toBe(2);
    sharded.reloadMap(ShardMap.fromJSON(v2.toJSON())); // same version, same content: no-op
    expect(() => sharded.reloadMap(ShardMap.fromJSON(sqliteMap(8, 2)))).toThrow(ShardMapError);
    expect(() => sharded.reloadMap(ShardMap.fromJSON(sqliteMap(16, 2, 9)))).toThrow(/re-routes every key/);
    await sharded.close();
  });

  it('a transaction over keys of two shards is a CrossShardError before anything runs', async () => {
    const sharded = new ShardedDatabase(ShardMap.fromJSON(sqliteMap(64, 2)));
    let ran = false;
    await expect(sharded.transaction(['tenant-1', 'tenant-2'], async () => (ran = true))).rejects.toBeInstanceOf(CrossShardError);
    expect(ran).toBe(false);
    expect(() => sharded.shard('tenant-1').assertOwns('tenant-2')).toThrow(CrossShardError);
    expect(sharded.shard('tenant-1').owns('tenant-1')).toBe(true);
    await sharded.close();
  });
});

describe('ids', () => {
  it('carry time, shard and sequence in Instagram layout, and sort by time', () => {
    let now = ID_EPOCH_MS + 1_000;
    const sharded = new ShardedDatabase(ShardMap.fromJSON(sqliteMap(64, 2)), { now: () => now });
    const a = sharded.newId('tenant-1');
    const b = sharded.newId('tenant-1');
    now += 5;
    const c = sharded.newId('tenant-2');
    expect(a).toBe((1_000n << 23n) | (11n << 10n)); // time 1000 ms, shard 11, sequence 0
    expect(b).toBe(a + 1n);
    expect(decodeId(c)).toEqual({ timestamp: new Date(ID_EPOCH_MS + 1_005), shard: 62, sequence: 0 });
    expect(c > b).toBe(true);
    expect(sharded.shardOfId(String(c))).toBe(sharded.shardOf('tenant-2'));
    expect(sharded.shardForId(a).shard).toBe(11);
    expect(() => sharded.shardOfId('12abc')).toThrow(ShardKeyError);
    expect(() => decodeId(-1n)).toThrow(ShardKeyError);
    void sharded.close();
  });

  it('wait for the next millisecond when one millisecond runs out of sequence', () => {
    let now = ID_EPOCH_MS + 50;
    let reads = 0;
    const sharded = new ShardedDatabase(ShardMap.fromJSON(sqliteMap(4, 2)), {
      now: () => {
        reads++;
        if (reads > 1_030) now = ID_EPOCH_MS + 51; // the clock moves on once the generator spins
        return now;
      },
    });
    const ids = Array.from({ length: 1_025 }, () => sharded.newId(7));
    expect(new Set(ids).size).toBe(1_025);
    expect(decodeId(ids[1_023]!)).toMatchObject({ sequence: 1_023, timestamp: new Date(ID_EPOCH_MS + 50) });
    expect(decodeId(ids[1_024]!)).toMatchObject({ sequence: 0, timestamp: new Date(ID_EPOCH_MS + 51) });
    void sharded.close();
  });

  it('keep processes apart with workerBits / workerId', () => {
    const now = (): number => ID_EPOCH_MS + 7;
    const map = ShardMap.fromJSON(sqliteMap(4, 2));
    const one = new ShardedDatabase(map, { now, workerBits: 2, workerId: 1 });
    const two = new ShardedDatabase(map, { now, workerBits: 2, workerId: 2 });
    const ids = new Set<bigint>();
    for (let i = 0; i < 200; i++) ids.add(one.newId('k')).add(two.newId('k'));
    expect(ids.size).toBe(400);
    expect(() => new ShardedDatabase(map, { workerBits: 2, workerId: 4 })).toThrow(ConfigError);
    void one.close();
    void two.close();
  });
});
