/**
 * Copying one logical shard's rows between two databases, and checksumming them. A sync pass
 * makes the target's rows of the shard equal to the source's: missing rows are inserted, changed
 * rows updated, rows the source no longer has deleted. Passes run while writes continue (most of
 * the copy) and once more inside the write freeze (the few rows written meanwhile).
 */
import { createHash } from 'node:crypto';
import { ConfigError, type Connection, type Database, type Row } from '@dal/core';

/**
 * A table whose rows live on the shard of their key. Say how to find a row's logical shard with
 * exactly one of `shardColumn` (the shard number; moves then read only that shard's rows, by an
 * index you create), `keyColumn` (the shard key, routed like `sharded.shard(key)`) or `idColumn`
 * (an id from `sharded.newId`). With `keyColumn` / `idColumn` a move scans the whole table of the
 * source database and keeps the shard's rows.
 */
export interface ShardedTable {
  name: string;
  /** Single-column primary key (default 'id'); moves page and match rows by it. */
  primaryKey?: string;
  shardColumn?: string;
  keyColumn?: string;
  idColumn?: string;
}

/** A sharded table with its primary key resolved and its row -> shard function. */
export interface ResolvedTable {
  readonly name: string;
  readonly primaryKey: string;
  readonly shardColumn: string | undefined;
  readonly shardOfRow: (row: Row) => number;
}

/** Rows and an order-independent checksum of one table's rows of one shard. */
export interface TableDigest {
  table: string;
  rows: number;
  /** Sum mod 2^64 of the first 8 bytes of each row's SHA-256 (hex); duplicates count twice. */
  checksum: string;
}

export interface SyncCounts {
  inserted: number;
  updated: number;
  deleted: number;
}

