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

/** How a column's values are carried. */
type ColumnKind = 'text' | 'timestamp' | 'version' | FieldType;

/** The columns of an entity's table (or history table), in file order, with how each is carried. */
export interface TableLayout {
  readonly table: string;
  readonly columns: readonly string[];
  readonly kinds: ReadonlyMap<string, ColumnKind>;
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
  return { table, columns: [...kinds.keys()], kinds };
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

/**
 * `SELECT <columns> FROM <table>`: where the driver rounds 64-bit integers (SQLite), integer
 * fields are read a second time as exact text (see `BIGINT_TEXT_PREFIX`).
 */
export function selectColumns(sql: EntityDialect, layout: TableLayout, fields: Readonly<Record<string, ExportedField>>): string {
  const { q } = sql;
  const list = layout.columns.map(q);
  if (sql.inexactBigints) {
    for (const [name, field] of Object.entries(fields)) {
      if (field.type === 'bigint' || field.legacy === 'bigint') list.push(`CAST(${q(name)} AS TEXT) AS ${q(BIGINT_TEXT_PREFIX + name)}`);
    }
  }
  return `SELECT ${list.join(', ')} FROM ${q(layout.table)}`;
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

/** A stored value (or an already portable one) in its portable form. */
function portable(kind: ColumnKind, value: unknown, exact: unknown): unknown {
  if (value === null || value === undefined) return null;
  // Integers the driver rounded come back exact from the text copy.
  if (typeof value === 'number' && typeof exact === 'string' && /^-?\d+$/.test(exact)) value = exact;
  switch (kind) {
    case 'timestamp':
    case 'date':
      return isoOf(value);
    case 'version':
    case 'number':
      return typeof value === 'number' ? value : Number(value);
    case 'bigint':
      return String(fromStored('bigint', value));
    case 'boolean':
      return fromStored('boolean', value);
    case 'null':
      return value;
    default:
      // text, string, json, custom types and mixed (always text-stored): text.
      return textOf(value);
  }
}

/** A row read from a table (or a file's row) in portable form, keys in layout order. */
export function portableRow(layout: TableLayout, row: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const column of layout.columns) out[column] = portable(layout.kinds.get(column) as ColumnKind, row[column], row[BIGINT_TEXT_PREFIX + column]);
  return out;
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

/**
 * A portable value as a statement parameter for `sql`'s backend: timestamps as the entity
 * framework binds them, dates as Date, 64-bit integers as bigint.
 * @throws {Error} with a short reason when the value does not fit its column (the caller names the line).
 */
export function bindValue(sql: EntityDialect, column: string, kind: ColumnKind, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (kind) {
    case 'timestamp':
    case 'date': {
      // Already in the form the backend stores (PostgreSQL, SQLite): no need to parse it.
      if (kind === 'timestamp' && typeof value === 'string' && ISO_UTC.test(value) && takesIsoText(sql)) return value;
      const date = typeof value === 'string' || typeof value === 'number' ? new Date(value) : undefined;
      if (date === undefined || Number.isNaN(date.getTime())) throw new Error(`"${column}" holds ${JSON.stringify(value)}, not a timestamp`);
      return kind === 'date' ? date : sql.timestamp(date);
    }
    case 'version':
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new Error(`"${column}" must be a positive integer, got ${JSON.stringify(value)}`);
      return value;
    case 'number':
      if (typeof value !== 'number') throw new Error(`"${column}" must be a number, got ${JSON.stringify(value)}`);
      return value;
    case 'bigint':
      if (typeof value !== 'string' || !/^-?\d+$/.test(value)) throw new Error(`"${column}" must be an integer in a string, got ${JSON.stringify(value)}`);
      return BigInt(value);
    case 'boolean':
      if (typeof value !== 'boolean') throw new Error(`"${column}" must be true or false, got ${JSON.stringify(value)}`);
      return value;
    default:
      if (typeof value !== 'string' && kind !== 'null') throw new Error(`"${column}" must be a string, got ${JSON.stringify(value)}`);
      return value;
  }
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

/** The entity tables of the connection's database, by their metadata tables (sorted by name). */
export async function listEntities(conn: Connection, sql: EntityDialect): Promise<string[]> {
  const catalog =
    sql.name === 'sqlite'
      ? "SELECT name AS t FROM sqlite_master WHERE type = 'table'"
      : `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ${sql.name === 'mysql' ? 'DATABASE()' : 'current_schema()'}`;
  const tables = new Set((await conn.query(catalog)).rows.map((row) => String((row as Record<string, unknown>)['t'] ?? (row as Record<string, unknown>)['T'])));
  const names: string[] = [];
  for (const table of tables) {
    if (!table.endsWith('_meta')) continue;
    const name = table.slice(0, -'_meta'.length);
    if (tables.has(name) && tables.has(`${name}_history`) && !name.startsWith('_dal_')) names.push(name);
  }
  return names.sort();
}
