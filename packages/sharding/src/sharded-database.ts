import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AbortedError,
  ConfigError,
  DalError,
  DatabaseFactory,
  type Connection,
  type Database,
  type DatabaseConfig,
  type ExecuteOptions,
  type QueryResult,
  type Row,
  type TransactionOptions,
} from '@dal/core';
import { CrossShardError, ShardMapError, ShardMoveError, ShardMovingError, StaleShardMapError } from './errors.js';
import { IdGenerator, decodeId, type IdOptions } from './ids.js';
import { FrozenByFence, ShardFence } from './shard-fence.js';
import { ShardGate } from './shard-gate.js';
import { ShardMap, type ShardDatabaseSpec } from './shard-map.js';
import { hashRouter, routeKey, type ShardKey, type ShardRouter } from './routing.js';
import {
  copyShardRows,
  deleteRowsMissingFrom,
  deleteShardRows,
  digestShardRows,
  type ResolvedTable,
  type ShardedTable,
  type SyncCounts,
  type TableDigest,
} from './table-sync.js';

export interface ShardedDatabaseOptions extends IdOptions {
  /** The sharded tables, parents before children (moves copy in this order and delete in reverse). */
  tables?: readonly ShardedTable[];
  /** Key -> logical shard (default `hashRouter`: FNV-1a 64 of the key's UTF-8, mod N). Same in every process. */
  router?: ShardRouter;
  /** How long an operation on a shard frozen by a move waits before failing with `ShardMovingError` (default 5 s). */
  freezeWaitMs?: number;
  /** Adjust each physical database's config in this process (a password from a secret store, pool sizes). */
  configure?: (name: string, config: DatabaseConfig) => DatabaseConfig;
  /** Open a physical database (default `DatabaseFactory.createDatabase(backend, config)`). */
  createDatabase?: (backend: string, config: DatabaseConfig) => Database;
  /**
   * Called with each new map version a move makes, before this process switches to it; store it
   * where the other processes load it from. If it throws, the move is called off.
   */
  onMapChange?: (map: ShardMap) => void | Promise<void>;
  /**
   * Hold other processes' operations during a move too (default true): every operation through a
   * handle first takes its shard's lock shared and reads its row of `dal_shard_fence` (see
   * docs/scaling.md). `false` saves those round trips where one process alone uses the shards a
   * move touches.
   */
  fence?: boolean;
  /**
   * Load the newest stored map (where `onMapChange` stores it). Called when an operation finds its
   * shard moved away by another process; the operation then runs on the new database instead of
   * failing with `StaleShardMapError`.
   */
  loadMap?: () => ShardMap | Promise<ShardMap>;
}

export interface ForEachShardOptions {
  /** Physical databases queried at once (default 4). */
  concurrency?: number;
  /** Stops starting databases; it is also handed to `fn` to cancel running statements. */
  signal?: AbortSignal;
}

/** What `forEachShard` hands to `fn` about one physical database. */
export interface PhysicalShardInfo {
  database: string;
  /** Logical shards it holds under the map version the fan-out started with. */
  shards: number[];
  signal: AbortSignal | undefined;
}

/** One physical database's outcome of a fan-out. */
export type ShardResult<T> =
  | { database: string; shards: number[]; ok: true; value: T }
  | { database: string; shards: number[]; ok: false; error: unknown };

export interface MoveShardOptions {
  /** Rows per page when copying and checking (default 500). */
  batchSize?: number;
  /** Copy passes while writes continue, before the freeze (default 2: the copy, then a catch-up). */
  onlinePasses?: number;
  /** Give up the move when operations already running on the shard take longer than this to finish (default 5 s). */
  drainTimeoutMs?: number;
  /** Delete the shard's rows from the source after the switch (default true). */
  deleteFromSource?: boolean;
  /** Stops the move between steps (before the switch); the shard stays where it was. */
  signal?: AbortSignal;
  /**
   * How long other processes treat the shard as frozen, should the mover die (default 30 s). The
   * move gives up unless it switches within half of it; the other half allows for clock
   * differences between hosts.
   */
  freezeLeaseMs?: number;
}