/** A value's backend-neutral text, so a row checksums alike on PostgreSQL, MySQL and SQLite. */
function canonical(value: unknown): string {
  if (value === null || value === undefined) return '\u0000';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (value instanceof Uint8Array) return `\u0000x${Buffer.from(value).toString('hex')}`;
  if (typeof value === 'object') return stableJson(value);
  return String(value);
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const entries = Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${stableJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function rowText(row: Row): string {
  return Object.keys(row)
    .sort()
    .map((column) => `${column}\u0001${canonical(row[column])}`)
    .join('\u0002');
}

class Digest {
  rows = 0;
  #sum = 0n;

  add(row: Row): void {
    this.rows++;
    this.#sum = BigInt.asUintN(64, this.#sum + createHash('sha256').update(rowText(row)).digest().readBigUInt64BE(0));
  }

  result(table: string): TableDigest {
    return { table, rows: this.rows, checksum: this.#sum.toString(16).padStart(16, '0') };
  }
}

/**
 * Refuse rows whose integers came back rounded (beyond 2^53 as a JS number, e.g. ids from
 * `newId` on SQLite without `safeIntegers`): copying them would write other values.
 */
function checkExactIntegers(db: Database, table: string, rows: readonly Row[]): void {
  for (const row of rows) {
    for (const [column, value] of Object.entries(row)) {
      if (typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value)) {
        throw new ConfigError(
          `${db.alias}: ${table}.${column} holds an integer beyond 2^53 that the driver returned as a rounded number; ` +
            'have it return bigints or strings (SQLite: driverOptions { safeIntegers: true }) before moving shards',
        );
      }
    }
  }
}

const placeholders = (count: number): string => new Array<string>(count).fill('?').join(', ');

/** The shard's rows of a table, in primary-key pages of `batchSize`. */
async function* shardRows(db: Database, table: ResolvedTable, shard: number, batchSize: number): AsyncGenerator<Row[]> {
  const { name, primaryKey: pk, shardColumn } = table;
  let after: unknown;
  let first = true;
  for (;;) {
    const where: string[] = [];
    const params: unknown[] = [];
    if (shardColumn !== undefined) {
      where.push(`[${shardColumn}] = ?`);
      params.push(shard);
    }
    if (!first) {
      where.push(`[${pk}] > ?`);
      params.push(after);
    }
    const sql = `SELECT * FROM [${name}]${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY [${pk}] LIMIT ${batchSize}`;
    const page = await db.execute(sql, params);
    if (page.length === 0) return;
    checkExactIntegers(db, name, page);
    yield shardColumn === undefined ? page.filter((row) => table.shardOfRow(row) === shard) : page;
    if (page.length < batchSize) return;
    after = page[page.length - 1]![pk];
    first = false;
  }
}

async function rowsByKey(db: Database | Connection, table: ResolvedTable, keys: readonly unknown[]): Promise<Map<string, Row>> {
  const rows = await db.execute(`SELECT * FROM [${table.name}] WHERE [${table.primaryKey}] IN (${placeholders(keys.length)})`, keys);
  return new Map(rows.map((row) => [canonical(row[table.primaryKey]), row]));
}

/**
 * Insert the source's rows of the shard that the target lacks and update those that differ.
 * Returns the source rows' digest, which is exact when no one writes the shard meanwhile.
 */
export async function copyShardRows(source: Database, target: Database, table: ResolvedTable, shard: number, batchSize: number, counts: SyncCounts): Promise<TableDigest> {
  const digest = new Digest();
  for await (const page of shardRows(source, table, shard, batchSize)) {
    if (page.length === 0) continue;
    for (const row of page) digest.add(row);
    const existing = await rowsByKey(target, table, page.map((row) => row[table.primaryKey]));
    const missing = page.filter((row) => !existing.has(canonical(row[table.primaryKey])));
    const changed = page.filter((row) => {
      const there = existing.get(canonical(row[table.primaryKey]));
      return there !== undefined && rowText(there) !== rowText(row);
    });
    if (missing.length === 0 && changed.length === 0) continue;
    await target.withConnection((conn) =>
      conn.transaction(async (tx) => {
        if (missing.length > 0) {
          const columns = Object.keys(missing[0]!);
          await tx.executeMany(
            `INSERT INTO [${table.name}] (${columns.map((c) => `[${c}]`).join(', ')}) VALUES (${placeholders(columns.length)})`,
            missing.map((row) => columns.map((c) => row[c])),
          );
        }
        // UPDATE in place rather than delete + insert, so foreign keys pointing at the row hold.
        for (const row of changed) {
          const columns = Object.keys(row).filter((c) => c !== table.primaryKey);
          await tx.execute(`UPDATE [${table.name}] SET ${columns.map((c) => `[${c}] = ?`).join(', ')} WHERE [${table.primaryKey}] = ?`, [
            ...columns.map((c) => row[c]),
            row[table.primaryKey],
          ]);
        }
      }),
    );
    counts.inserted += missing.length;
    counts.updated += changed.length;
  }
  return digest.result(table.name);
}

/** Delete the target's rows of the shard that the source no longer has (deleted during the copy). */
export async function deleteRowsMissingFrom(source: Database, target: Database, table: ResolvedTable, shard: number, batchSize: number, counts: SyncCounts): Promise<void> {
  for await (const page of shardRows(target, table, shard, batchSize)) {
    if (page.length === 0) continue;
    const keys = page.map((row) => row[table.primaryKey]);
    const kept = await rowsByKey(source, table, keys);
    const gone = keys.filter((key) => !kept.has(canonical(key)));
    if (gone.length === 0) continue;
    await target.execute(`DELETE FROM [${table.name}] WHERE [${table.primaryKey}] IN (${placeholders(gone.length)})`, gone);
    counts.deleted += gone.length;
  }
}

/** Delete every row of the shard from a database (the source, once the map points elsewhere). */
export async function deleteShardRows(db: Database, table: ResolvedTable, shard: number, batchSize: number): Promise<number> {
  let deleted = 0;
  // Paging is by key (`> last key`), so deleting each page does not disturb the next one.
  for await (const page of shardRows(db, table, shard, batchSize)) {
    if (page.length === 0) continue;
    const keys = page.map((row) => row[table.primaryKey]);
    await db.execute(`DELETE FROM [${table.name}] WHERE [${table.primaryKey}] IN (${placeholders(keys.length)})`, keys);
    deleted += keys.length;
  }
  return deleted;
}

/** Rows and checksum of a table's rows of one shard on one database. */
export async function digestShardRows(db: Database, table: ResolvedTable, shard: number, batchSize: number): Promise<TableDigest> {
  const digest = new Digest();
  for await (const page of shardRows(db, table, shard, batchSize)) for (const row of page) digest.add(row);
  return digest.result(table.name);
}
