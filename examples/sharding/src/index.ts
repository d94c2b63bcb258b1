/**
 * A multi-tenant app on four physical databases (SQLite files: nothing to install or start).
 * 16 logical shards spread over db0..db3; twelve tenants place orders without pause while one
 * logical shard moves from its database to another. At the end every acknowledged order is where
 * the map says, exactly once.
 *
 * On PostgreSQL instead: create four databases and give each entry of `databases` a url
 * ("postgres://user@host/app_0", ...) in place of the SQLite file; nothing else changes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ShardMap, ShardMovingError, ShardedDatabase, type ShardMapJSON } from '@dal/sharding';

const dir = mkdtempSync(join(tmpdir(), 'dal-sharding-example-'));
const mapFile = join(dir, 'shards.json');
const say = (line: string) => console.log(`  ${line}`);

const json: ShardMapJSON = {
  version: 1,
  logicalShards: 16,
  databases: Object.fromEntries([0, 1, 2, 3].map((i) => [`db${i}`, {
      backend: 'sqlite',
      // Ids from newId are above 2^53: SQLite must hand integers back as bigints to keep them exact.
      config: { database: join(dir, `db${i}.sqlite`), driverOptions: { safeIntegers: true } },
    }])),
  shards: { '0-3': 'db0', '4-7': 'db1', '8-11': 'db2', '12-15': 'db3' },
};
writeFileSync(mapFile, JSON.stringify(json, null, 2));

const sharded = new ShardedDatabase(await ShardMap.load(mapFile), {
  tables: [{ name: 'orders', keyColumn: 'tenant_id' }],
  // Every process loads the map from this file: store each version a move makes.
  onMapChange: (map) => writeFileSync(mapFile, JSON.stringify(map, null, 2)),
});

try {
  console.log(`@dal/sharding example: 16 logical shards on 4 SQLite databases (${dir})`);
  const created = await sharded.forEachShard((db) => db.execute('CREATE TABLE [orders] ([id] BIGINT PRIMARY KEY, [tenant_id] TEXT NOT NULL, [total] INTEGER NOT NULL)'));
  say(`schema created on ${created.filter((r) => r.ok).length} databases`);

  const tenants = Array.from({ length: 12 }, (_, i) => `tenant-${i}`);
  for (const tenant of tenants) say(`${tenant} -> logical shard ${sharded.shardOf(tenant)} on ${sharded.shard(tenant).database}`);

  // The app: each tenant places orders, one after another, until told to stop.
  const placed = new Map<string, number>(tenants.map((t) => [t, 0]));
  let waitedForMove = 0;
  let running = true;
  const app = tenants.map(async (tenant, i) => {
    while (running) {
      const id = sharded.newId(tenant); // the id carries the tenant's shard
      try {
        await sharded.shard(tenant).execute('INSERT INTO [orders] ([id], [tenant_id], [total]) VALUES (?, ?, ?)', [id, tenant, i + 1]);
        placed.set(tenant, placed.get(tenant)! + 1);
      } catch (error) {
        if (!(error instanceof ShardMovingError)) throw error;
        waitedForMove++; // held past freezeWaitMs: it never ran, so placing it again is safe
      }
      await sleep(1);
    }
  });

  await sleep(500);
  const moving = sharded.shardOf('tenant-0');
  const from = sharded.shard('tenant-0').database;
  const to = from === 'db3' ? 'db0' : 'db3';
  say(`moving logical shard ${moving} (tenant-0 and its neighbours) from ${from} to ${to} while orders keep coming...`);
  const report = await sharded.moveShard(moving, to);
  say(`moved: map version ${report.version}, ${report.copied.inserted} rows copied (${report.finalPass.inserted} in the last pass), writes held ${report.freezeMs.toFixed(1)} ms`);
  say(`verified: ${report.verified.map((d) => `${d.table} ${d.rows} rows, checksum ${d.checksum}`).join('; ')}; ${report.deletedFromSource} rows removed from ${from}`);
  await sleep(500);
  running = false;
  await Promise.all(app);

  // Every acknowledged order exactly once, on the database of its tenant's shard.
  const perDatabase = await sharded.forEachShard((db) => db.execute<{ tenant_id: string; n: number }>('SELECT [tenant_id], COUNT(*) AS [n] FROM [orders] GROUP BY [tenant_id]'));
  const stored = new Map<string, number>();
  for (const result of perDatabase) {
    if (!result.ok) throw result.error;
    for (const row of result.value) {
      if (sharded.map.databaseOf(sharded.shardOf(row.tenant_id)) !== result.database) throw new Error(`${row.tenant_id} found on ${result.database}`);
      stored.set(row.tenant_id, (stored.get(row.tenant_id) ?? 0) + Number(row.n));
    }
  }
  const lost = tenants.filter((t) => stored.get(t) !== placed.get(t));
  say(`orders placed ${[...placed.values()].reduce((a, b) => a + b, 0)}, stored ${[...stored.values()].reduce((a, b) => a + b, 0)}; mismatched tenants: ${lost.length === 0 ? 'none' : lost.join(', ')}`);
  say(`writes that waited past freezeWaitMs and were placed again: ${waitedForMove}`);
  say(`tenant-0 now on ${sharded.shard('tenant-0').database}; shards.json is at version ${(await ShardMap.load(mapFile)).version}`);
  for (const db of sharded.status().databases) say(`${db.name}: shards ${db.shards.join(',')}, ${db.requests} requests, ${db.errors} errors`);
  if (lost.length > 0) process.exitCode = 1;
} finally {
  await sharded.close();
  rmSync(dir, { recursive: true, force: true });
}
