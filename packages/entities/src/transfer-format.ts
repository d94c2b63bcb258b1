/**
 * The entity export format (JSON lines) and the one place that turns stored values into their
 * portable form and back. Every backend returns stored values differently (Date or ISO text,
 * 1/0 or true/false, bigint as text or number); the portable form is the same whatever the
 * source, so that a file exported from SQLite and one exported from PostgreSQL holding the same
 * entities carry the same rows, and a row already in a target can be compared with a file's.
 */
import type { Connection } from '@dal/core';
import { EntityError } from '@dal/core';
import type { EntityDialect } from './entity-dialect.js';
import { BIGINT_TEXT_PREFIX, HISTORY_FIELDS, SYSTEM_FIELDS, TYPES_COLUMN } from './names.js';
import type { EntitySchema } from './schema-cache.js';
import { fromStored, isFieldType, systemDate, type FieldType } from './serializers.js';

/** The `format` of the metadata line this version writes; it reads this one and older ones. */
export const ENTITY_EXPORT_FORMAT = 1;

/** One field of an exported entity: its recorded type (and, for a mixed field, its type before). */
export interface ExportedField {
  type: FieldType;
  legacy: FieldType | null;
}

/** One entity described by the metadata line. */
export interface ExportedEntity {
  name: string;
  fields: Record<string, ExportedField>;
  /** Rows and history rows when the export started (for progress; the file may hold more or fewer). */
  rows: number;
  history: number;
  /** The `defineEntity` declaration in the exporting process, if any (informative: import does not apply it). */
  declared?: { fields: Record<string, { type: FieldType; unique: boolean; nullable: boolean; maxLength?: number }>; indexes: string[][]; strict: boolean };
}

/** The first line of an export. */
export interface ExportMetadata {
  type: 'metadata';
  format: number;
  exportedAt: string;
  source: { dialect: string };
  includeHistory: boolean;
  entities: ExportedEntity[];
}

/** A row line (`type: 'row'`, the entity's table) or a history line (`type: 'history'`). */
export interface ExportedRow {
  type: 'row' | 'history';
  entity: string;
  row: Record<string, unknown>;
}

/**
 * Rows of one table as the export reads them, a batch at a time: each an array of portable values
 * in `columns` order. `exportEntities` writes them as row lines; `copyEntities` hands them to the
 * import as they are (a class, so that no parsed line can pass for one).
 */
export class RowBatch {
  constructor(
    readonly type: 'row' | 'history',
    readonly entity: string,
    readonly columns: readonly string[],
    readonly rows: readonly unknown[][],
  ) {}
}

/** How a column's values are carried. */
type ColumnKind = 'text' | 'timestamp' | 'version' | FieldType;

/** A stored value (or an already portable one) of a column in its portable form. */
type ToPortable = (value: unknown) => unknown;

/** The columns of an entity's table (or history table), in file order, with how each is carried. */
export interface TableLayout {
  readonly table: string;
  readonly columns: readonly string[];
  readonly kinds: ReadonlyMap<string, ColumnKind>;
  /** Per column, in `columns` order: its values in portable form (chosen once, not per value). */
  readonly portable: readonly ToPortable[];
}

const TIMESTAMPS = new Set<string>(['created_at', 'updated_at', 'deleted_at', 'history_timestamp']);

/** The columns exported for an entity: system fields, its fields by name, the type tags, then (history) the version fields. */
export function tableLayout(table: string, fields: Readonly<Record<string, ExportedField>>, history: boolean): TableLayout {
  const kinds = new Map<string, ColumnKind>();
  for (const name of SYSTEM_FIELDS) kinds.set(name, TIMESTAMPS.has(name) ? 'timestamp' : 'text');
  for (const name of Object.keys(fields).sort()) kinds.set(name, (fields[name] as ExportedField).type);
  kinds.set(TYPES_COLUMN, 'text');
  if (history) {
    for (const name of HISTORY_FIELDS) kinds.set(name, name === 'version' ? 'version' : TIMESTAMPS.has(name) ? 'timestamp' : 'text');
  }
  return { table, columns: [...kinds.keys()], kinds, portable: [...kinds.values()].map(toPortable) };
}

/** The fields of a schema as the metadata line lists them. */
export function exportedFields(schema: EntitySchema): Record<string, ExportedField> {
  const fields: Record<string, ExportedField> = {};
  for (const name of [...schema.keys()].sort()) {
    const info = schema.get(name);
    if (info !== undefined) fields[name] = { type: info.type, legacy: info.legacy };
  }
  return fields;
}

