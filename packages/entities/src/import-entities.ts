import { AbortedError, DalError, EntityError, type Connection } from '@dal/core';
import { contextOf } from './entities.js';
import type { EntityDialect } from './entity-dialect.js';
import { checkBatchSize, type TransferProgress } from './export-entities.js';
import { Budget, query, runAsync, transaction, type Op } from './executor.js';
import { checkFieldName } from './names.js';
import { ensureSchema, loadSchema, type EntityContext } from './schema.js';
import { invalidateSchema } from './schema-cache.js';
import type { FieldType } from './serializers.js';
import { paramsOf, portableValues, readMetadata, RowBatch, tableLayout, tableRead, type ExportedEntity, type TableRead, type ToParam } from './transfer-format.js';

/** Options of `importEntities`. */
export interface ImportOptions {
  /**
   * What to do with a row (or history version) the target already holds with different data:
   * fail with an `EntityError` naming it (default), keep the target's (`skip`), or overwrite it
   * (`replace`). A row the target holds exactly as the file has it is left alone in every mode,
   * which is what makes an import resumable.
   */
  onConflict?: 'fail' | 'skip' | 'replace';
  /** Lines written per transaction (default 1000). */
  batchSize?: number;
  /** Stops the import between batches (the running batch rolls back); throws `AbortedError`. */
  signal?: AbortSignal;
  /** Called after each batch. */
  onProgress?: (progress: TransferProgress) => void;
}

/** What an import did, per entity. */
export interface ImportedCounts {
  /** Rows written. */
  rows: number;
  /** History rows written. */
  history: number;
  /** Rows and history rows the target held with different data, kept (`onConflict: 'skip'`). */
  skipped: number;
  /** Rows and history rows the target already held exactly as the file has them (an earlier, interrupted run). */
  unchanged: number;
}

export interface ImportResult {
  entities: Record<string, ImportedCounts>;
  /** Lines read (blank lines not counted). */
  lines: number;
}

const CONFLICT_MODES = new Set(['fail', 'skip', 'replace']);
/** Ids per look-up of existing rows. */
const IDS_PER_LOOKUP = 500;
/** Most rows in one INSERT. */
const MAX_ROWS_PER_INSERT = 1_000;

/** One table of an entity being imported. */
interface TargetTable {
  readonly history: boolean;
  /** Its layout, and how rows already in the target are read to be compared. */
  readonly read: TableRead;
  /** Per column: the portable value as a parameter, checked. */
  readonly params: readonly ToParam[];
  /** Where `version` is in the layout (history), else -1. */
  readonly versionAt: number;
  /** INSERT statements by number of rows (the same few sizes come back batch after batch). */
  readonly inserts: Map<number, string>;
  /**
   * The target held some of the rows of a batch (an earlier run): batches of this table look up
   * their rows before writing, until one finds none of them there.
   */
  careful: boolean;
}

/** One entity being imported. */
interface Target {
  readonly name: string;
  readonly entity: ExportedEntity;
  readonly ctx: EntityContext;
  readonly main: TargetTable;
  readonly history: TargetTable;
  readonly counts: ImportedCounts;
  /** The last history line's id and version: versions of an id must follow each other from 1. */
  lastId: string | undefined;
  lastVersion: number;
}

/** One row line, checked and ready to write. */
interface Pending {
  readonly line: number;
  readonly target: Target;
  readonly table: TargetTable;
  readonly id: string;
  readonly version: number;
  /** The row's values in layout order as the file has them: compared with what the target holds, when it holds the row. */
  readonly values: readonly unknown[];
  readonly params: unknown[];
}

function keyOf(history: boolean, id: string, version: unknown): string {
  return history ? `${id}\u0000${String(version)}` : id;
}

function describeRow(item: Pending): string {
  return item.table.history ? `${item.target.name} history row ${JSON.stringify(item.id)} version ${item.version}` : `${item.target.name} row ${JSON.stringify(item.id)}`;
}

