import { DalError, EntityError, type Dialect, type SchemaErrorKind, type SchemaSql, type StoredKind } from '@dal/core';
import type { DeclaredField } from './definitions.js';
import type { FieldType } from './serializers.js';

/** Which storage holds each field type. */
export function storageOf(type: FieldType): StoredKind {
  switch (type) {
    case 'number':
      return 'double';
    case 'bigint':
      return 'bigint';
    case 'boolean':
      return 'boolean';
    case 'date':
      return 'timestamp';
    default:
      return 'text';
  }
}

/**
 * The SQL that differs between backends for entity tables: the driver's `dialect.schemaSql`
 * over SQL-standard defaults, with field types mapped to stored kinds, and the driver's
 * classification of schema errors.
 */
export interface EntityDialect extends Omit<SchemaSql, 'columnTypes' | 'declaredColumn' | 'changeColumn'> {
  /** The dialect's name, for messages and error details. */
  readonly name: string;
  readonly q: (name: string) => string;
  /** Column type of a schemaless field (empty on SQLite: no affinity, values stored as bound). */
  fieldColumn(type: FieldType): string;
  /** Column type of a declared field. */
  declaredColumn(field: DeclaredField): string;
  /** Statements that change a column's storage, or none when no DDL is needed. */
  changeColumn(table: string, column: string, from: FieldType, to: FieldType): string[];
  /** What an error means for the schema cache and DDL, or undefined (see `SchemaErrorKind`). */
  errorKind(error: unknown): SchemaErrorKind | undefined;
}

/**
 * The defaults of a backend that describes nothing: SQL-standard types and statements
 * (ALTER COLUMN ... SET DATA TYPE / SET NOT NULL, information_schema, OFFSET/FETCH), no DDL or
 * migration lock and no lock timeout. `ON CONFLICT` is not standard (MERGE is) but is what most
 * embedded and PostgreSQL-derived engines take; a backend with another upsert describes its own.
 * The standard has no catalog of indexes: a backend whose indexes are looked up describes `indexesOf`.
 */