/** How a table is read: the SELECT, and where the exact text copy of each column is, if it has one. */
export interface TableRead {
  readonly layout: TableLayout;
  /** `SELECT <columns> FROM <table>`, the layout's columns first, in order. */
  readonly sql: string;
  /** The select list's names, in order (to read a row returned as an object). */
  readonly names: readonly string[];
  /** Per layout column: the select list position of its exact text copy, or -1. */
  readonly exactAt: readonly number[];
}

/**
 * How to read a table's layout: where the driver rounds 64-bit integers (SQLite), integer
 * fields are read a second time as exact text (see `BIGINT_TEXT_PREFIX`).
 */
export function tableRead(sql: EntityDialect, layout: TableLayout, fields: Readonly<Record<string, ExportedField>>): TableRead {
  const { q } = sql;
  const names = [...layout.columns];
  const list = names.map(q);
  const exactAt = layout.columns.map(() => -1);
  if (sql.inexactBigints) {
    for (const [name, field] of Object.entries(fields)) {
      if (field.type !== 'bigint' && field.legacy !== 'bigint') continue;
      exactAt[layout.columns.indexOf(name)] = names.length;
      names.push(BIGINT_TEXT_PREFIX + name);
      list.push(`CAST(${q(name)} AS TEXT) AS ${q(BIGINT_TEXT_PREFIX + name)}`);
    }
  }
  return { layout, sql: `SELECT ${list.join(', ')} FROM ${q(layout.table)}`, names, exactAt };
}

const INTEGER_TEXT = /^-?\d+$/;

/**
 * A row read by `read.sql` as an array (select list order) in portable form, in place: the
 * layout's values, integers the driver rounded taken from their exact copy, the copies dropped.
 */
export function portableValues(read: TableRead, row: unknown[]): unknown[] {
  const { portable } = read.layout;
  const { exactAt } = read;
  for (let i = 0; i < portable.length; i++) {
    let value = row[i];
    const at = exactAt[i] as number;
    if (at >= 0 && typeof value === 'number') {
      const exact = row[at];
      if (typeof exact === 'string' && INTEGER_TEXT.test(exact)) value = exact;
    }
    row[i] = (portable[i] as ToPortable)(value);
  }
  row.length = portable.length;
  return row;
}

/** Portable values as the row object of a line: keyed by `columns`, in their order. */
export function rowObject(columns: readonly string[], values: readonly unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < columns.length; i++) out[columns[i] as string] = values[i];
  return out;
}

/** What `Date.prototype.toISOString` writes (a timestamp already in portable form). */
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function isoOf(value: unknown): unknown {
  if (typeof value === 'string' && ISO_UTC.test(value)) return value;
  const date = systemDate(value);
  return date instanceof Date ? date.toISOString() : String(value);
}

function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** `convert` for values; null, and a missing value, stay null. */
const nullable =
  (convert: (value: unknown) => unknown) =>
  (value: unknown): unknown =>
    value === null || value === undefined ? null : convert(value);

/** How a column of `kind` puts a stored value (or an already portable one) in its portable form. */
function toPortable(kind: ColumnKind): ToPortable {
  switch (kind) {
    case 'timestamp':
    case 'date':
      return nullable(isoOf);
    case 'version':
    case 'number':
      return nullable((value) => (typeof value === 'number' ? value : Number(value)));
    case 'bigint':
      return nullable((value) => String(fromStored('bigint', value)));
    case 'boolean':
      return nullable((value) => fromStored('boolean', value));
    case 'null':
      return nullable((value) => value);
    default:
      // text, string, json, custom types and mixed (always text-stored): text.
      return nullable(textOf);
  }
}

const isoTimestamps = new WeakMap<EntityDialect, boolean>();

/** The backend binds system timestamps as ISO text (`sql.timestamp` is `toISOString`). */
function takesIsoText(sql: EntityDialect): boolean {
  let known = isoTimestamps.get(sql);
  if (known === undefined) {
    const sample = new Date(0);
    known = sql.timestamp(sample) === sample.toISOString();
    isoTimestamps.set(sql, known);
  }
  return known;
}

/** A portable value as a statement parameter. @throws {Error} with a short reason when it does not fit its column. */
export type ToParam = (value: unknown) => unknown;

function timestampOf(column: string, value: unknown): Date {
  const date = typeof value === 'string' || typeof value === 'number' ? new Date(value) : undefined;
  if (date === undefined || Number.isNaN(date.getTime())) throw new Error(`"${column}" holds ${JSON.stringify(value)}, not a timestamp`);
  return date;
}

