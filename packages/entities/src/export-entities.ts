import { AbortedError, EntityError, type Connection } from '@dal/core';
import { definitionOf } from './definitions.js';
import { contextOf, entitySqlOf } from './entities.js';
import { Budget, runAsync } from './executor.js';
import { loadSchema } from './schema.js';
import {
  ENTITY_EXPORT_FORMAT,
  exportedFields,
  listEntities,
  portableValues,
  rowObject,
  RowBatch,
  tableLayout,
  tableRead,
  type ExportMetadata,
  type ExportedEntity,
} from './transfer-format.js';

/** Where a long transfer is; reported after each batch. */
export interface TransferProgress {
  phase: 'export' | 'import' | 'verify';
  /** The entity being worked on. */
  entity?: string;
  /** Rows and history rows done so far, over all entities. */
  rowsDone: number;
  /** Rows and history rows in all, when known (counted when the export started). */
  rowsTotal?: number;
}

/** Options of `exportEntities`. */
export interface ExportOptions {
  /** The entities to export (default: every entity of the database, found by its tables). */
  entities?: readonly string[];
  /** Export history rows too (default true). */
  includeHistory?: boolean;
  /** Rows read from the server at a time (default 1000): memory holds about this many. */
  batchSize?: number;
  /** Stops the export: the running read is cancelled on the server, and the iteration throws `AbortedError`. */
  signal?: AbortSignal;
  /** Called after each batch of rows. */
  onProgress?: (progress: TransferProgress) => void;
}

/** Rows read (export) or lines written (import) at a time, by default. */
export const DEFAULT_BATCH_SIZE = 1_000;

/** The `batchSize` option, checked. */
export function checkBatchSize(batchSize: unknown): number {
  if (batchSize === undefined) return DEFAULT_BATCH_SIZE;
  if (typeof batchSize !== 'number' || !Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new EntityError(`batchSize must be a positive integer, got ${String(batchSize)}`);
  }
  return batchSize;
}

function declaredOf(name: string): ExportedEntity['declared'] {
  const definition = definitionOf(name);
  if (definition === undefined) return undefined;
  const fields: NonNullable<ExportedEntity['declared']>['fields'] = {};
  for (const field of definition.fields.values()) {
    fields[field.name] = { type: field.type, unique: field.unique, nullable: field.nullable, ...(field.maxLength === undefined ? {} : { maxLength: field.maxLength }) };
  }
  return { fields, indexes: definition.indexes.filter((index) => !index.unique || index.columns.length > 1).map((index) => [...index.columns]), strict: definition.strict };
}

/** Describe the entities to export: their fields as recorded in the database, and how many rows they have. */
async function describe(conn: Connection, names: readonly string[], includeHistory: boolean, signal: AbortSignal | undefined): Promise<ExportedEntity[]> {
  const out: ExportedEntity[] = [];
  for (const name of names) {
    const ctx = contextOf(conn, name);
    const schema = await runAsync(conn, loadSchema(ctx), new Budget(conn, { signal }));
    if (schema === null) throw new EntityError(`unknown entity ${name}: nothing was ever saved under this name`);
    const { q } = ctx.sql;
    const count = async (table: string): Promise<number> => Number((await conn.query(`SELECT COUNT(*) AS ${q('n')} FROM ${q(table)}`, [], { signal })).rows[0]?.['n'] ?? 0);
    const declared = declaredOf(name);
    out.push({
      name,
      fields: exportedFields(schema),
      rows: await count(ctx.tables.main),
      history: includeHistory ? await count(ctx.tables.history) : 0,
      ...(declared === undefined ? {} : { declared }),
    });
  }
  return out;
}

/**
 * Export entities as JSON lines, streaming (memory stays flat however many rows): first a
 * metadata line (format version, the entities and their field types), then for each entity its
 * rows (`{"type":"row","entity":...,"row":{...}}`) and its history rows (`"type":"history"`),
 * ordered by id (and version). Values are in a portable form (timestamps as ISO text, 64-bit
 * integers as text), the same whatever the backend. Lines carry no trailing newline.
 *
 * Each table is read in one statement on `conn`; the export is a consistent snapshot only if the
 * entities are not written meanwhile (or `conn` is in a REPEATABLE READ / SERIALIZABLE transaction).
 *
 * ```ts
 * const out = createWriteStream('backup.jsonl');
 * for await (const line of exportEntities(conn)) out.write(`${line}\n`);
 * ```
 * @throws {EntityError} for an unknown entity or a bad option.
 * @throws {AbortedError} when `signal` aborts.
 */
export async function* exportEntities(conn: Connection, options: ExportOptions = {}): AsyncGenerator<string, void, undefined> {
  for await (const item of exportBatches(conn, options)) {
    if (!(item instanceof RowBatch)) {
      yield JSON.stringify(item);
      continue;
    }
    const { type, entity, columns, rows } = item;
    for (const values of rows) yield JSON.stringify({ type, entity, row: rowObject(columns, values) });
  }
}

/**
 * The export before JSON: the metadata, then each table's rows a batch (`batchSize` rows) at a
 * time, as portable values; what `exportEntities` writes, and what `copyEntities` hands to the
 * import directly.
 */
export async function* exportBatches(conn: Connection, options: ExportOptions = {}): AsyncGenerator<ExportMetadata | RowBatch, void, undefined> {
  const batchSize = checkBatchSize(options.batchSize);
  const includeHistory = options.includeHistory ?? true;
  const { signal, onProgress } = options;
  const sql = entitySqlOf(conn);
  if (options.entities !== undefined && !Array.isArray(options.entities)) throw new EntityError('entities must be an array of entity names');
  const names = options.entities ?? (await listEntities(conn, sql));
  const entities = await describe(conn, names, includeHistory, signal);
  const metadata: ExportMetadata = {
    type: 'metadata',
    format: ENTITY_EXPORT_FORMAT,
    exportedAt: new Date().toISOString(),
    source: { dialect: sql.name },
    includeHistory,
    entities,
  };
  yield metadata;
  const rowsTotal = entities.reduce((sum, entity) => sum + entity.rows + entity.history, 0);
  let rowsDone = 0;
  for (const entity of entities) {
    const { tables } = contextOf(conn, entity.name);
    const kinds = includeHistory ? (['row', 'history'] as const) : (['row'] as const);
    for (const type of kinds) {
      const history = type === 'history';
      const read = tableRead(sql, tableLayout(history ? tables.history : tables.main, entity.fields, history), entity.fields);
      const order = history ? ` ORDER BY ${sql.q('id')}, ${sql.q('version')}` : ` ORDER BY ${sql.q('id')}`;
      let rows: unknown[][] = [];
      const batch = (): RowBatch => {
        const out = new RowBatch(type, entity.name, read.layout.columns, rows);
        rowsDone += rows.length;
        rows = [];
        return out;
      };
      // Rows as arrays: no object per row, and converted in place.
      for await (const row of conn.stream<unknown[]>(read.sql + order, [], { batchSize, signal, rowMode: 'array' })) {
        rows.push(portableValues(read, row));
        if (rows.length === batchSize) {
          yield batch();
          onProgress?.({ phase: 'export', entity: entity.name, rowsDone, rowsTotal });
        }
      }
      if (signal?.aborted === true) throw new AbortedError('entity export aborted', signal.reason);
      if (rows.length > 0) yield batch();
      onProgress?.({ phase: 'export', entity: entity.name, rowsDone, rowsTotal });
    }
  }
}
