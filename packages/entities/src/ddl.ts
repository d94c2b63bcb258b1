/**
 * The DDL of entity tables, as statement lists: run by saves (runtime DDL), shown by the error a
 * save raises when runtime DDL is off, and planned and run by migrations. One place builds them.
 */
import type { EntityDefinition } from './definitions.js';
import type { EntityDialect } from './entity-dialect.js';
import { TYPES_COLUMN, type EntityTables } from './names.js';
import type { FieldType } from './serializers.js';

/** One DDL (or metadata) statement. */
export interface DdlStatement {
  readonly sql: string;
  /** May fail because a concurrent session already created the object (then it is tolerated where possible). */
  readonly tolerant: boolean;
}

const META_COLUMNS = ['field_name', 'field_type', 'legacy_type'] as const;

/** A SQL string literal; the values passed are identifiers and type names, but quotes are doubled anyway. */
export function literal(value: string | null): string {
  return value === null ? 'NULL' : `'${value.replaceAll("'", "''")}'`;
}

/** Column type of `field`: its declared type, else the one its values' type gets. */
export function columnType(sql: EntityDialect, definition: EntityDefinition | undefined, field: string, type: FieldType): string {
  const declared = definition?.fields.get(field);
  return declared === undefined ? sql.fieldColumn(type) : sql.declaredColumn(declared);
}

function metaInsert(sql: EntityDialect, tables: EntityTables, field: string, type: FieldType): DdlStatement {
  return { sql: sql.insertIgnore(tables.meta, META_COLUMNS, [literal(field), literal(type), 'NULL']), tolerant: false };
}

/** Add a field: its column in the table and its history table, and its metadata row. */
export function addFieldStatements(sql: EntityDialect, tables: EntityTables, definition: EntityDefinition | undefined, field: string, type: FieldType): DdlStatement[] {
  const column = columnType(sql, definition, field, type);
  return [
    { sql: sql.addColumn(tables.main, field, column), tolerant: true },
    { sql: sql.addColumn(tables.history, field, column), tolerant: true },
    metaInsert(sql, tables, field, type),
  ];
}

/** Change a field's type (a null-only field getting its type, or a field becoming mixed). */
export function changeFieldStatements(sql: EntityDialect, tables: EntityTables, field: string, from: FieldType, to: FieldType, legacy: FieldType | null): DdlStatement[] {
  const q = sql.q;
  return [
    ...sql.changeColumn(tables.main, field, from, to),
    ...sql.changeColumn(tables.history, field, from, to),
    `UPDATE ${q(tables.meta)} SET ${q('field_type')} = ${literal(to)}, ${q('legacy_type')} = ${literal(legacy)} WHERE ${q('field_name')} = ${literal(field)} AND ${q('field_type')} = ${literal(from)}`,
  ].map((statement) => ({ sql: statement, tolerant: false }));
}

/**
 * Create an entity: its table (declared fields with their types and NOT NULL), its history table
 * (the same columns, all nullable), its metadata table (which comes last: its existence means the
 * other two exist), then the undeclared `extra` fields, the metadata rows and the declared indexes.
 */
export function createEntityStatements(
  sql: EntityDialect,
  tables: EntityTables,
  definition: EntityDefinition | undefined,
  extra: readonly { field: string; type: FieldType }[],
): DdlStatement[] {
  const q = sql.q;
  const system = [
    `${q('id')} ${sql.idColumn} NOT NULL`,
    `${q('created_at')} ${sql.timestampColumn}`,
    `${q('updated_at')} ${sql.timestampColumn}`,
    `${q('created_by')} ${sql.textColumn}`,
    `${q('updated_by')} ${sql.textColumn}`,
    `${q('deleted_at')} ${sql.timestampColumn}`,
    `${q(TYPES_COLUMN)} ${sql.textColumn}`,
  ];
  const declared = [...(definition?.fields.values() ?? [])];
  const mainFields = declared.map((f) => `${q(f.name)} ${sql.declaredColumn(f)}${f.nullable ? '' : ' NOT NULL'}`);
  const historyFields = declared.map((f) => `${q(f.name)} ${sql.declaredColumn(f)}`);
  const history = [
    `${q('version')} ${sql.integerColumn} NOT NULL`,
    `${q('history_timestamp')} ${sql.timestampColumn} NOT NULL`,
    `${q('history_user_id')} ${sql.textColumn}`,
    `${q('history_comment')} ${sql.textColumn}`,
  ];
  const create = (table: string, columns: string[], key: string): DdlStatement => ({
    sql: `CREATE TABLE IF NOT EXISTS ${q(table)} (${columns.join(', ')}, PRIMARY KEY (${key}))${sql.tableOptions}`,
    tolerant: true,
  });
  const statements = [
    create(tables.main, [...system, ...mainFields], q('id')),
    create(tables.history, [...system, ...historyFields, ...history], `${q('id')}, ${q('version')}`),
    create(
      tables.meta,
      [`${q('field_name')} VARCHAR(64) NOT NULL`, `${q('field_type')} VARCHAR(100) NOT NULL`, `${q('legacy_type')} VARCHAR(100)`],
      q('field_name'),
    ),
  ];
  for (const f of declared) statements.push(metaInsert(sql, tables, f.name, f.type));
  for (const { field, type } of extra) statements.push(...addFieldStatements(sql, tables, definition, field, type));
  for (const index of definition?.indexes ?? []) statements.push({ sql: sql.createIndex(tables.main, index), tolerant: true });
  return statements;
}