function standardSchemaSql(dialect: Dialect): SchemaSql {
  const quote = (name: string): string => dialect.quoteIdentifier(name);
  const columnTypes: Record<StoredKind, string> = { text: 'TEXT', double: 'DOUBLE PRECISION', bigint: 'BIGINT', boolean: 'BOOLEAN', timestamp: 'TIMESTAMP WITH TIME ZONE' };
  // The driver's column types also serve the default statements below.
  const types: Readonly<Record<StoredKind, string>> = dialect.schemaSql?.columnTypes ?? columnTypes;
  const typed = (type: string): string => (type === '' ? '' : ` ${type}`);
  const standard: SchemaSql = {
    errorAbortsTransaction: false,
    dataModifyingCte: false,
    upsertReturning: false,
    upsertMatchesAnyUniqueKey: false,
    maxParams: 999,
    columnTypes,
    idColumn: 'VARCHAR(255)',
    textColumn: types.text,
    timestampColumn: types.timestamp,
    integerColumn: 'INTEGER',
    tableOptions: '',
    inexactBigints: false,
    declaredColumn: (kind) => types[kind],
    addColumn: (table, column, columnType) => `ALTER TABLE ${quote(table)} ADD COLUMN ${quote(column)}${typed(columnType)}`,
    changeColumn(table, column, from, to) {
      const target = types[to];
      if (types[from] === target) return [];
      return [`ALTER TABLE ${quote(table)} ALTER COLUMN ${quote(column)} SET DATA TYPE ${target}`];
    },
    upsertTail(table, updates, mergeJson) {
      if (mergeJson !== undefined) {
        // Merging JSON objects has no standard SQL; replacing them would lose field types.
        throw new EntityError(`${table}: the "${String(dialect.name)}" backend describes no JSON merge (dialect.schemaSql.upsertTail), needed for fields of mixed types`);
      }
      return ` ON CONFLICT (${quote('id')}) DO UPDATE SET ${updates.map((c) => `${quote(c)} = EXCLUDED.${quote(c)}`).join(', ')}`;
    },
    createIndex: (table, index) => `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX ${quote(index.name)} ON ${quote(table)} (${index.columns.map(quote).join(', ')})`,
    dropIndex: (_table, name) => `DROP INDEX ${quote(name)}`,
    renameColumn: (table, from, to) => `ALTER TABLE ${quote(table)} RENAME COLUMN ${quote(from)} TO ${quote(to)}`,
    dropColumn: (table, column) => `ALTER TABLE ${quote(table)} DROP COLUMN ${quote(column)}`,
    setNotNull: (table, column) => `ALTER TABLE ${quote(table)} ALTER COLUMN ${quote(column)} SET NOT NULL`,
    retype: () => undefined,
    columnsOf: (table) => ({
      sql: "SELECT column_name AS name, CASE WHEN is_nullable = 'YES' THEN 1 ELSE 0 END AS nullable, data_type AS type FROM information_schema.columns WHERE table_name = ?",
      params: [table],
    }),
    indexesOf: (table) => {
      throw new EntityError(`${table}: the "${String(dialect.name)}" backend describes no catalog of indexes (dialect.schemaSql.indexesOf)`);
    },
    migrationLock: undefined,
    insertIgnore: (table, columns, values) =>
      `INSERT INTO ${quote(table)} (${columns.map(quote).join(', ')}) VALUES (${(values ?? columns.map(() => '?')).join(', ')}) ON CONFLICT DO NOTHING`,
    tableExists: (table) => ({ sql: 'SELECT COUNT(*) AS e FROM information_schema.tables WHERE table_name = ?', params: [table] }),
    tables: () => ({ sql: 'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = CURRENT_SCHEMA', params: [] }),
    limitOffset: (limit, offset) => `${offset === undefined ? '' : ` OFFSET ${offset} ROWS`}${limit === undefined ? '' : ` FETCH FIRST ${limit} ROWS ONLY`}`,
    timestamp: (at) => at.toISOString(),
    typedParam: (kind) => (kind === 'timestamp' ? `CAST(? AS ${types.timestamp})` : `CAST(? AS ${types.text})`),
    ddlLock: undefined,
    lockTimeout: undefined,
  };
  return standard;
}

/** SQL-standard (SQL/CLI) SQLSTATEs of schema errors, for a backend without its own classification. */
const STANDARD_SQLSTATE_KINDS: Readonly<Record<string, SchemaErrorKind>> = {
  '42S01': 'duplicate-object', // base table or view already exists
  '42S21': 'duplicate-object', // column already exists
  '42S02': 'missing-object', // base table or view not found
  '42S22': 'missing-object', // column not found
};

/** The entity SQL of a connection's backend: what its dialect describes, SQL-standard defaults for the rest. */
export function entityDialect(dialect: Dialect): EntityDialect {
  const merged: SchemaSql = { ...standardSchemaSql(dialect), ...dialect.schemaSql };
  const { columnTypes, declaredColumn, changeColumn, ...rest } = merged;
  return {
    ...rest,
    name: String(dialect.name),
    q: (name) => dialect.quoteIdentifier(name),
    fieldColumn: (type) => columnTypes[storageOf(type)],
    declaredColumn: (field) => declaredColumn(storageOf(field.type), { keyed: field.keyed, maxLength: field.maxLength }),
    changeColumn: (table, column, from, to) => changeColumn(table, column, storageOf(from), storageOf(to)),
    errorKind(error) {
      if (!DalError.isInstance(error)) return undefined;
      if (dialect.classifySchemaError !== undefined) return dialect.classifySchemaError(error);
      const sqlState = (error as { sqlState?: unknown }).sqlState;
      return typeof sqlState === 'string' ? STANDARD_SQLSTATE_KINDS[sqlState] : undefined;
    },
  };
}
