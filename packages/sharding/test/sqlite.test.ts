import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ShardMap, ShardedDatabase, type ShardMapJSON } from '../src/index.js';

describe('@dal/sharding on SQLite files', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  async function setUp(safeIntegers: boolean): Promise<ShardedDatabase> {
    const dir = mkdtempSync(join(tmpdir(), 'dal-shard-sqlite-'));
    dirs.push(dir);
    const config = (i: number) => ({ database: join(dir, `db${i}.sqlite`), ...(safeIntegers ? { driverOptions: { safeIntegers: true } } : {}) });
    const json: ShardMapJSON = {
      version: 1,
      logicalShards: 4,
      databases: { db0: { backend: 'sqlite', config: config(0) }, db1: { backend: 'sqlite', config: config(1) } },
      shards: { '0-1': 'db0', '2-3': 'db1' },
    };
    const sharded = new ShardedDatabase(ShardMap.fromJSON(json), { tables: [{ name: 'notes', idColumn: 'id' }] });
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
});
