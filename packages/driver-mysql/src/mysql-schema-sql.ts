import type { DalError, IndexSpec, SchemaErrorKind, SchemaSql, StoredKind } from '@dal/core';
import { quoteMysqlIdentifier as quote } from './mysql-dialect.js';

const TYPES: Readonly<Record<StoredKind, string>> = { text: 'LONGTEXT', double: 'DOUBLE', bigint: 'BIGINT', boolean: 'TINYINT(1)', timestamp: 'DATETIME(6)' };

/** The table SQL @dal/entities generates on MySQL / MariaDB (see `SchemaSql`). */
export const mysqlSchemaSql: SchemaSql = Object.freeze({
  errorAbortsTransaction: false,
  dataModifyingCte: false,
  upsertReturning: false,
  upsertMatchesAnyUniqueKey: true,
  maxParams: 65_535,
  columnTypes: TYPES,
  idColumn: 'VARCHAR(255)',
  textColumn: 'LONGTEXT',
  timestampColumn: 'DATETIME(6)',
  integerColumn: 'INT',
  tableOptions: ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin',
  inexactBigints: false,
  // LONGTEXT cannot be indexed or unique without a prefix length: keyed text is a VARCHAR.
  declaredColumn: (kind: StoredKind, { keyed, maxLength }: { keyed: boolean; maxLength: number | undefined }) =>
    kind === 'text' && (keyed || maxLength !== undefined) ? `VARCHAR(${maxLength ?? 255})` : TYPES[kind],
  // MySQL 8 has no ADD COLUMN IF NOT EXISTS; the duplicate-column error is tolerated instead.
  addColumn: (table: string, column: string, columnType: string) => `ALTER TABLE ${quote(table)} ADD COLUMN ${quote(column)} ${columnType}`,
  // No CREATE INDEX IF NOT EXISTS on MySQL 8: the duplicate-key-name error is tolerated instead.
  createIndex: (table: string, index: IndexSpec) =>
    `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX ${quote(index.name)} ON ${quote(table)} (${index.columns.map(quote).join(', ')})`,
  dropIndex: (table: string, name: string) => `DROP INDEX ${quote(name)} ON ${quote(table)}`,
  renameColumn: (table: string, from: string, to: string) => `ALTER TABLE ${quote(table)} RENAME COLUMN ${quote(from)} TO ${quote(to)}`,
  dropColumn: (table: string, column: string) => `ALTER TABLE ${quote(table)} DROP COLUMN ${quote(column)}`,
  setNotNull: (table: string, column: string, columnType: string) => `ALTER TABLE ${quote(table)} MODIFY COLUMN ${quote(column)} ${columnType} NOT NULL`,
  retype: (table: string, column: string, actual: string, columnType: string) =>
    columnType.startsWith('VARCHAR') && actual.toLowerCase() !== columnType.toLowerCase()
      ? `ALTER TABLE ${quote(table)} MODIFY COLUMN ${quote(column)} ${columnType}`
      : undefined,
  columnsOf: (table: string) => ({
    sql: "SELECT column_name AS name, CASE WHEN is_nullable = 'YES' THEN 1 ELSE 0 END AS nullable, column_type AS type FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?",
    params: [table],
  }),
  indexesOf: (table: string) => ({
    sql: 'SELECT DISTINCT index_name AS name FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ?',
    params: [table],
  }),
  // A session-level named lock: MySQL's DDL commits at once, so no transaction can hold one for us.
  migrationLock: (waitMs: number) => ({
    acquire: { sql: `SELECT GET_LOCK('dal_entities:migrations', ${Math.max(0, Math.ceil(waitMs / 1000))}) AS ok`, params: [] },
    release: { sql: "SELECT RELEASE_LOCK('dal_entities:migrations') AS ok", params: [] },
  }),
  changeColumn(table: string, column: string, from: StoredKind, to: StoredKind): string[] {
    const target = TYPES[to];
    if (TYPES[from] === target) return [];
    return [`ALTER TABLE ${quote(table)} MODIFY COLUMN ${quote(column)} ${target}`];
  },
  upsertTail(_table: string, updates: readonly string[], mergeJson: string | undefined): string {
    const sets = updates.map((c) => `${quote(c)} = VALUES(${quote(c)})`);
    if (mergeJson !== undefined) {
      const m = quote(mergeJson);
      sets.push(`${m} = JSON_MERGE_PATCH(COALESCE(${m}, '{}'), COALESCE(VALUES(${m}), '{}'))`);
    }
    return ` ON DUPLICATE KEY UPDATE ${sets.join(', ')}`;
  },
  insertIgnore: (table: string, columns: readonly string[], values?: readonly string[]) =>
    `INSERT IGNORE INTO ${quote(table)} (${columns.map(quote).join(', ')}) VALUES (${(values ?? columns.map(() => '?')).join(', ')})`,
  tableExists: (table: string) => ({
    sql: 'SELECT COUNT(*) AS e FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?',
    params: [table],
  }),
  tables: () => ({ sql: 'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE()', params: [] }),
  limitOffset: (limit: number | undefined, offset: number | undefined) => {
    if (limit === undefined && offset === undefined) return '';
    // MySQL needs a LIMIT before OFFSET: the largest unsigned BIGINT means "no limit".
    return ` LIMIT ${limit ?? '18446744073709551615'}${offset === undefined ? '' : ` OFFSET ${offset}`}`;
  },
  // mysql2 formats Dates in the session's UTC itself; DATETIME rejects ISO text with a zone.
  timestamp: (at: Date) => at,
  typedParam: () => '?',
  // Session-level named lock (DDL commits at once, so no transaction can hold it for us).
  ddlLock: (key: string) => ({
    acquire: { sql: 'SELECT GET_LOCK(?, @@SESSION.lock_wait_timeout) AS ok', params: [`dal_ent:${key}`] },
    release: { sql: 'SELECT RELEASE_LOCK(?) AS ok', params: [`dal_ent:${key}`] },
  }),
  lockTimeout: Object.freeze({
    read: 'SELECT @@SESSION.lock_wait_timeout AS v',
    set: (ms: number) => ({ sql: `SET SESSION lock_wait_timeout = ${Math.max(1, Math.ceil(ms / 1000))}`, params: [] }),
    restore: (previous: unknown) => ({ sql: `SET SESSION lock_wait_timeout = ${Math.max(1, Math.floor(Number(previous)) || 1)}`, params: [] }),
  }),
});

const KINDS: Readonly<Record<string, SchemaErrorKind>> = {
  '1146': 'missing-object', // ER_NO_SUCH_TABLE
  '1054': 'missing-object', // ER_BAD_FIELD_ERROR
  '1050': 'duplicate-object', // ER_TABLE_EXISTS_ERROR
  '1060': 'duplicate-object', // ER_DUP_FIELDNAME
  '1061': 'duplicate-object', // ER_DUP_KEYNAME
  '1205': 'lock-timeout', // ER_LOCK_WAIT_TIMEOUT
};

/** MySQL's schema errors by errno (see `SchemaErrorKind`). */
export function classifyMysqlSchemaError(error: DalError): SchemaErrorKind | undefined {
  const vendor = (error as { vendorCode?: unknown }).vendorCode;
  return vendor === undefined ? undefined : KINDS[String(vendor)];
}
