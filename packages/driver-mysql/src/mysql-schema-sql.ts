import type { DalError, SchemaErrorKind, SchemaSql, StoredKind } from '@dal/core';
import { quoteMysqlIdentifier as quote } from './mysql-dialect.js';

const TYPES: Readonly<Record<StoredKind, string>> = { text: 'LONGTEXT', double: 'DOUBLE', bigint: 'BIGINT', boolean: 'TINYINT(1)', timestamp: 'DATETIME(6)' };

/** The table SQL @dal/entities generates on MySQL / MariaDB (see `SchemaSql`). */
export const mysqlSchemaSql: SchemaSql = Object.freeze({
  errorAbortsTransaction: false,
  dataModifyingCte: false,
  upsertReturning: false,
  maxParams: 65_535,
  columnTypes: TYPES,
  idColumn: 'VARCHAR(255)',
  textColumn: 'LONGTEXT',
  timestampColumn: 'DATETIME(6)',
  integerColumn: 'INT',
  tableOptions: ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin',
  inexactBigints: false,
  // MySQL 8 has no ADD COLUMN IF NOT EXISTS; the duplicate-column error is tolerated instead.
  addColumn: (table: string, column: string, kind: StoredKind) => `ALTER TABLE ${quote(table)} ADD COLUMN ${quote(column)} ${TYPES[kind]}`,
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
  insertIgnore: (table: string, columns: readonly string[]) =>
    `INSERT IGNORE INTO ${quote(table)} (${columns.map(quote).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
  tableExists: (table: string) => ({
    sql: 'SELECT COUNT(*) AS e FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?',
    params: [table],
  }),
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
  '1205': 'lock-timeout', // ER_LOCK_WAIT_TIMEOUT
};

/** MySQL's schema errors by errno (see `SchemaErrorKind`). */
export function classifyMysqlSchemaError(error: DalError): SchemaErrorKind | undefined {
  const vendor = (error as { vendorCode?: unknown }).vendorCode;
  return vendor === undefined ? undefined : KINDS[String(vendor)];
}