export interface MoveReport {
  shard: number;
  from: string;
  to: string;
  /** The map version that has the shard on `to`. */
  version: number;
  /** Rows written to the target, over all passes. */
  copied: SyncCounts;
  /** Rows the last pass, inside the freeze, had to fix. */
  finalPass: SyncCounts;
  /** How long operations on the shard were held. */
  freezeMs: number;
  /** Per table: the rows and checksum found equal on source and target inside the freeze. */
  verified: TableDigest[];
  /** Rows deleted from the source after the switch. */
  deletedFromSource: number;
  /** Set when deleting from the source failed after a successful switch (the move itself stands). */
  cleanupError?: unknown;
}

export interface ShardCounters {
  requests: number;
  errors: number;
}

export interface ShardingStatus {
  version: number;
  logicalShards: number;
  databases: Array<ShardCounters & { name: string; backend: string; alias: string; shards: number[] }>;
  shards: Array<ShardCounters & { shard: number; database: string; state: 'serving' | 'frozen'; inFlight: number }>;
}

/** One operation of a shard handle, in the two ways `run` may execute it. */
interface ShardWork<T> {
  /** Straight on the database: without the fence, or nested in the shard's own transaction. */
  direct(db: Database): Promise<T>;
  /** On a connection that holds the shard's fence (inside a transaction when `transaction` is set, or the backend needs one). */
  checked(conn: Connection): Promise<T>;
  /** Set for a handle's `transaction(fn, options)`: `checked` must run in a transaction with these options. */
  transaction?: TransactionOptions;
}

/** Marks work running inside a shard's transaction, to catch statements for another shard. */
interface ShardScope {
  owner: ShardedDatabase;
  shard: number;
}
const scope = new AsyncLocalStorage<ShardScope>();

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function resolveTable(table: ShardedTable, routeOf: (key: ShardKey) => number): ResolvedTable {
  const ways = [table.shardColumn, table.keyColumn, table.idColumn].filter((column) => column !== undefined);
  const primaryKey = table.primaryKey ?? 'id';
  for (const name of [table.name, primaryKey, ...ways]) {
    if (typeof name !== 'string' || !IDENTIFIER.test(name)) throw new ConfigError(`sharded table ${String(table.name)}: "${String(name)}" is not a plain identifier`);
  }
  if (ways.length !== 1) throw new ConfigError(`sharded table ${table.name}: give exactly one of shardColumn, keyColumn, idColumn`);
  const shardOfRow =
    table.shardColumn !== undefined
      ? (row: Row) => Number(row[table.shardColumn!])
      : table.keyColumn !== undefined
        ? (row: Row) => routeOf(row[table.keyColumn!] as ShardKey)
        : (row: Row) => decodeId(row[table.idColumn!] as string).shard;
  return { name: table.name, primaryKey, shardColumn: table.shardColumn, shardOfRow };
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new ConfigError(`${name} must be a positive integer (got ${String(value)})`);
  return value;
}

/**
 * Logical shards over several physical databases.
 *
 * ```ts
 * const sharded = new ShardedDatabase(await ShardMap.load('shards.json'), {
 *   tables: [{ name: 'orders', keyColumn: 'tenant_id' }],
 * });
 * await sharded.shard(tenantId).execute('INSERT INTO [orders] ([id], [tenant_id]) VALUES (?, ?)', [sharded.newId(tenantId), tenantId]);
 * ```
 */
export class ShardedDatabase {
  #map: ShardMap;
  readonly #router: ShardRouter;
  readonly #tables: readonly ResolvedTable[];
  readonly #ids: IdGenerator;
  readonly #freezeWaitMs: number;
  readonly #options: ShardedDatabaseOptions;
  readonly #gates: ShardGate[];
  /** Open physical databases by map name, with the config hash they were opened with. */
  readonly #databases = new Map<string, { hash: string; db: Database }>();
  /** Databases replaced by a reload (same name, new settings): closed by `close()`. */
  readonly #retired: Database[] = [];
  readonly #shardCounters: ShardCounters[];
  readonly #databaseCounters = new Map<string, ShardCounters>();
  /** Moves run one at a time: each makes the next map version. */
  #moving: Promise<unknown> = Promise.resolve();
  #moveRunning = false;
  #closed = false;
  /** Null when the `fence` option is off. */
  readonly #fence: ShardFence | null;
  /** A `loadMap` call in progress, shared by every operation that found the map stale. */
  #loading: Promise<ShardMap> | undefined;