function targetTable(ctx: EntityContext, entity: ExportedEntity, history: boolean): TargetTable {
  const layout = tableLayout(history ? ctx.tables.history : ctx.tables.main, entity.fields, history);
  return {
    history,
    read: tableRead(ctx.sql, layout, entity.fields),
    params: paramsOf(ctx.sql, layout),
    versionAt: history ? layout.columns.indexOf('version') : -1,
    inserts: new Map(),
    careful: false,
  };
}

/**
 * Compare the file's fields with the target's before anything changes: a field both have must
 * have the same type (a field holding only nulls fits any).
 * @throws {EntityError} naming the entity and field.
 */
function* checkTypes(ctx: EntityContext, entity: ExportedEntity): Op<void> {
  const existing = yield* loadSchema(ctx);
  for (const [field, { type, legacy }] of Object.entries(entity.fields)) {
    const info = existing?.get(field);
    if (info === undefined || info.type === 'null' || type === 'null') continue;
    const sameLegacy = info.legacy === null || legacy === null || info.legacy === legacy;
    if (info.type !== type || !sameLegacy) {
      throw new EntityError(
        `${entity.name}.${field}: the target stores it as ${info.type}${info.legacy === null ? '' : ` (before: ${info.legacy})`}, the file as ${type}${legacy === null ? '' : ` (before: ${legacy})`}; nothing was imported`,
      );
    }
  }
}

/** Create the entity's tables and fields in the target (runtime DDL, as a save would), then record mixed fields' earlier types. */
function* prepareTarget(ctx: EntityContext, entity: ExportedEntity): Op<void> {
  // An import is rare and large: read the target's schema afresh rather than trust the cache.
  invalidateSchema(ctx.database, ctx.entity);
  yield* checkTypes(ctx, entity);
  const needs = new Map<string, Set<FieldType>>(Object.entries(entity.fields).map(([field, { type }]) => [field, new Set([type])]));
  const ensure = (): Op<unknown> => ensureSchema(ctx, needs);
  yield* ctx.transactionalDdl ? transaction(ensure) : ensure();
  const { q } = ctx.sql;
  for (const [field, { type, legacy }] of Object.entries(entity.fields)) {
    if (type !== 'mixed' || legacy === null) continue;
    // Rows saved before the field became mixed carry no type tag: their type is the legacy one.
    yield* query(`UPDATE ${q(ctx.tables.meta)} SET ${q('legacy_type')} = ? WHERE ${q('field_name')} = ? AND ${q('legacy_type')} IS NULL`, [legacy, field]);
  }
  invalidateSchema(ctx.database, ctx.entity);
}

/**
 * Check one row line and turn it into statement parameters.
 * @throws {EntityError} naming the line: unknown type or entity, missing id, a version that skips, a bad value.
 */
function readRow(item: Record<string, unknown>, line: number, targets: ReadonlyMap<string, Target>): Pending {
  const type = item['type'];
  if (type !== 'row' && type !== 'history') throw new EntityError(`line ${line}: unknown line type ${JSON.stringify(type)} (expected "row" or "history")`);
  const target = targets.get(String(item['entity']));
  if (target === undefined) throw new EntityError(`line ${line}: entity ${JSON.stringify(item['entity'])} is not listed in the metadata line`);
  const row = item['row'];
  if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new EntityError(`line ${line}: a ${type} line needs a "row" object`);
  const table = type === 'history' ? target.history : target.main;
  const { columns, kinds } = table.read.layout;
  const values = row as Record<string, unknown>;
  checkId(values['id'], line, target, table);
  for (const column of Object.keys(values)) {
    if (!kinds.has(column)) throw new EntityError(`line ${line}: ${target.name} row ${JSON.stringify(values['id'])} has the field "${column}", which the metadata line does not list`);
  }
  return checkRow(
    columns.map((column) => values[column]),
    line,
    target,
    table,
  );
}

/** @throws {EntityError} naming the line when `id` is not an id. */
function checkId(id: unknown, line: number, target: Target, table: TargetTable): asserts id is string {
  if (typeof id !== 'string' || id.length === 0 || id.length > 255) {
    throw new EntityError(`line ${line}: ${target.name} ${table.history ? 'history' : 'row'} row has no id (a non-empty string of at most 255 characters)`);
  }
}

