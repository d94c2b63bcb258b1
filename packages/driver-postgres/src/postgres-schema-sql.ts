import { DalError, type IndexSpec, type SchemaErrorKind, type SchemaSql, type StoredKind } from '@dal/core';
import { quotePostgresIdentifier as quote } from './postgres-dialect.js';

const TYPES: Readonly<Record<StoredKind, string>> = { text: 'TEXT', double: 'DOUBLE PRECISION', bigint: 'BIGINT', boolean: 'BOOLEAN', timestamp: 'TIMESTAMPTZ' };

/** The table SQL @dal/entities generates on PostgreSQL (see `SchemaSql`). */
export const postgresSchemaSql: SchemaSql = Object.freeze({
  errorAbortsTransaction: true,
  dataModifyingCte: true,
  upsertReturning: true,
  upsertMatchesAnyUniqueKey: false,
  maxParams: 65_535,
  columnTypes: TYPES,
  idColumn: 'VARCHAR(255)',
  textColumn: 'TEXT',
  timestampColumn: 'TIMESTAMPTZ',
  integerColumn: 'INTEGER',
  tableOptions: '',
  inexactBigints: false,
  declaredColumn: (kind: StoredKind) => TYPES[kind],
  addColumn: (table: string, column: string, columnType: string) => `ALTER TABLE ${quote(table)} ADD COLUMN IF NOT EXISTS ${quote(column)} ${columnType}`,
  createIndex: (table: string, index: IndexSpec) =>
    `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS ${quote(index.name)} ON ${quote(table)} (${index.columns.map(quote).join(', ')})`,
  dropIndex: (_table: string, name: string) => `DROP INDEX IF EXISTS ${quote(name)}`,
  renameColumn: (table: string, from: string, to: string) => `ALTER TABLE ${quote(table)} RENAME COLUMN ${quote(from)} TO ${quote(to)}`,
  dropColumn: (table: string, column: string) => `ALTER TABLE ${quote(table)} DROP COLUMN IF EXISTS ${quote(column)}`,
  setNotNull: (table: string, column: string) => `ALTER TABLE ${quote(table)} ALTER COLUMN ${quote(column)} SET NOT NULL`,
  // Declared and schemaless fields share their column types on PostgreSQL.
  retype: () => undefined,
  columnsOf: (table: string) => ({
    sql: "SELECT column_name AS name, CASE WHEN is_nullable = 'YES' THEN 1 ELSE 0 END AS nullable, data_type AS type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?",
    params: [table],
  }),
  indexesOf: (table: string) => ({ sql: 'SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ?', params: [table] }),
  // Held until the migration's transaction ends; waits within lock_timeout (set to waitMs by the caller).
  migrationLock: () => ({ acquire: { sql: "SELECT pg_advisory_xact_lock(hashtext('dal_entities:migrations')) AS ok", params: [] } }),
  changeColumn(table: string, column: string, from: StoredKind, to: StoredKind): string[] {
    const target = TYPES[to];
    if (TYPES[from] === target) return [];
    const c = quote(column);
    // Dates become ISO-8601 UTC text, readable back whatever the session's TimeZone.
    const using = from === 'timestamp' && to === 'text' ? `to_char(${c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')` : `${c}::${target}`;
    return [`ALTER TABLE ${quote(table)} ALTER COLUMN ${c} TYPE ${target} USING ${using}`];
  },
  upsertTail(table: string, updates: readonly string[], mergeJson: string | undefined): string {
    const sets = updates.map((c) => `${quote(c)} = EXCLUDED.${quote(c)}`);
    if (mergeJson !== undefined) {
      const m = quote(mergeJson);
      sets.push(`${m} = (COALESCE(${quote(table)}.${m}, '{}')::jsonb || COALESCE(EXCLUDED.${m}, '{}')::jsonb)::text`);
    }
    return ` ON CONFLICT (${quote('id')}) DO UPDATE SET ${sets.join(', ')}`;
  },
  insertIgnore: (table: string, columns: readonly string[], values?: readonly string[]) =>
    `INSERT INTO ${quote(table)} (${columns.map(quote).join(', ')}) VALUES (${(values ?? columns.map(() => '?')).join(', ')}) ON CONFLICT DO NOTHING`,
  tableExists: (table: string) => ({ sql: 'SELECT CASE WHEN to_regclass(?) IS NULL THEN 0 ELSE 1 END AS e', params: [quote(table)] }),
  tables: () => ({ sql: 'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()', params: [] }),
  limitOffset: (limit: number | undefined, offset: number | undefined) =>
    `${limit === undefined ? '' : ` LIMIT ${limit}`}${offset === undefined ? '' : ` OFFSET ${offset}`}`,
  timestamp: (at: Date) => at.toISOString(),
  typedParam: (kind: 'text' | 'timestamp') => (kind === 'timestamp' ? 'CAST(? AS TIMESTAMPTZ)' : 'CAST(? AS TEXT)'),
  // A transaction-scoped advisory lock: held until the DDL's transaction ends, waits within lock_timeout.
  ddlLock: (key: string) => ({ acquire: { sql: "SELECT pg_advisory_xact_lock(hashtext('dal_entities:' || ?)) AS ok", params: [key] } }),
  lockTimeout: Object.freeze({
    read: "SELECT current_setting('lock_timeout') AS v",
    set: (ms: number) => ({ sql: "SELECT set_config('lock_timeout', ?, true) AS v", params: [`${Math.max(1, Math.ceil(ms))}ms`] }),
    restore: (previous: unknown) => ({ sql: "SELECT set_config('lock_timeout', ?, true) AS v", params: [String(previous)] }),
  }),
});

const KINDS: Readonly<Record<string, SchemaErrorKind>> = {
  '42P01': 'missing-object', // undefined_table
  '42703': 'missing-object', // undefined_column
  '42P07': 'duplicate-object', // duplicate_table
  '42701': 'duplicate-object', // duplicate_column
  '55P03': 'lock-timeout', // lock_not_available (lock_timeout)
};

/** PostgreSQL's schema errors by SQLSTATE (see `SchemaErrorKind`). */
export function classifyPostgresSchemaError(error: DalError): SchemaErrorKind | undefined {
  const e = error as { sqlState?: string; constraint?: string; message: string };
  // Two sessions creating one table race on the catalog's own unique indexes.
  if (error.code === 'DAL_UNIQUE_VIOLATION') return (e.constraint ?? '').startsWith('pg_') || /pg_type|pg_class/.test(e.message) ? 'duplicate-object' : undefined;
  return e.sqlState === undefined ? undefined : KINDS[e.sqlState];
}
