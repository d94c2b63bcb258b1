import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError, DalError, type Database } from '@dal/core';
import '@dal/entities';
import { CrossShardError, FENCE_LOCK_KEY, FENCE_TABLE, hashRouter, ShardMap, ShardMovingError, ShardedDatabase, type ShardedTable } from '../src/index.js';
import { closedPort, createPhysicalDatabases, keysOn, mapOver, type ServerBackend } from './helpers.js';

const TABLES: ShardedTable[] = [
  { name: 'accounts', shardColumn: 'shard' },
  { name: 'entries', keyColumn: 'tenant_id' },
];

async function createSchema(db: Database): Promise<void> {
  await db.execute('CREATE TABLE [accounts] ([id] BIGINT PRIMARY KEY, [tenant_id] VARCHAR(64) NOT NULL, [shard] INT NOT NULL, [balance] INT NOT NULL, [updates] INT NOT NULL)');
  await db.execute('CREATE INDEX [accounts_shard] ON [accounts] ([shard])');
  await db.execute('CREATE TABLE [entries] ([id] BIGINT PRIMARY KEY, [tenant_id] VARCHAR(64) NOT NULL, [amount] INT NOT NULL, [note] VARCHAR(200))');
}

/** Rows of a table on one physical database, by id. */
async function idsOn(db: Database, table: string, where = '1 = 1', params: unknown[] = []): Promise<string[]> {
  const rows = await db.execute<{ id: unknown }>(`SELECT [id] FROM [${table}] WHERE ${where} ORDER BY [id]`, params);
  return rows.map((row) => String(row.id));
}

/** Run an operation until it is not refused by a move (a ShardMovingError means it never ran). */
async function untilAccepted<T>(op: () => Promise<T>, refused: { count: number }): Promise<T> {
  for (;;) {
    try {
      return await op();
    } catch (error) {
      if (!(error instanceof ShardMovingError) || !error.retryable) throw error;
      refused.count++;
    }
  }
}

