import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ShardMap, ShardMoveError, ShardedDatabase, type ShardMapJSON } from '../src/index.js';

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

  it('refuses to move rows whose ids the driver rounded, and leaves the shard in place', async () => {
    const sharded = await setUp(false);
    try {
      const error = await sharded.moveShard(0, 'db1').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ShardMoveError);
      expect((error as ShardMoveError).cause).toMatchObject({ code: 'DAL_CONFIG', message: expect.stringMatching(/safeIntegers/) });
      expect(sharded.map.version).toBe(1);
      expect(sharded.map.databaseOf(0)).toBe('db0');
      expect(sharded.status().shards[0]!.state).toBe('serving');
    } finally {
      await sharded.close();
    }
  });

  it('moves a shard found by idColumn between SQLite files, with exact bigint ids', async () => {
    const sharded = await setUp(true);
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