/**
 * Check a row's values (in layout order; `id` first) and turn them into statement parameters.
 * @throws {EntityError} naming the line: missing id, a version that skips, a bad value.
 */
function checkRow(values: readonly unknown[], line: number, target: Target, table: TargetTable): Pending {
  const id = values[0];
  checkId(id, line, target, table);
  let version = 0;
  if (table.history) {
    version = values[table.versionAt] as number;
    const expected = target.lastId === id ? target.lastVersion + 1 : 1;
    if (version !== expected) {
      throw new EntityError(
        target.lastId === id
          ? `line ${line}: ${target.name} history of ${JSON.stringify(id)} skips from version ${target.lastVersion} to ${JSON.stringify(version)}`
          : `line ${line}: ${target.name} history of ${JSON.stringify(id)} starts at version ${JSON.stringify(version)}, not 1 (history lines must list each id's versions in order)`,
      );
    }
    target.lastId = id;
    target.lastVersion = version;
  }
  const { params: toParams } = table;
  const params = new Array<unknown>(toParams.length);
  try {
    for (let i = 0; i < toParams.length; i++) params[i] = (toParams[i] as ToParam)(values[i]);
  } catch (error) {
    throw new EntityError(`line ${line}: ${target.name} row ${JSON.stringify(id)}: ${(error as Error).message}`);
  }
  return { line, target, table, id, version, values, params };
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Multi-row INSERTs of `items`, as many rows per statement as the backend's placeholder limit allows. */
function* insertRows(table: TargetTable, sql: EntityDialect, items: readonly Pending[]): Op<void> {
  const { columns } = table.read.layout;
  const perStatement = Math.max(1, Math.min(MAX_ROWS_PER_INSERT, Math.floor(sql.maxParams / columns.length)));
  for (let start = 0; start < items.length; start += perStatement) {
    const rows = Math.min(perStatement, items.length - start);
    let text = table.inserts.get(rows);
    if (text === undefined) {
      const tuple = `(${columns.map(() => '?').join(', ')})`;
      text = `INSERT INTO ${sql.q(table.read.layout.table)} (${columns.map(sql.q).join(', ')}) VALUES ${Array.from({ length: rows }, () => tuple).join(', ')}`;
      // Full statements are the common size; the odd tails of a table are not worth keeping.
      if (rows === perStatement) table.inserts.set(rows, text);
    }
    const params = new Array<unknown>(rows * columns.length);
    let at = 0;
    for (let i = start; i < start + rows; i++) for (const value of (items[i] as Pending).params) params[at++] = value;
    yield* query(text, params);
  }
}

/** A batch's lines by table, each table's in order. @throws {EntityError} for a row that appears twice in the batch. */
function byTable(batch: readonly Pending[]): Pending[][] {
  const tables = new Map<TargetTable, Pending[]>();
  const seen = new Map<string, Pending>();
  for (const item of batch) {
    const { table } = item;
    const key = `${item.target.name}\u0000${keyOf(table.history, item.id, item.version)}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) throw new EntityError(`line ${item.line}: ${describeRow(item)} appears twice (also line ${earlier.line})`);
    seen.set(key, item);
    const group = tables.get(table);
    if (group === undefined) tables.set(table, [item]);
    else group.push(item);
  }
  return [...tables.values()];
}

function count(items: readonly Pending[], written: number): void {
  const { target, table } = items[0] as Pending;
  if (table.history) target.counts.history += written;
  else target.counts.rows += written;
}

/**
 * Write one table's lines of a batch after looking up which of them the target holds already:
 * those it holds as the file has them are left alone, other ones are conflicts (`onConflict`).
 */
function* writeComparing(items: readonly Pending[], onConflict: 'fail' | 'skip' | 'replace'): Op<void> {
  const { target, table } = items[0] as Pending;
  const { sql } = target.ctx;
  const { q } = sql;
  const { read } = table;
  const { history } = table;
  const held = new Map<string, string>();
  for (const ids of chunks([...new Set(items.map((item) => item.id))], IDS_PER_LOOKUP)) {
    const found = yield* query(`${read.sql} WHERE ${q('id')} IN (${ids.map(() => '?').join(', ')})`, ids);
    for (const row of found.rows as Record<string, unknown>[]) {
      const portable = portableValues(read, read.names.map((name) => row[name]));
      held.set(keyOf(history, String(portable[0]), history ? portable[table.versionAt] : undefined), JSON.stringify(portable));
    }
  }
  // A table found without any of the batch's rows is written plainly again from the next batch on.
  table.careful = held.size > 0;
  const inserts: Pending[] = [];
  const replaced: Pending[] = [];
  for (const item of items) {
    const stored = held.get(keyOf(history, item.id, item.version));
    if (stored === undefined) inserts.push(item);
    else if (stored === JSON.stringify(portableValues(read, [...item.values]))) target.counts.unchanged++;
    else if (onConflict === 'skip') target.counts.skipped++;
    else if (onConflict === 'replace') replaced.push(item);
    else {
      throw new EntityError(
        `line ${item.line}: ${describeRow(item)} is already in the target with different data; nothing of this batch was written (import with onConflict 'skip' or 'replace')`,
      );
    }
  }
  for (const group of chunks(replaced, IDS_PER_LOOKUP)) {
    if (history) {
      yield* query(`DELETE FROM ${q(read.layout.table)} WHERE ${group.map(() => `(${q('id')} = ? AND ${q('version')} = ?)`).join(' OR ')}`, group.flatMap((item) => [item.id, item.version]));
    } else {
      yield* query(`DELETE FROM ${q(read.layout.table)} WHERE ${q('id')} IN (${group.map(() => '?').join(', ')})`, group.map((item) => item.id));
    }
  }
  const written = [...inserts, ...replaced];
  if (written.length > 0) yield* insertRows(table, sql, written);
  count(items, written.length);
}

/**
 * Write a batch of lines in one transaction, table by table. The common case, a target without
 * these rows, needs no look-up and no savepoint: the rows are inserted. Only when a row is there
 * already (an earlier run, or other data) does the insert fail; the transaction is rolled back
 * and the batch written again, comparing row by row (its tables keep doing so while they find
 * rows there).
 */
async function writeBatch(conn: Connection, batch: readonly Pending[], onConflict: 'fail' | 'skip' | 'replace', budget: Budget): Promise<void> {
  const tables = byTable(batch);
  if (tables.every((items) => !(items[0] as Pending).table.careful)) {
    try {
      await runAsync(
        conn,
        transaction(function* () {
          for (const items of tables) yield* insertRows((items[0] as Pending).table, (items[0] as Pending).target.ctx.sql, items);
        }),
        budget,
      );
      for (const items of tables) count(items, items.length);
      return;
    } catch (error) {
      if (!(DalError.isInstance(error) && error.code === 'DAL_UNIQUE_VIOLATION')) throw error;
    }
  }
  await runAsync(
    conn,
    transaction(function* () {
      for (const items of tables) yield* writeComparing(items, onConflict);
    }),
    budget,
  );
}

function parseLine(text: string, line: number): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new EntityError(`line ${line}: malformed JSON (${(error as Error).message})`, { cause: error });
  }
}

/**
 * Import an export (`exportEntities`' lines, as strings or UTF-8 bytes) into `conn`'s database: tables and fields are
 * created as needed, then rows and history rows are written with their ids, versions and
 * timestamps exactly as in the file, `batchSize` lines per transaction.
 *
 * Resumable: run it again on the same file after a failure (or an abort) and it finishes the
 * job without duplicates, since rows the target already holds exactly as the file has them are
 * left alone. A row the target holds with different data is a conflict (see `onConflict`).
 *
 * ```ts
 * const lines = createInterface({ input: createReadStream('backup.jsonl') });
 * const result = await importEntities(conn, lines);
 * result.entities.users; // { rows: 1000, history: 2500, skipped: 0, unchanged: 0 }
 * ```
 * @throws {EntityError} naming the line for a malformed line, a file of a newer format, a row
 *   without id, a version that skips, a conflict; the batch being written is rolled back and
 *   nothing after it is written.
 * @throws {AbortedError} when `signal` aborts.
 */
export function importEntities(conn: Connection, lines: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>, options: ImportOptions = {}): Promise<ImportResult> {
  return importItems(conn, lines, options);
}

/**
 * The import of `importEntities`, over lines of JSON, the objects they hold, or the export's
 * `RowBatch`es (`copyEntities`, skipping the JSON in between: one line per row). Line numbers count all.
 */
export async function importItems(conn: Connection, lines: AsyncIterable<unknown> | Iterable<unknown>, options: ImportOptions = {}): Promise<ImportResult> {
  const onConflict = options.onConflict ?? 'fail';
  if (!CONFLICT_MODES.has(onConflict)) throw new EntityError(`onConflict must be 'fail', 'skip' or 'replace', got ${JSON.stringify(onConflict)}`);
  const batchSize = checkBatchSize(options.batchSize);
  const { signal, onProgress } = options;
  const targets = new Map<string, Target>();
  const result: ImportResult = { entities: {}, lines: 0 };
  let pending: Pending[] = [];
  let rowsTotal: number | undefined;
  let rowsDone = 0;
  let lineNumber = 0;
  let sawMetadata = false;

  const flush = async (): Promise<void> => {
    if (signal?.aborted === true) throw new AbortedError('entity import aborted', signal.reason);
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    await writeBatch(conn, batch, onConflict, new Budget(conn, { signal }));
    rowsDone += batch.length;
    onProgress?.({ phase: 'import', entity: batch[batch.length - 1]?.target.name, rowsDone, ...(rowsTotal === undefined ? {} : { rowsTotal }) });
  };

  for await (const raw of lines) {
    if (sawMetadata && raw instanceof RowBatch) {
      // The export's rows as they are (copyEntities): already in layout order, one line each.
      const target = targets.get(raw.entity);
      const table = raw.type === 'history' ? target?.history : target?.main;
      const { columns } = table?.read.layout ?? {};
      if (target === undefined || table === undefined || columns?.length !== raw.columns.length || columns.some((column, i) => column !== raw.columns[i])) {
        throw new EntityError(`${raw.entity}: rows handed to the import do not match the entity listed in the metadata`);
      }
      for (const values of raw.rows) {
        result.lines++;
        pending.push(checkRow(values, ++lineNumber, target, table));
        if (pending.length >= batchSize) await flush();
      }
      continue;
    }
    lineNumber++;
    let item = raw;
    if (typeof raw === 'string' || raw instanceof Uint8Array) {
      const text = (typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8')).trim();
      if (text === '') continue;
      item = parseLine(text, lineNumber);
    }
    result.lines++;
    if (!sawMetadata) {
      const metadata = readMetadata(item, lineNumber);
      sawMetadata = true;
      rowsTotal = metadata.entities.reduce((sum, entity) => sum + (Number(entity.rows) || 0) + (Number(entity.history) || 0), 0);
      for (const entity of metadata.entities) {
        const ctx = contextOf(conn, entity.name);
        for (const field of Object.keys(entity.fields)) checkFieldName(entity.name, field);
        await runAsync(conn, prepareTarget(ctx, entity), new Budget(conn, { signal }));
        const counts: ImportedCounts = { rows: 0, history: 0, skipped: 0, unchanged: 0 };
        result.entities[entity.name] = counts;
        targets.set(entity.name, {
          name: entity.name,
          entity,
          ctx,
          main: targetTable(ctx, entity, false),
          history: targetTable(ctx, entity, true),
          counts,
          lastId: undefined,
          lastVersion: 0,
        });
      }
      continue;
    }
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new EntityError(`line ${lineNumber}: expected a JSON object`);
    pending.push(readRow(item as Record<string, unknown>, lineNumber, targets));
    if (pending.length >= batchSize) await flush();
  }
  if (!sawMetadata) throw new EntityError('the input is empty: an export starts with its metadata line');
  await flush();
  return result;
}