  constructor(map: ShardMap, options: ShardedDatabaseOptions = {}) {
    this.#map = map;
    this.#options = options;
    this.#router = options.router ?? hashRouter;
    this.#ids = new IdGenerator(options);
    this.#freezeWaitMs = positive('freezeWaitMs', options.freezeWaitMs, 5_000);
    this.#tables = (options.tables ?? []).map((table) => resolveTable(table, (key) => this.shardOf(key)));
    this.#gates = Array.from({ length: map.logicalShards }, (_, shard) => new ShardGate(shard));
    this.#shardCounters = Array.from({ length: map.logicalShards }, () => ({ requests: 0, errors: 0 }));
    this.#fence = (options.fence ?? true) ? new ShardFence() : null;
  }

  /** The map this process routes by now. */
  get map(): ShardMap {
    return this.#map;
  }

  /** The logical shard of a key. @throws {ShardKeyError} for a key that is not a non-empty string or an integer. */
  shardOf(key: ShardKey): number {
    return routeKey(this.#router, key, this.#map.logicalShards);
  }

  /** A handle on the key's logical shard: statements, connections and transactions on its database. */
  shard(key: ShardKey): ShardHandle {
    return new ShardHandle(this, this.shardOf(key));
  }

  /** A handle on a logical shard by number (fan-out by logical shard, maintenance). */
  logicalShard(shard: number): ShardHandle {
    this.#map.databaseOf(shard); // checks the number
    return new ShardHandle(this, shard);
  }

  /** The handle of the shard an id was made for: find a row by its id alone. */
  shardForId(id: bigint | string | number): ShardHandle {
    return this.logicalShard(this.shardOfId(id));
  }

  /** A new sortable 64-bit id on the key's shard (layout in ids.ts / the README). */
  newId(key: ShardKey): bigint {
    return this.#ids.next(this.shardOf(key));
  }

  /** The logical shard carried by an id from `newId`. @throws {ShardKeyError} for a value that is not an id. */
  shardOfId(id: bigint | string | number): number {
    const { shard } = decodeId(id);
    if (shard >= this.#map.logicalShards) throw new ShardMapError(`id ${String(id)} names logical shard ${shard}, outside this map of ${this.#map.logicalShards}`);
    return shard;
  }

  /**
   * Run `fn` in one transaction on the shard of `keys`, which must all be on the same shard.
   * @throws {CrossShardError} when they are not (nothing ran): a transaction never spans shards.
   */
  transaction<T>(keys: ShardKey | readonly ShardKey[], fn: (tx: Connection) => Promise<T>, options?: TransactionOptions & { signal?: AbortSignal }): Promise<T> {
    const list = Array.isArray(keys) ? (keys as readonly ShardKey[]) : [keys as ShardKey];
    if (list.length === 0) return Promise.reject(new ConfigError('sharded.transaction needs at least one key'));
    const shard = this.shardOf(list[0]!);
    for (const key of list) {
      const other = this.shardOf(key);
      if (other !== shard) return Promise.reject(new CrossShardError(`keys on logical shards ${shard} and ${other} in one transaction: a transaction never spans shards`, shard, other));
    }
    return new ShardHandle(this, shard).transaction(fn, options);
  }

  /**
   * Run `fn` on every physical database that holds logical shards, at most `concurrency` at a
   * time. Never rejects for one database's failure: each result says `ok` with its value or its error.
   */
  async forEachShard<T>(fn: (db: Database, info: PhysicalShardInfo) => Promise<T>, options: ForEachShardOptions = {}): Promise<ShardResult<T>[]> {
    const concurrency = positive('concurrency', options.concurrency, 4);
    const { signal } = options;
    const map = this.#map;
    const targets = map.databaseNames().map((database) => ({ database, shards: map.shardsOf(database) })).filter((t) => t.shards.length > 0);
    const results = new Array<ShardResult<T>>(targets.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < targets.length) {
        const index = next++;
        const { database, shards } = targets[index]!;
        const counters = this.#databaseCounter(database);
        counters.requests++;
        try {
          if (signal?.aborted) throw new AbortedError(`forEachShard: aborted before ${database}`, signal.reason);
          const value = await fn(this.#database(database, map), { database, shards, signal });
          results[index] = { database, shards, ok: true, value };
        } catch (error) {
          counters.errors++;
          results[index] = { database, shards, ok: false, error };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, targets.length) }, worker));
    return results;
  }

  /**
   * Move a logical shard to another database while the app runs: copy its rows (twice by default,
   * while writes go on), freeze operations on that shard only, copy what changed meanwhile, check
   * rows and checksums of every sharded table on both sides, store and switch to the new map
   * version, release the held operations (they run on the new database), then delete the shard's
   * rows from the old one. The tables must exist on the target already.
   * @param to a database name of the map, or `{ name, ...settings }` to add one.
   * @throws {ShardMoveError} when it stops before the switch: the shard stays where it was.
   */
  moveShard(shard: number, to: string | ({ name: string } & ShardDatabaseSpec), options: MoveShardOptions = {}): Promise<MoveReport> {
    const run = this.#moving.then(() => this.#move(shard, to, options));
    this.#moving = run.catch(() => undefined);
    return run;
  }

  /**
   * Switch to a newer map version (another process moved a shard). New operations route by it at
   * once; running ones finish where they started.
   * @throws {ShardMapError} for an older version, the same version with other content, another
   *   number of logical shards (every key would move), or while a move runs here.
   */
  reloadMap(map: ShardMap): void {
    const current = this.#map;
    if (map.version === current.version && map.sameAs(current)) return;
    if (this.#moveRunning) throw new ShardMapError('a shard move is running in this process; reload the map after it');
    if (map.logicalShards !== current.logicalShards) {
      throw new ShardMapError(`the new map has ${map.logicalShards} logical shards, this one ${current.logicalShards}: changing the count re-routes every key; keep it and move shards instead`);
    }
    if (map.version <= current.version) throw new ShardMapError(`shard map version ${map.version} is not newer than ${current.version} (with different content)`);
    this.#map = map;
  }

  /** Requests and errors per physical database and per logical shard, and each shard's state. */
  status(): ShardingStatus {
    const map = this.#map;
    return {
      version: map.version,
      logicalShards: map.logicalShards,
      databases: map.databaseNames().map((name) => {
        const { backend } = map.physical(name);
        return { name, backend, alias: this.#configFor(name, map).alias, shards: map.shardsOf(name), ...this.#databaseCounter(name) };
      }),
      shards: this.#gates.map((gate, shard) => ({
        shard,
        database: map.databaseOf(shard),
        state: gate.frozen ? 'frozen' : 'serving',
        inFlight: gate.inFlight,
        ...this.#shardCounters[shard]!,
      })),
    };
  }