function toParam(sql: EntityDialect, column: string, kind: ColumnKind): ToParam {
  // Timestamps already in the form the backend stores (PostgreSQL, SQLite) need no parsing.
  const iso = takesIsoText(sql);
  const isIso = (value: unknown): boolean => iso && typeof value === 'string' && ISO_UTC.test(value);
  switch (kind) {
    case 'timestamp':
      return (value) => (isIso(value) ? value : sql.timestamp(timestampOf(column, value)));
    case 'date':
      return (value) => (isIso(value) ? value : timestampOf(column, value));
    case 'version':
      return (value) => {
        if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new Error(`"${column}" must be a positive integer, got ${JSON.stringify(value)}`);
        return value;
      };
    case 'number':
      return (value) => {
        if (typeof value !== 'number') throw new Error(`"${column}" must be a number, got ${JSON.stringify(value)}`);
        return value;
      };
    case 'bigint':
      return (value) => {
        if (typeof value !== 'string' || !INTEGER_TEXT.test(value)) throw new Error(`"${column}" must be an integer in a string, got ${JSON.stringify(value)}`);
        return BigInt(value);
      };
    case 'boolean':
      return (value) => {
        if (typeof value !== 'boolean') throw new Error(`"${column}" must be true or false, got ${JSON.stringify(value)}`);
        return value;
      };
    case 'null':
      return (value) => value;
    default:
      return (value) => {
        if (typeof value !== 'string') throw new Error(`"${column}" must be a string, got ${JSON.stringify(value)}`);
        return value;
      };
  }
}

/**
 * Per column of `layout`, in order: how a portable value becomes a statement parameter for
 * `sql`'s backend (timestamps as the entity framework binds them, dates as Date or, where the
 * backend stores ISO text, as that text, 64-bit integers as bigint), checking that it fits.
 */
export function paramsOf(sql: EntityDialect, layout: TableLayout): ToParam[] {
  return layout.columns.map((column) => nullable(toParam(sql, column, layout.kinds.get(column) as ColumnKind)));
}

/**
 * Check the metadata line.
 * @throws {EntityError} naming line `line` when it is not one, or comes from a newer format.
 */
export function readMetadata(item: unknown, line: number): ExportMetadata {
  const meta = item as Partial<ExportMetadata> | null;
  if (typeof meta !== 'object' || meta === null || meta.type !== 'metadata') {
    throw new EntityError(`line ${line}: not a @dal/entities export: the first line must be its metadata ({"type":"metadata",...})`);
  }
  if (typeof meta.format !== 'number' || !Number.isInteger(meta.format) || meta.format < 1) {
    throw new EntityError(`line ${line}: the metadata's format must be a positive integer, got ${JSON.stringify(meta.format)}`);
  }
  if (meta.format > ENTITY_EXPORT_FORMAT) {
    throw new EntityError(`line ${line}: the file is export format ${meta.format}, newer than this version of @dal/entities reads (${ENTITY_EXPORT_FORMAT}); upgrade @dal/entities to import it`);
  }
  if (!Array.isArray(meta.entities)) throw new EntityError(`line ${line}: the metadata lists no entities`);
  for (const entity of meta.entities) {
    if (typeof entity !== 'object' || entity === null || typeof entity.fields !== 'object' || entity.fields === null) {
      throw new EntityError(`line ${line}: each entity of the metadata needs a name and fields`);
    }
    for (const [name, field] of Object.entries(entity.fields)) {
      if (!isFieldType(field?.type) || (field.legacy !== null && field.legacy !== undefined && !isFieldType(field.legacy))) {
        throw new EntityError(`line ${line}: ${String(entity.name)}.${name} has an unknown field type ${JSON.stringify(field?.type)}`);
      }
    }
  }
  return meta as ExportMetadata;
}

/** The entities of the connection's database, found by their three tables (sorted by name). */
export async function listEntities(conn: Connection, sql: EntityDialect): Promise<string[]> {
  const catalog = sql.tables();
  const rows = (await conn.query(catalog.sql, catalog.params)).rows as Record<string, unknown>[];
  const tables = new Set(rows.map((row) => String(row['name'])));
  const names: string[] = [];
  for (const table of tables) {
    if (!table.endsWith('_meta')) continue;
    const name = table.slice(0, -'_meta'.length);
    if (tables.has(name) && tables.has(`${name}_history`) && !name.startsWith('_dal_')) names.push(name);
  }
  return names.sort();
}
