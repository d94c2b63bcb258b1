import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FENCE_TABLE, ShardMap, ShardMoveError, ShardMovingError, ShardedDatabase, StaleShardMapError, type ShardMapJSON, type ShardedDatabaseOptions } from '../src/index.js';

describe('@dal/sharding on SQLite files', () => {
  const dirs: string[] = [];
  /** The version-1 map each set-up used: another process that has not heard of any move. */
  const maps = new Map<ShardedDatabase, ShardMapJSON>();
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  async function setUp(safeIntegers: boolean, options: ShardedDatabaseOptions = {}): Promise<ShardedDatabase> {
    const dir = mkdtempSync(join(tmpdir(), 'dal-shard-sqlite-'));
    dirs.push(dir);
    const config = (i: number) => ({ database: join(dir, `db${i}.sqlite`), ...(safeIntegers ? { driverOptions: { safeIntegers: true } } : {}) });
    const json: ShardMapJSON = {
      version: 1,
      logicalShards: 4,
      databases: { db0: { backend: 'sqlite', config: config(0) }, db1: { backend: 'sqlite', config: config(1) } },
      shards: { '0-1': 'db0', '2-3': 'db1' },
    };
    const sharded = new ShardedDatabase(ShardMap.fromJSON(json), { tables: [{ name: 'notes', idColumn: 'id' }], ...options });
    maps.set(sharded, json);
    await sharded.forEachShard((db) => db.execute('CREATE TABLE [notes] ([id] BIGINT PRIMARY KEY, [tenant] TEXT, [body] TEXT)'));
    for (let i = 0; i < 40; i++) {
      const tenant = `t${i}`;
      await sharded.shard(tenant).execute('INSERT INTO [notes] ([id], [tenant], [body]) VALUES (?, ?, ?)', [sharded.newId(tenant), tenant, `note ${i}`]);
    }
    return sharded;
  }

  // SQLite reads integers beyond 2^53 exactly (as bigint) by default, as pg and mysql2 do, so ids
  // made by newId move with the default settings as well as with every integer as a bigint.
  it.each([false, true])('moves a shard found by idColumn between SQLite files, with exact ids (safeIntegers: %s)', async (safeIntegers) => {
    const sharded = await setUp(safeIntegers);
    try {
      const before = await sharded.database('db0').execute<{ id: bigint }>('SELECT [id] FROM [notes]');
      const moving = before.filter((row) => sharded.shardOfId(row.id) === 0).map((row) => row.id);
      expect(moving.length).toBeGreaterThan(0);
      const report = await sharded.moveShard(0, 'db1');
      expect(report).toMatchObject({ version: 2, deletedFromSource: moving.length, verified: [{ table: 'notes', rows: moving.length }] });
      const after = await sharded.database('db1').execute<{ id: bigint }>('SELECT [id] FROM [notes]');
      expect(after.map((row) => row.id).filter((id) => sharded.shardOfId(id) === 0).sort()).toEqual([...moving].sort());
      const left = await sharded.database('db0').execute<{ id: bigint }>('SELECT [id] FROM [notes]');
      expect(left.every((row) => sharded.shardOfId(row.id) === 1)).toBe(true);
      expect(left.length).toBe(before.length - moving.length);
    } finally {
      await sharded.close();
    }
  });

  describe('the fence, with a second ShardedDatabase on the same files standing for another process', () => {
    const fenceRow = async (sharded: ShardedDatabase, database: string, shard: number) =>
      sharded.database(database).executeFirst<{ left_version: unknown; frozen_until: unknown }>(`SELECT [left_version], [frozen_until] FROM [${FENCE_TABLE}] WHERE [shard] = ?`, [shard]);

    it('sends an operation of a process with the old map to the new database, with loadMap, or refuses it retryably without', async () => {
      let stored: ShardMap | undefined;
      const mover = await setUp(false, { onMapChange: (next) => void (stored = next) });
      const stale = new ShardedDatabase(ShardMap.fromJSON(maps.get(mover)!));
      const following = new ShardedDatabase(ShardMap.fromJSON(maps.get(mover)!), { loadMap: () => stored! });
      try {
        const [tenant] = ['t0', 't1', 't2', 't3', 't4', 't5'].filter((t) => mover.shardOf(t) === 0);
        await mover.moveShard(0, 'db1');
        expect(await fenceRow(mover, 'db0', 0)).toEqual({ left_version: 2, frozen_until: 0 });

        const error = await stale.shard(tenant!).execute('SELECT 1').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StaleShardMapError);
        expect(error).toMatchObject({ retryable: true, shard: 0, leftAtVersion: 2 });
        expect(stale.map.version).toBe(1);

        const id = following.newId(tenant!);
        await following.shard(tenant!).execute('INSERT INTO [notes] ([id], [tenant], [body]) VALUES (?, ?, ?)', [id, tenant, 'after the move']);
        expect(following.map.version).toBe(2);
        expect(await mover.database('db1').executeFirst('SELECT [body] FROM [notes] WHERE [id] = ?', [id])).toEqual({ body: 'after the move' });
        expect(await mover.database('db0').execute('SELECT [id] FROM [notes] WHERE [id] = ?', [id])).toEqual([]);
      } finally {
        await Promise.all([mover.close(), stale.close(), following.close()]);
      }
    });

    it('holds operations while another process has the shard frozen, refuses them after freezeWaitMs, and a called-off move releases the shard', async () => {
      const mover = await setUp(false, {
        onMapChange: () => {
          throw new Error('the map store is down');
        },
      });
      const other = new ShardedDatabase(ShardMap.fromJSON(maps.get(mover)!), { freezeWaitMs: 300 });
      try {
        await expect(mover.moveShard(1, 'db1')).rejects.toBeInstanceOf(ShardMoveError);
        // Called off after the freeze and the left_version mark: both are undone, the shard serves from db0.
        expect(await fenceRow(mover, 'db0', 1)).toEqual({ left_version: 0, frozen_until: 0 });
        const [tenant] = Array.from({ length: 40 }, (_, i) => `t${i}`).filter((t) => mover.shardOf(t) === 1);
        expect(await other.shard(tenant!).executeFirst('SELECT 1 AS [one]')).toEqual({ one: 1 });

        // A mover elsewhere froze the shard for 150 ms: the operation waits, then runs.
        await mover.database('db0').execute(`UPDATE [${FENCE_TABLE}] SET [frozen_until] = ? WHERE [shard] = 1`, [Date.now() + 150]);
        const started = Date.now();
        expect(await other.shard(tenant!).executeFirst('SELECT 1 AS [one]')).toEqual({ one: 1 });
        expect(Date.now() - started).toBeGreaterThanOrEqual(100);
        // Frozen for longer than freezeWaitMs: refused, retryable, never ran.
        await mover.database('db0').execute(`UPDATE [${FENCE_TABLE}] SET [frozen_until] = ? WHERE [shard] = 1`, [Date.now() + 10_000]);
        const id = other.newId(tenant!);
        const error = await other.shard(tenant!).execute('INSERT INTO [notes] ([id], [tenant], [body]) VALUES (?, ?, ?)', [id, tenant, 'x']).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ShardMovingError);
        expect(error).not.toBeInstanceOf(StaleShardMapError);
        expect((error as ShardMovingError).retryable).toBe(true);
        expect(await mover.database('db0').execute('SELECT [id] FROM [notes] WHERE [id] = ?', [id])).toEqual([]);
        // The other shards of the same database are not held.
        const [neighbour] = Array.from({ length: 40 }, (_, i) => `t${i}`).filter((t) => mover.shardOf(t) === 0);
        expect(await other.shard(neighbour!).executeFirst('SELECT 1 AS [one]')).toEqual({ one: 1 });
      } finally {
        await Promise.all([mover.close(), other.close()]);
      }
    });
  });
});