  /** The physical database by its map name (opened on first use), for schema set-up and maintenance. */
  database(name: string): Database {
    return this.#database(name, this.#map);
  }

  /** Close every physical database opened here. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const open = [...[...this.#databases.values()].map((entry) => entry.db), ...this.#retired];
    this.#databases.clear();
    await Promise.all(open.map((db) => db.close()));
  }

  // --- used by ShardHandle -------------------------------------------------------------------

  /** @internal Run `work` on the shard's current database, counted, and held while the shard is frozen. */
  async run<T>(shard: number, signal: AbortSignal | undefined, work: ShardWork<T>): Promise<T> {
    const inside = scope.getStore();
    const sameScope = inside?.owner === this;
    const counters = this.#shardCounters[shard]!;
    counters.requests++;
    if (sameScope && inside.shard !== shard) {
      counters.errors++;
      throw new CrossShardError(`logical shard ${shard} used inside a transaction of logical shard ${inside.shard}: a transaction never spans shards`, inside.shard, shard);
    }
    // Inside this shard's own transaction the shard is already counted in; waiting would deadlock a freeze.
    const gate = sameScope ? undefined : this.#gates[shard]!;
    let entered = false;
    try {
      await gate?.enter(this.#freezeWaitMs, signal);
      entered = true;
      if (sameScope || this.#fence === null) return await this.#onDatabase(shard, this.#map, (db) => work.direct(db));
      return await this.#runChecked(shard, signal, work, this.#fence);
    } catch (error) {
      counters.errors++;
      throw error;
    } finally {
      if (entered) gate?.leave();
    }
  }

  /** @internal Run `fn` marked as inside a transaction of `shard`. */
  inShardScope<T>(shard: number, fn: () => Promise<T>): Promise<T> {
    return scope.run({ owner: this, shard }, fn);
  }

  // --- internals -----------------------------------------------------------------------------

  #configFor(name: string, map: ShardMap): DatabaseConfig {
    const { config } = map.physical(name);
    return this.#options.configure?.(name, config) ?? config;
  }

  #database(name: string, map: ShardMap): Database {
    if (this.#closed) throw new ShardMapError('the sharded database was closed');
    const config = this.#configFor(name, map);
    const open = this.#databases.get(name);
    if (open !== undefined && open.hash === config.hash()) return open.db;
    if (open !== undefined) this.#retired.push(open.db);
    const { backend } = map.physical(name);
    const db = this.#options.createDatabase?.(backend, config) ?? DatabaseFactory.createDatabase(backend, config);
    this.#databases.set(name, { hash: config.hash(), db });
    return db;
  }

  /** Run `fn` on the shard's database under `map`, counted for that database. */
  async #onDatabase<T>(shard: number, map: ShardMap, fn: (db: Database, name: string) => Promise<T>): Promise<T> {
    const name = map.databaseOf(shard);
    const counters = this.#databaseCounter(name);
    counters.requests++;
    try {
      return await fn(this.#database(name, map), name);
    } catch (error) {
      // A fence back-off is not the database failing.
      if (!(error instanceof ShardMovingError)) counters.errors++;
      throw error;
    }
  }

  /**
   * `work` holding the shard's fence (see shard-fence.ts): backs off while another
   * process moves the shard (up to `freezeWaitMs`), and follows a move another process finished.
   */
  async #runChecked<T>(shard: number, signal: AbortSignal | undefined, work: ShardWork<T>, fence: ShardFence): Promise<T> {
    const started = Date.now();
    let backoffMs = 5;
    for (;;) {
      const map = this.#map;
      try {
        return await this.#onDatabase(shard, map, (db, name) =>
          fence.hold(db, { backend: map.physical(name).backend, database: name, shard, mapVersion: map.version }, work.transaction, (conn) => this.inShardScope(shard, () => work.checked(conn)), signal),
        );
      } catch (error) {
        if (error instanceof StaleShardMapError) {
          if (await this.#followMove(error, map)) continue;
          throw error;
        }
        if (!(error instanceof FrozenByFence)) throw error;
        const waited = Date.now() - started;
        if (waited >= this.#freezeWaitMs) {
          throw new ShardMovingError(`logical shard ${shard} is being moved by another process; the operation waited ${waited} ms and did not run (retry it)`, shard, waited, { cause: error });
        }
        if (signal?.aborted) throw new AbortedError(`logical shard ${shard}: aborted while waiting for a move`, signal.reason);
        await sleep(Math.min(backoffMs, this.#freezeWaitMs - waited)).catch(() => undefined);
        backoffMs = Math.min(backoffMs * 2, 100);
      }
    }
  }

  /**
   * After an operation found its shard moved away: switch to a map at least as new as the move,
   * loading it with `loadMap`. False when there is none (the caller rethrows the stale error).
   */
  async #followMove(stale: StaleShardMapError, routedBy: ShardMap): Promise<boolean> {
    if (this.#map.version > routedBy.version) return true; // another operation reloaded meanwhile
    const { loadMap } = this.#options;
    if (loadMap === undefined) return false;
    this.#loading ??= Promise.resolve()
      .then(loadMap)
      .finally(() => (this.#loading = undefined));
    const loaded = await this.#loading;
    if (loaded.version < stale.leftAtVersion) return false;
    if (loaded.version > this.#map.version) {
      try {
        this.reloadMap(loaded);
      } catch {
        return false; // a move runs in this process, or the loaded map does not fit: report the stale map
      }
    }
    return true;
  }

  #databaseCounter(name: string): ShardCounters {
    let counters = this.#databaseCounters.get(name);
    if (counters === undefined) this.#databaseCounters.set(name, (counters = { requests: 0, errors: 0 }));
    return counters;
  }

  async #move(shard: number, to: string | ({ name: string } & ShardDatabaseSpec), options: MoveShardOptions): Promise<MoveReport> {
    const batchSize = positive('batchSize', options.batchSize, 500);
    const onlinePasses = options.onlinePasses ?? 2;
    if (!Number.isInteger(onlinePasses) || onlinePasses < 0) throw new ConfigError(`onlinePasses must be a non-negative integer (got ${String(onlinePasses)})`);
    const drainTimeoutMs = positive('drainTimeoutMs', options.drainTimeoutMs, 5_000);
    const freezeLeaseMs = positive('freezeLeaseMs', options.freezeLeaseMs, 30_000);
    const { signal } = options;
    const map = this.#map;
    const from = map.databaseOf(shard);
    const { name: target, ...spec } = typeof to === 'string' ? { name: to } : to;
    if (target === from) throw new ShardMapError(`logical shard ${shard} is on "${from}" already`);
    const next = typeof to === 'string' ? map.withShardOn(shard, target) : map.withShardOn(shard, target, spec);
    const source = this.#database(from, map);
    const destination = this.#database(target, next);
    const copied: SyncCounts = { inserted: 0, updated: 0, deleted: 0 };
    const finalPass: SyncCounts = { inserted: 0, updated: 0, deleted: 0 };
    const checkAbort = (): void => {
      if (signal?.aborted) throw new AbortedError(`move of logical shard ${shard}: aborted`, signal.reason);
    };
    /** One pass: upsert parents first, delete children first. Returns the source's digests. */
    const syncPass = async (counts: SyncCounts): Promise<TableDigest[]> => {
      const digests: TableDigest[] = [];
      for (const table of this.#tables) digests.push(await copyShardRows(source, destination, table, shard, batchSize, counts));
      for (const table of [...this.#tables].reverse()) await deleteRowsMissingFrom(source, destination, table, shard, batchSize, counts);
      return digests;
    };
    const addTo = (total: SyncCounts, pass: SyncCounts): void => {
      total.inserted += pass.inserted;
      total.updated += pass.updated;
      total.deleted += pass.deleted;
    };

    this.#moveRunning = true;
    const gate = this.#gates[shard]!;
    const fence = this.#fence;
    let frozenAt: number | undefined;
    /** The source's fence row while the move holds it: its `left_version` before, and the lease end. */
    let fenced: { leftVersion: number; until: number } | undefined;
    try {
      for (let pass = 0; pass < onlinePasses; pass++) {
        checkAbort();
        await syncPass(copied);
      }
      checkAbort();
      await gate.freeze(drainTimeoutMs);
      frozenAt = performance.now();
      if (fence !== null) {
        // Waits for other processes' transactions on the shard to finish; later ones back off.
        const until = Date.now() + freezeLeaseMs;
        fenced = { leftVersion: await fence.freeze(source, map.physical(from).backend, shard, until, drainTimeoutMs), until };
        await fence.ensure(destination, shard);
      }
      // Nothing writes the shard now: this pass and the checks see its final rows.
      const sourceDigests = await syncPass(finalPass);
      addTo(copied, finalPass);
      const targetDigests: TableDigest[] = [];
      for (const table of this.#tables) targetDigests.push(await digestShardRows(destination, table, shard, batchSize));
      const differing = targetDigests.filter((digest, i) => digest.rows !== sourceDigests[i]!.rows || digest.checksum !== sourceDigests[i]!.checksum);
      if (differing.length > 0) {
        const detail = differing.map((d) => {
          const expected = sourceDigests.find((s) => s.table === d.table)!;
          return `${d.table}: ${expected.rows} rows / ${expected.checksum} on "${from}", ${d.rows} rows / ${d.checksum} on "${target}"`;
        });
        throw new ShardMoveError(`move of logical shard ${shard} failed its check (${detail.join('; ')}); the shard stays on "${from}"`, shard);
      }
      checkAbort();
      if (fenced !== undefined) {
        if (Date.now() > fenced.until - freezeLeaseMs / 2) {
          throw new ShardMoveError(`move of logical shard ${shard}: the frozen part took more than half of freezeLeaseMs (${freezeLeaseMs} ms); the shard stays on "${from}"`, shard, { retryable: true });
        }
        // Before the map is published: from now on no process routing by an older map writes to the source.
        await fence!.markLeft(source, shard, next.version);
      }
      await this.#options.onMapChange?.(next);
      this.#map = next;
      gate.unfreeze();
      const freezeMs = performance.now() - frozenAt;
      frozenAt = undefined;

      const report: MoveReport = { shard, from, to: target, version: next.version, copied, finalPass, freezeMs, verified: sourceDigests, deletedFromSource: 0 };
      const released = fenced;
      fenced = undefined;
      try {
        // left_version keeps fencing the source; ending the lease only tidies the row.
        if (released !== undefined) await fence!.release(source, shard);
        if (options.deleteFromSource ?? true) {
          for (const table of [...this.#tables].reverse()) report.deletedFromSource += await deleteShardRows(source, table, shard, batchSize);
        }
      } catch (error) {
        report.cleanupError = error;
      }
      return report;
    } catch (error) {
      if (error instanceof ShardMoveError) throw error;
      const message = DalError.isInstance(error) || error instanceof Error ? error.message : String(error);
      throw new ShardMoveError(`move of logical shard ${shard} from "${from}" to "${target}" stopped: ${message}; the shard stays on "${from}"`, shard, {
        cause: error,
        retryable: DalError.isInstance(error) && error.retryable,
      });
    } finally {
      // Called off: other processes may use the source again (should this fail, the lease ends it).
      if (fenced !== undefined) await fence!.release(source, shard, fenced.leftVersion).catch(() => undefined);
      if (frozenAt !== undefined) gate.unfreeze();
      this.#moveRunning = false;
    }
  }
}

/**
 * One logical shard, used like a `Database`: statements, connections and transactions go to the
 * physical database the current map gives the shard. While the shard is being moved they wait
 * (up to `freezeWaitMs`), then go to its new database.
 */
export class ShardHandle {
  readonly #owner: ShardedDatabase;
  /** The logical shard number. */
  readonly shard: number;

  /** @internal Made by ShardedDatabase. */
  constructor(owner: ShardedDatabase, shard: number) {
    this.#owner = owner;
    this.shard = shard;
  }

  /** The map name of the physical database that holds the shard now. */
  get database(): string {
    return this.#owner.map.databaseOf(this.shard);
  }

  /** Whether a key belongs to this shard. */
  owns(key: ShardKey): boolean {
    return this.#owner.shardOf(key) === this.shard;
  }

  /** @throws {CrossShardError} when the key belongs to another shard. */
  assertOwns(key: ShardKey): void {
    const other = this.#owner.shardOf(key);
    if (other !== this.shard) throw new CrossShardError(`a key of logical shard ${other} used with the handle of logical shard ${this.shard}`, this.shard, other);
  }

  execute<R = Row>(sql: string, params?: readonly unknown[], options?: ExecuteOptions): Promise<R[]> {
    return this.#owner.run(this.shard, options?.signal, { direct: (db) => db.execute<R>(sql, params, options), checked: (tx) => tx.execute<R>(sql, params, options) });
  }

  query<R = Row>(sql: string, params?: readonly unknown[], options?: ExecuteOptions): Promise<QueryResult<R>> {
    return this.#owner.run(this.shard, options?.signal, { direct: (db) => db.query<R>(sql, params, options), checked: (tx) => tx.query<R>(sql, params, options) });
  }

  executeFirst<R = Row>(sql: string, params?: readonly unknown[], options?: ExecuteOptions): Promise<R | undefined> {
    return this.#owner.run(this.shard, options?.signal, { direct: (db) => db.executeFirst<R>(sql, params, options), checked: (tx) => tx.executeFirst<R>(sql, params, options) });
  }

  /**
   * A pooled connection of the shard's database for `fn` (released after). A move of this shard
   * waits for `fn` to finish, so keep it short. There is no bare `connection()`: a connection
   * held outside a callback could not be waited for. With the `fence` option (the default) on
   * MySQL/MariaDB and SQLite `fn` runs inside one transaction (its own `conn.transaction` calls
   * become savepoints); PostgreSQL's fence is a lock on the session, `fn` runs as it would without.
   */
  withConnection<T>(fn: (conn: Connection) => Promise<T>, options: { signal?: AbortSignal } = {}): Promise<T> {
    return this.#owner.run(this.shard, options.signal, { direct: (db) => db.withConnection(fn, options), checked: fn });
  }

  /**
   * `fn` in a transaction on the shard's database (commit on return, roll back on throw). Using
   * another logical shard of the same ShardedDatabase inside it throws `CrossShardError`.
   */
  transaction<T>(fn: (tx: Connection) => Promise<T>, options: TransactionOptions & { signal?: AbortSignal } = {}): Promise<T> {
    const { signal, ...txOptions } = options;
    return this.#owner.run(this.shard, signal, {
      direct: (db) => db.withConnection((conn) => this.#owner.inShardScope(this.shard, () => conn.transaction(fn, txOptions)), signal === undefined ? {} : { signal }),
      checked: fn,
      transaction: txOptions,
    });
  }
}
