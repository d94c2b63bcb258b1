import { createHash } from 'node:crypto';
import { EntityError, type Connection, type Database } from '@dal/core';
import { contextOf, entitySqlOf } from './entities.js';
import { exportBatches, type ExportOptions, type TransferProgress } from './export-entities.js';
import { importItems, type ImportOptions, type ImportResult } from './import-entities.js';
import { listEntities } from './transfer-format.js';
import { systemDate } from './serializers.js';

/** The checksum of one entity table. */
export interface TableChecksum {
  entity: string;
  table: string;
  rows: number;
  checksum: string;
}

const MOD_2_64 = 1n << 64n;

/**
 * A checksum over `id` and `updated_at` of an entity's rows and over `id` and `version` of its
 * history rows, computed here from the streamed values so that it is the same on every backend.
 * It is a sum of per-row hashes, so it does not depend on row order (backends sort ids by
 * different collations).
 */
async function tableChecksum(conn: Connection, entity: string, table: string, marker: 'updated_at' | 'version', signal?: AbortSignal): Promise<TableChecksum> {
  const { q } = entitySqlOf(conn);
  let sum = 0n;
  let rows = 0;
  for await (const row of conn.stream<Record<string, unknown>>(`SELECT ${q('id')}, ${q(marker)} FROM ${q(table)}`, [], signal === undefined ? {} : { signal })) {
    const value = row[marker];
    const date = marker === 'updated_at' ? systemDate(value) : undefined;
    const text = marker === 'version' ? String(Number(value)) : date instanceof Date ? date.toISOString() : String(value ?? '');
    const digest = createHash('sha256').update(`${String(row['id'])}\u0000${text}`).digest();
    sum = (sum + digest.readBigUInt64BE(0)) % MOD_2_64;
    rows++;
  }
  return { entity, table, rows, checksum: sum.toString(16).padStart(16, '0') };
}

/**
 * Row counts and checksums of entity tables (each entity's table, then its history table), the
 * same on every backend for the same data: compare them to check a copy.
 *
 * ```ts
 * const [users, usersHistory] = await entityChecksums(conn, { entities: ['users'] });
 * ```
 * @throws {EntityError} for an unknown entity.
 */
export async function entityChecksums(conn: Connection, options: { entities?: readonly string[]; includeHistory?: boolean; signal?: AbortSignal } = {}): Promise<TableChecksum[]> {
  const names = options.entities ?? (await listEntities(conn, entitySqlOf(conn)));
  const out: TableChecksum[] = [];
  for (const name of names) {
    const ctx = contextOf(conn, name);
    const exists = ctx.sql.tableExists(ctx.tables.meta);
    if (Number((await conn.query(exists.sql, exists.params)).rows[0]?.['e'] ?? 0) === 0) throw new EntityError(`unknown entity ${name}: nothing was ever saved under this name`);
    out.push(await tableChecksum(conn, name, ctx.tables.main, 'updated_at', options.signal));
    if (options.includeHistory !== false) out.push(await tableChecksum(conn, name, ctx.tables.history, 'version', options.signal));
  }
  return out;
}

/**
 * Pull up to `limit` items of `source` ahead of the consumer, so that reading the source overlaps
 * with the consumer's waits on its server (the import's statements). Memory holds `limit` items.
 */
async function* readAhead<T>(source: AsyncIterable<T>, limit: number): AsyncGenerator<T, void, undefined> {
  const iterator = source[Symbol.asyncIterator]();
  const pending: Promise<IteratorResult<T>>[] = [];
  try {
    for (;;) {
      while (pending.length < limit) {
        // An async generator runs queued next() calls one after another; a failure ends it and is
        // seen (and thrown) when its turn comes: the handler only keeps it from counting as unhandled.
        const next = iterator.next();
        next.catch(() => undefined);
        pending.push(next);
      }
      const next = await (pending.shift() as Promise<IteratorResult<T>>);
      if (next.done === true) return;
      yield next.value;
    }
  } finally {
    await iterator.return?.();
  }
}

/** Options of `copyEntities`: those of the export and of the import. */
export interface CopyOptions extends Omit<ExportOptions, 'onProgress'>, Omit<ImportOptions, 'onProgress'> {
  /** Called with the export's progress as rows are written, then with the verification's. */
  onProgress?: (progress: TransferProgress) => void;
  /** Compare row counts and checksums of both sides at the end (default true). */
  verify?: boolean;
}

/** One table compared after a copy. */
export interface TableVerification {
  entity: string;
  table: string;
  sourceRows: number;
  targetRows: number;
  sourceChecksum: string;
  targetChecksum: string;
  ok: boolean;
}

export interface CopyResult extends ImportResult {
  verification: TableVerification[];
  /** Every table matched (true when `verify` is false). */
  ok: boolean;
}

/**
 * Copy entities from one database to another, any backend to any backend: the export piped
 * into the import (streaming, batched, resumable: run it again after a failure), then, unless
 * `verify: false`, row counts and checksums compared on both sides.
 *
 * ```ts
 * const result = await copyEntities(sqliteDb, postgresDb);
 * if (!result.ok) console.error(result.verification.filter((t) => !t.ok));
 * ```
 * @throws {EntityError} as `exportEntities` and `importEntities`.
 */
export async function copyEntities(from: Database, to: Database, options: CopyOptions = {}): Promise<CopyResult> {
  const { onProgress, verify = true, ...rest } = options;
  return from.withConnection((source) =>
    to.withConnection(async (target) => {
      // The import reports progress: rows written, out of the totals the export's metadata line carries.
      // Two batches of rows read ahead: the source is read while the target writes.
      const batches = readAhead(exportBatches(source, rest), 2);
      const imported = await importItems(target, batches, { ...rest, ...(onProgress === undefined ? {} : { onProgress }) });
      if (!verify) return { ...imported, verification: [], ok: true };
      const names = Object.keys(imported.entities);
      const check = { entities: names, includeHistory: rest.includeHistory !== false, ...(rest.signal === undefined ? {} : { signal: rest.signal }) };
      onProgress?.({ phase: 'verify', rowsDone: 0 });
      const sourceSums = await entityChecksums(source, check);
      const targetSums = await entityChecksums(target, check);
      const verification = sourceSums.map((s, i): TableVerification => {
        const t = targetSums[i] as TableChecksum;
        return { entity: s.entity, table: t.table, sourceRows: s.rows, targetRows: t.rows, sourceChecksum: s.checksum, targetChecksum: t.checksum, ok: s.rows === t.rows && s.checksum === t.checksum };
      });
      onProgress?.({ phase: 'verify', rowsDone: verification.reduce((sum, v) => sum + v.targetRows, 0) });
      return { ...imported, verification, ok: verification.every((v) => v.ok) };
    }),
  );
}