/** The behaviour every server backend must show, on four physical databases of that server. */
export function shardingScenarios(backend: ServerBackend): void {
  describe(`@dal/sharding on ${backend}`, () => {
    let physical: Awaited<ReturnType<typeof createPhysicalDatabases>>;
    const LOGICAL = 16;

    beforeAll(async () => {
      physical = await createPhysicalDatabases(backend, backend === 'postgres' ? 'p' : 'm', 4);
      const sharded = new ShardedDatabase(ShardMap.fromJSON(mapOver(backend, physical.names, LOGICAL)));
      const created = await sharded.forEachShard((db) => createSchema(db));
      await sharded.close();
      expect(created.every((result) => result.ok)).toBe(true);
    });

    afterAll(async () => {
      await physical?.drop();
    });

    // Every test starts from map version 1 again: forget the fences of earlier tests' moves.
    afterEach(async () => {
      const sharded = new ShardedDatabase(ShardMap.fromJSON(mapOver(backend, physical.names, LOGICAL)));
      try {
        await sharded.forEachShard((db) => db.execute(`DELETE FROM [${FENCE_TABLE}]`).catch(() => undefined));
      } finally {
        await sharded.close();
      }
    });

    it('routes each key to the database its shard is mapped to; entities work on shard connections', async () => {
      const sharded = new ShardedDatabase(ShardMap.fromJSON(mapOver(backend, physical.names, LOGICAL)), { tables: TABLES });
      try {
        const tenants = Array.from({ length: 40 }, (_, i) => `route-${i}`);
        for (const tenant of tenants) {
          const id = sharded.newId(tenant);
          await sharded.shard(tenant).execute('INSERT INTO [entries] ([id], [tenant_id], [amount]) VALUES (?, ?, ?)', [id, tenant, 1]);
          expect(sharded.shardOfId(id)).toBe(sharded.shardOf(tenant));
        }
        // Every row sits on the database the map gives its tenant's shard, and nowhere else.
        let found = 0;
        for (const name of sharded.map.databaseNames()) {
          const rows = await sharded.database(name).execute<{ tenant_id: string }>("SELECT [tenant_id] FROM [entries] WHERE [tenant_id] LIKE 'route-%'");
          for (const row of rows) expect(sharded.map.databaseOf(sharded.shardOf(row.tenant_id))).toBe(name);
          found += rows.length;
        }
        expect(found).toBe(tenants.length);
        expect(new Set(tenants.map((t) => sharded.shard(t).database)).size).toBe(4);

        const profile = await sharded.shard('route-3').transaction((tx) => tx.saveEntity('profiles', { tenant: 'route-3', plan: 'pro' }));
        const again = await sharded.shard('route-3').withConnection((conn) => conn.getEntity('profiles', profile['id'] as string));
        expect(again?.['plan']).toBe('pro');
        const elsewhere = keysOn((k) => sharded.shardOf(k), (sharded.shardOf('route-3') + 8) % LOGICAL, 1)[0]!;
        expect(sharded.shard(elsewhere).database).not.toBe(sharded.shard('route-3').database);
        await expect(sharded.shard(elsewhere).withConnection((conn) => conn.getEntity('profiles', profile['id'] as string))).rejects.toThrow(/unknown entity/);

        const status = sharded.status();
        expect(status.shards.reduce((sum, s) => sum + s.requests, 0)).toBe(tenants.length + 3);
        expect(status.databases.reduce((sum, d) => sum + d.requests, 0)).toBe(tenants.length + 3);
        // The one error: the entity read on a database that never saw the entity.
        expect(status.databases.map((d) => d.errors)).toEqual(status.databases.map((d) => (d.name === sharded.shard(elsewhere).database ? 1 : 0)));
        expect(status.shards[sharded.shardOf(elsewhere)]!.errors).toBe(1);
      } finally {
        await sharded.close();
      }
    });

    it('refuses a statement for another shard inside a transaction, and rolls the transaction back', async () => {
      const sharded = new ShardedDatabase(ShardMap.fromJSON(mapOver(backend, physical.names, LOGICAL)), { tables: TABLES });
      try {
        const [a] = keysOn((k) => sharded.shardOf(k), 1, 1);
        const [b] = keysOn((k) => sharded.shardOf(k), 2, 1);
        const id = sharded.newId(a!);
        const attempt = sharded.shard(a!).transaction(async (tx) => {
          await tx.execute('INSERT INTO [entries] ([id], [tenant_id], [amount]) VALUES (?, ?, ?)', [id, a, 5]);
          await sharded.shard(b!).execute('SELECT 1');
        });
        await expect(attempt).rejects.toBeInstanceOf(CrossShardError);
        expect(await sharded.shard(a!).execute('SELECT [id] FROM [entries] WHERE [id] = ?', [id])).toEqual([]);
        expect(sharded.status().shards[2]!.errors).toBe(1);
      } finally {
        await sharded.close();
      }
    });

    it('fans out with bounded concurrency and reports a stopped database as its own error', async () => {
      const down = await closedPort();
      const json = mapOver(backend, physical.names, LOGICAL, {
        down: { backend, config: { database: 'nothing_here', host: '127.0.0.1', port: down, user: 'nobody', connectionCreationTimeoutMs: 2_000 } },
      });
      const sharded = new ShardedDatabase(ShardMap.fromJSON(json), { tables: TABLES });
      try {
        let running = 0;
        let mostAtOnce = 0;
        const started = Date.now();
        const results = await sharded.forEachShard(
          async (db, info) => {
            running++;
            mostAtOnce = Math.max(mostAtOnce, running);
            try {
              const row = await db.executeFirst<{ n: unknown }>('SELECT COUNT(*) AS [n] FROM [entries]', [], { signal: info.signal });
              return Number(row!.n);
            } finally {
              running--;
            }
          },
          { concurrency: 2 },
        );
        expect(Date.now() - started).toBeLessThan(30_000);
        expect(mostAtOnce).toBe(2);
        expect(results.map((r) => r.database)).toEqual(['db0', 'db1', 'db2', 'db3', 'down']);
        expect(results.slice(0, 4).every((r) => r.ok)).toBe(true);
        const failed = results[4]!;
        expect(failed.ok).toBe(false);
        if (!failed.ok) {
          expect(DalError.isInstance(failed.error)).toBe(true);
          // By code: the driver, loaded by core outside vitest's module graph, has its own copy of the classes.
          expect(failed.error).toMatchObject({ code: 'DAL_CONNECTION', retryable: true });
          expect(failed.shards).toEqual(sharded.map.shardsOf('down'));
        }
        const status = sharded.status();
        expect(status.databases.find((d) => d.name === 'down')).toMatchObject({ requests: 1, errors: 1 });
        expect(status.databases.find((d) => d.name === 'db0')).toMatchObject({ requests: 1, errors: 0 });

        const aborted = await sharded.forEachShard(async () => 1, { signal: AbortSignal.abort() });
        expect(aborted.every((r) => !r.ok && r.error instanceof AbortedError)).toBe(true);
      } finally {
        await sharded.close();
      }
    });

    it('moves a logical shard under concurrent writes: nothing lost, nothing duplicated, other shards untouched', async () => {
      const sharded = new ShardedDatabase(ShardMap.fromJSON(mapOver(backend, physical.names, LOGICAL)), { tables: TABLES });
      try {
        const shard = 5;
        const from = sharded.map.databaseOf(shard);
        const to = sharded.map.databaseNames().find((name) => name !== from)!;
        const tenants = keysOn((k) => sharded.shardOf(k), shard, 8);
        const neighbour = sharded.map.shardsOf(from).find((s) => s !== shard)!; // same source database, not moved
        const [neighbourTenant] = keysOn((k) => sharded.shardOf(k), neighbour, 1);
        const [otherTenant] = keysOn((k) => sharded.shardOf(k), sharded.map.shardsOf(to)[0]!, 1);

        // Expected state, updated only when the database acknowledged a write.
        const entries = new Set<string>();
        const accounts = new Map<string, { balance: number; updates: number }>();
        const handle = sharded.logicalShard(shard);
        for (const tenant of tenants) {
          const id = String(sharded.newId(tenant));
          await handle.execute('INSERT INTO [accounts] ([id], [tenant_id], [shard], [balance], [updates]) VALUES (?, ?, ?, 0, 0)', [id, tenant, shard]);
          accounts.set(id, { balance: 0, updates: 0 });
        }
        const prefill = Array.from({ length: 3_000 }, (_, i) => {
          const tenant = tenants[i % tenants.length]!;
          return [String(sharded.newId(tenant)), tenant, i % 100, `prefill ${i}`];
        });
        await handle.withConnection((conn) => conn.executeMany('INSERT INTO [entries] ([id], [tenant_id], [amount], [note]) VALUES (?, ?, ?, ?)', prefill));
        for (const row of prefill) entries.add(row[0] as string);
        const neighbourRows = Array.from({ length: 200 }, (_, i) => [String(sharded.newId(neighbourTenant!)), neighbourTenant, i]);
        await sharded.logicalShard(neighbour).withConnection((conn) => conn.executeMany('INSERT INTO [entries] ([id], [tenant_id], [amount]) VALUES (?, ?, ?)', neighbourRows));

        let stop = false;
        const refused = { count: 0 };
        let acknowledged = 0;
        const accountIds = [...accounts.keys()];
        const writer = async (seed: number): Promise<void> => {
          let i = seed;
          while (!stop) {
            i += 7;
            const tenant = tenants[i % tenants.length]!;
            const kind = i % 10;
            if (kind < 5) {
              const id = String(sharded.newId(tenant));
              await untilAccepted(() => sharded.shard(tenant).execute('INSERT INTO [entries] ([id], [tenant_id], [amount]) VALUES (?, ?, ?)', [id, tenant, kind]), refused);
              entries.add(id);
            } else if (kind < 8) {
              const account = accountIds[i % accountIds.length]!;
              const id = String(sharded.newId(tenant));
              // An entry and its account update commit together or not at all.
              await untilAccepted(
                () =>
                  sharded.shard(tenant).transaction(async (tx) => {
                    await tx.execute('INSERT INTO [entries] ([id], [tenant_id], [amount]) VALUES (?, ?, ?)', [id, tenant, 3]);
                    await tx.execute('UPDATE [accounts] SET [balance] = [balance] + 3, [updates] = [updates] + 1 WHERE [id] = ?', [account]);
                  }),
                refused,
              );
              entries.add(id);
              const expected = accounts.get(account)!;
              expected.balance += 3;
              expected.updates++;
            } else {
              const victim = [...entries][i % entries.size]!;
              entries.delete(victim); // before the await, so no other writer picks it meanwhile
              await untilAccepted(() => sharded.shard(tenant).execute('DELETE FROM [entries] WHERE [id] = ?', [victim]), refused);
            }
            acknowledged++;
          }
        };
        let otherShardWrites = 0;
        const otherWriter = async (): Promise<void> => {
          while (!stop) {
            await sharded.shard(otherTenant!).execute('INSERT INTO [entries] ([id], [tenant_id], [amount]) VALUES (?, ?, ?)', [sharded.newId(otherTenant!), otherTenant, 0]);
            otherShardWrites++;
          }
        };

        const writers = [writer(1), writer(2), writer(3), writer(4), otherWriter()];
        await sleep(300);
        const beforeMove = acknowledged;
        const report = await sharded.moveShard(shard, to);
        const duringMove = acknowledged - beforeMove;
        await sleep(300);
        stop = true;
        await Promise.all(writers);

        expect(report).toMatchObject({ shard, from, to, version: 2 });
        expect(sharded.map.databaseOf(shard)).toBe(to);
        expect(duringMove).toBeGreaterThan(0);
        expect(otherShardWrites).toBeGreaterThan(0);
        expect(report.copied.inserted).toBeGreaterThanOrEqual(3_000);
        expect(report.deletedFromSource).toBeGreaterThanOrEqual(3_000);
        expect(report.cleanupError).toBeUndefined();

        // Nothing lost, nothing duplicated: the target holds exactly the acknowledged rows of the shard...
        const target = sharded.database(to);
        const source = sharded.database(from);
        const tenantList = tenants.map(() => '?').join(', ');
        expect(await idsOn(target, 'entries', `[tenant_id] IN (${tenantList})`, tenants)).toEqual([...entries].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)));
        const balances = await target.execute<{ id: unknown; balance: unknown; updates: unknown }>('SELECT [id], [balance], [updates] FROM [accounts] WHERE [shard] = ?', [shard]);
        expect(balances).toHaveLength(accounts.size);
        for (const row of balances) expect({ balance: Number(row.balance), updates: Number(row.updates) }).toEqual(accounts.get(String(row.id)));
        // ...the source none of them, and the neighbour shard on the source kept all of its rows.
        expect(await idsOn(source, 'entries', `[tenant_id] IN (${tenantList})`, tenants)).toEqual([]);
        expect(await idsOn(source, 'accounts', '[shard] = ?', [shard])).toEqual([]);
        expect(await idsOn(source, 'entries', '[tenant_id] = ?', [neighbourTenant])).toHaveLength(200);
        expect(report.verified.find((d) => d.table === 'accounts')?.rows).toBe(accounts.size);
      } finally {
        await sharded.close();
      }
    });

    it('holds writes to the moving shard only during the freeze; past freezeWaitMs they fail retryable, never run', async () => {
      let sharded!: ShardedDatabase;
      const shard = 9;
      const [tenant] = keysOn((k) => hashRouter(k, LOGICAL), shard, 1);
      const [other] = keysOn((k) => hashRouter(k, LOGICAL), 0, 1);
      const observed: string[] = [];
      let held: Promise<unknown> | undefined;
      const heldId = () => String(sharded.newId(tenant!));
      let refusedId = '';
      let heldRowId = '';
      sharded = new ShardedDatabase(ShardMap.fromJSON(mapOver(backend, physical.names, LOGICAL)), {
        tables: TABLES,
        freezeWaitMs: 300,
        // Runs inside the freeze, just before the switch.
        onMapChange: async (next) => {
          expect(next.version).toBe(2);
          refusedId = heldId();
          const refused = sharded.shard(tenant!).execute('INSERT INTO [entries] ([id], [tenant_id], [amount]) VALUES (?, ?, 1)', [refusedId, tenant]);
          await sharded.shard(other!).execute('SELECT 1'); // other shards keep going
          observed.push('other shard answered');
          const error = await refused.catch((e: unknown) => e);
          expect(error).toBeInstanceOf(ShardMovingError);
          expect((error as ShardMovingError).retryable).toBe(true);
          observed.push('refused after freezeWaitMs');
          heldRowId = heldId();
          held = sharded.shard(tenant!).execute('INSERT INTO [entries] ([id], [tenant_id], [amount]) VALUES (?, ?, 2)', [heldRowId, tenant]);
          expect(sharded.status().shards[shard]!.state).toBe('frozen');
        },
      });
      try {
        const from = sharded.map.databaseOf(shard);
        const to = sharded.map.databaseNames().find((name) => name !== from)!;
        await sharded.moveShard(shard, to);
        await held;
        expect(observed).toEqual(['other shard answered', 'refused after freezeWaitMs']);
        // The held write ran after the switch, on the new database; the refused one never ran.
        expect(await idsOn(sharded.database(to), 'entries', '[id] IN (?, ?)', [refusedId, heldRowId])).toEqual([heldRowId]);
        expect(await idsOn(sharded.database(from), 'entries', '[id] IN (?, ?)', [refusedId, heldRowId])).toEqual([]);
        expect(sharded.status().shards[shard]).toMatchObject({ state: 'serving', database: to, errors: 1 });
      } finally {
        await sharded.close();
      }
    });

    it('an operation that waited for the fence reads the freeze committed while it waited: it never runs', async () => {
      // The mover's order (see shard-fence.ts): hold the fence exclusively, commit the freeze, let go.
      // An operation that queued meanwhile must read the row after its lock is granted: a read whose
      // snapshot predates the wait (one statement doing both, or a transaction's single snapshot)
      // would miss the freeze and write.
      const shard = 5;
      const [tenant] = keysOn((k) => hashRouter(k, LOGICAL), shard, 1);
      const insert = 'INSERT INTO [entries] ([id], [tenant_id], [amount]) VALUES (?, ?, 1)';
      const ways: Record<string, (sharded: ShardedDatabase, id: string) => Promise<unknown>> = {
        statement: (sharded, id) => sharded.shard(tenant!).execute(insert, [id, tenant]),
        transaction: (sharded, id) => sharded.shard(tenant!).transaction((tx) => tx.execute(insert, [id, tenant])),
        'repeatable read transaction': (sharded, id) => sharded.shard(tenant!).transaction((tx) => tx.execute(insert, [id, tenant]), { isolationLevel: 'repeatable read' }),
      };
      const admin = new ShardedDatabase(ShardMap.fromJSON(mapOver(backend, physical.names, LOGICAL)));
      const sourceName = physical.names[Number(admin.map.databaseOf(shard).slice('db'.length))]!;
      const setDefaultIsolation = (to: string) => admin.database('db0').execute(`ALTER DATABASE "${sourceName}" ${to === 'reset' ? 'RESET default_transaction_isolation' : `SET default_transaction_isolation = '${to}'`}`);
      const cases = [...Object.keys(ways).map((way) => ({ way, serverDefault: undefined as string | undefined }))];
      // PostgreSQL: a transaction without a level gets the server's default, which may take one snapshot for the whole transaction.
      if (backend === 'postgres') cases.push({ way: 'transaction', serverDefault: 'repeatable read' });
      try {
        for (const { way, serverDefault } of cases) {
          if (serverDefault !== undefined) await setDefaultIsolation(serverDefault);
          const sharded = new ShardedDatabase(ShardMap.fromJSON(mapOver(backend, physical.names, LOGICAL)), { tables: TABLES, freezeWaitMs: 300 });
          try {
            await sharded.shard(tenant!).execute('SELECT 1'); // the fence row exists
            const source = sharded.database(sharded.map.databaseOf(shard));
            const id = String(sharded.newId(tenant!));
            let settled = false;
            let write: Promise<unknown> | undefined;
            await source.withConnection((conn) =>
              conn.transaction(async (tx) => {
                if (backend === 'postgres') await tx.execute('SELECT pg_advisory_xact_lock(?, ?)', [FENCE_LOCK_KEY, shard]);
                else await tx.execute(`SELECT [frozen_until] FROM [${FENCE_TABLE}] WHERE [shard] = ? FOR UPDATE`, [shard]);
                write = ways[way]!(sharded, id);
                write.then(
                  () => (settled = true),
                  () => (settled = true),
                );
                await sleep(200);
                expect(settled, way).toBe(false); // it waits for the lock
                await tx.execute(`UPDATE [${FENCE_TABLE}] SET [frozen_until] = ? WHERE [shard] = ?`, [Date.now() + 10_000, shard]);
              }),
            );
            const error = await write!.catch((e: unknown) => e);
            expect(error, `${way}, server default ${serverDefault}`).toBeInstanceOf(ShardMovingError);
            expect(await idsOn(source, 'entries', '[id] = ?', [id])).toEqual([]);
            await source.execute(`UPDATE [${FENCE_TABLE}] SET [frozen_until] = 0 WHERE [shard] = ?`, [shard]);
          } finally {
            await sharded.close();
            if (serverDefault !== undefined) await setDefaultIsolation('reset');
          }
        }
      } finally {
        await admin.close();
      }
    });

    it('moves a shard while another process writes to it: its writes wait, then follow the new map; nothing lost, nothing duplicated', async () => {
      const json = mapOver(backend, physical.names, LOGICAL);
      const dir = mkdtempSync(join(tmpdir(), 'dal-shard-move-'));
      const mapFile = join(dir, 'map.json');
      writeFileSync(mapFile, JSON.stringify(json));
      // The mover publishes each new map version where the other process loads it from.
      const sharded = new ShardedDatabase(ShardMap.fromJSON(json), { tables: TABLES, onMapChange: (next) => writeFileSync(mapFile, JSON.stringify(next)) });
      let child: ReturnType<typeof spawn> | undefined;
      try {
        const shard = 13;
        const from = sharded.map.databaseOf(shard);
        const to = sharded.map.databaseNames().find((name) => name !== from)!;
        const tenants = keysOn((k) => sharded.shardOf(k), shard, 4);
        const accountId = String(sharded.newId(tenants[0]!));
        await sharded.logicalShard(shard).execute('INSERT INTO [accounts] ([id], [tenant_id], [shard], [balance], [updates]) VALUES (?, ?, ?, 0, 0)', [accountId, tenants[0], shard]);
        const prefill = Array.from({ length: 2_000 }, (_, i) => [String(sharded.newId(tenants[i % 4]!)), tenants[i % 4], i, 'prefill']);
        await sharded.logicalShard(shard).withConnection((conn) => conn.executeMany('INSERT INTO [entries] ([id], [tenant_id], [amount], [note]) VALUES (?, ?, ?, ?)', prefill));

        // The other process: its own ids (workerId 1), writes without pause until told to stop, and
        // learns of the move only from the fence (loadMap re-reads the file; nothing polls it). On
        // "hold" it also opens one transaction on the shard and commits it only on "commit".
        const script = `
          import { readFileSync } from 'node:fs';
          import { createInterface } from 'node:readline';
          import { ShardMap, ShardMovingError, ShardedDatabase } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
          let loads = 0;
          const sharded = new ShardedDatabase(ShardMap.fromJSON(readFileSync(${JSON.stringify(mapFile)}, 'utf8')), {
            workerBits: 1, workerId: 1,
            loadMap: () => { loads++; return ShardMap.fromJSON(readFileSync(${JSON.stringify(mapFile)}, 'utf8')); },
          });
          const tenants = ${JSON.stringify(tenants)};
          const account = ${JSON.stringify(accountId)};
          const acked = [];
          let balance = 0, afterMove = 0, stop = false, commit, held;
          const deposit = (tx, id, tenant) => tx.execute('INSERT INTO [entries] ([id], [tenant_id], [amount]) VALUES (?, ?, 1)', [id, tenant])
            .then(() => tx.execute('UPDATE [accounts] SET [balance] = [balance] + 1, [updates] = [updates] + 1 WHERE [id] = ?', [account]));
          createInterface({ input: process.stdin }).on('line', (line) => {
            if (line === 'stop') stop = true;
            if (line === 'commit') commit();
            if (line === 'hold') {
              const id = String(sharded.newId(tenants[0]));
              held = sharded.shard(tenants[0]).transaction(async (tx) => {
                await deposit(tx, id, tenants[0]);
                process.stdout.write('holding\\n');
                await new Promise((resolve) => (commit = resolve));
              }).then(() => { acked.push(id); balance++; });
            }
          });
          for (let i = 0; !stop; i++) {
            const tenant = tenants[i % tenants.length];
            const id = String(sharded.newId(tenant));
            for (;;) {
              try {
                if (i % 2 === 0) {
                  await sharded.shard(tenant).transaction((tx) => deposit(tx, id, tenant));
                  balance++;
                } else {
                  await sharded.shard(tenant).execute('INSERT INTO [entries] ([id], [tenant_id], [amount]) VALUES (?, ?, 2)', [id, tenant]);
                }
                break;
              } catch (error) {
                if (!(error instanceof ShardMovingError) || !error.retryable) throw error;
              }
            }
            acked.push(id);
            if (sharded.map.version > 1) afterMove++;
            if (acked.length === 20) process.stdout.write('ready\\n');
          }
          await held;
          process.stdout.write(JSON.stringify({ acked, balance, afterMove, loads, version: sharded.map.version, status: sharded.status().databases }) + '\\n');
          await sharded.close();
          process.exit(0);`;
        child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: process.cwd(), stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
        const exited = new Promise<number | null>((resolve) => child!.on('exit', resolve));
        const lines: string[] = [];
        child.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          lines.splice(0, lines.length, ...out.split('\n'));
        });
        const said = async (line: string): Promise<void> => {
          for (const deadline = Date.now() + 30_000; !lines.includes(line); await sleep(10)) {
            if (child!.exitCode !== null || Date.now() > deadline) throw new Error(`the child did not say "${line}": ${err}`);
          }
        };
        await said('ready');
        child.stdin!.write('hold\n');
        await said('holding');

        // The move reaches its freeze while the child's transaction is open: it must wait for it.
        const moving = sharded.moveShard(shard, to);
        for (const deadline = Date.now() + 30_000; sharded.status().shards[shard]!.state !== 'frozen' && Date.now() < deadline; ) await sleep(5);
        expect(sharded.status().shards[shard]!.state).toBe('frozen');
        await sleep(300); // time a move that did not wait would take to copy, check and switch
        const heldFor = performance.now();
        child.stdin!.write('commit\n');
        const report = await moving;
        const waitedAfterCommit = performance.now() - heldFor;
        await sleep(300); // the child keeps writing, on the new database
        child.stdin!.write('stop\n');
        expect(await exited).toBe(0);
        const result = JSON.parse(out.split('\n').find((line) => line.startsWith('{'))!) as {
          acked: string[];
          balance: number;
          afterMove: number;
          loads: number;
          version: number;
          status: Array<{ name: string; requests: number }>;
        };

        // The freeze lasted from before the 300 ms pause until after the held transaction committed.
        expect(report.freezeMs).toBeGreaterThan(300);
        expect(report.freezeMs).toBeGreaterThan(waitedAfterCommit);
        expect(report).toMatchObject({ shard, from, to, version: 2 });
        // The child found out from the fence, loaded version 2 and went on writing to the target.
        expect(result.loads).toBeGreaterThanOrEqual(1);
        expect(result.version).toBe(2);
        expect(result.afterMove).toBeGreaterThan(0);
        expect(result.status.find((d) => d.name === to)!.requests).toBeGreaterThan(0);
        // Nothing lost, nothing duplicated: the target has exactly the acknowledged rows, the source none.
        const expected = [...prefill.map((row) => row[0] as string), ...result.acked].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
        expect(new Set(expected).size).toBe(expected.length);
        const tenantList = tenants.map(() => '?').join(', ');
        expect(await idsOn(sharded.database(to), 'entries', `[tenant_id] IN (${tenantList})`, tenants)).toEqual(expected);
        expect(await idsOn(sharded.database(from), 'entries', `[tenant_id] IN (${tenantList})`, tenants)).toEqual([]);
        const account = await sharded.database(to).executeFirst<{ balance: unknown; updates: unknown }>('SELECT [balance], [updates] FROM [accounts] WHERE [id] = ?', [accountId]);
        expect({ balance: Number(account!.balance), updates: Number(account!.updates) }).toEqual({ balance: result.balance, updates: result.balance });
      } finally {
        child?.kill();
        await sharded.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('two processes with the same map version route alike (and see each other\'s rows)', async () => {
      const json = mapOver(backend, physical.names, LOGICAL);
      const dir = mkdtempSync(join(tmpdir(), 'dal-shard-map-'));
      const sharded = new ShardedDatabase(ShardMap.fromJSON(json), { tables: TABLES });
      try {
        const mapFile = join(dir, 'map.json');
        writeFileSync(mapFile, JSON.stringify(json));
        const keys = Array.from({ length: 500 }, (_, i) => `proc-${i}`);
        const childId = await new Promise<string>((resolve, reject) => {
          const script = `
            import { ShardMap, ShardedDatabase } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
            const sharded = new ShardedDatabase(await ShardMap.load(${JSON.stringify(mapFile)}));
            const keys = ${JSON.stringify(keys)};
            const id = sharded.newId('proc-7');
            await sharded.shard('proc-7').execute('INSERT INTO [entries] ([id], [tenant_id], [amount]) VALUES (?, ?, 7)', [id, 'proc-7']);
            process.stdout.write(JSON.stringify({ version: sharded.map.version, routes: keys.map((k) => sharded.shard(k).database + '/' + sharded.shardOf(k)), id: String(id) }));
            await sharded.close();`;
          const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          let err = '';
          child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
          child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
          child.on('exit', (code) => {
            if (code !== 0) return reject(new Error(`child exited ${String(code)}: ${err}`));
            const parsed = JSON.parse(out) as { version: number; routes: string[]; id: string };
            expect(parsed.version).toBe(sharded.map.version);
            expect(parsed.routes).toEqual(keys.map((k) => `${sharded.shard(k).database}/${sharded.shardOf(k)}`));
            resolve(parsed.id);
          });
        });
        // The row the child wrote is where this process looks for it, found by its id alone.
        const row = await sharded.shardForId(childId).executeFirst<{ tenant_id: string }>('SELECT [tenant_id] FROM [entries] WHERE [id] = ?', [childId]);
        expect(row?.tenant_id).toBe('proc-7');
      } finally {
        await sharded.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
