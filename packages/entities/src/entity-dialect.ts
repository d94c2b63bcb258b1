import { DalError, EntityError, type Dialect } from '@dal/core';
import type { DeclaredField, DeclaredIndex } from './definitions.js';
import type { FieldType } from './serializers.js';

/** Storage class of a field's column, chosen from its field type. */
type Storage = 'text' | 'double' | 'bigint' | 'boolean' | 'timestamp';

/** Which storage holds each field type. */
export function storageOf(type: FieldType): Storage {
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
 * The SQL that differs between backends for entity tables: column types, upsert syntax,
 * catalog look-ups, DDL lock timeouts and how schema errors are recognised.
 */
export interface EntityDialect {
  readonly name: 'postgres' | 'mysql' | 'sqlite';
  /** A failed statement aborts the whole transaction (PostgreSQL), so errors cannot be tolerated inside one. */
  readonly errorAbortsTransaction: boolean;
  /** `WITH m AS (INSERT ... RETURNING ...) INSERT ... SELECT FROM m` works (one statement for rows and history). */
  readonly dataModifyingCte: boolean;
  /** The upsert's update fires on a conflict of any unique key, not only the id (MySQL's ON DUPLICATE KEY). */
  readonly upsertMatchesAnyUniqueKey: boolean;
  /** An upsert can end in `RETURNING` (the row as stored, after an update too); otherwise it is read back. */
  readonly upsertReturning: boolean;
  /** Most placeholders one statement may carry. */
  readonly maxParams: number;
  readonly q: (name: string) => string;
  /** Column definition of a field (empty type on SQLite: no affinity, values stored as bound). */
  fieldColumn(type: FieldType): string;
  readonly idColumn: string;
  readonly textColumn: string;
  readonly timestampColumn: string;
  readonly integerColumn: string;
  readonly tableOptions: string;
  /** Column type of a declared field (real types on SQLite too; MySQL keys text as VARCHAR). */
  declaredColumn(field: DeclaredField): string;
  /** ALTER TABLE ... ADD COLUMN with a column type, tolerant of an existing column where the backend allows. */
  addColumn(table: string, column: string, columnType: string): string;
  /** CREATE [UNIQUE] INDEX, tolerant of an existing index where the backend allows. */
  createIndex(table: string, index: DeclaredIndex): string;
  dropIndex(table: string, name: string): string;
  renameColumn(table: string, from: string, to: string): string;
  dropColumn(table: string, column: string): string;
  /** Make an existing column NOT NULL; undefined where the backend cannot without rebuilding the table (SQLite). */
  setNotNull(table: string, column: string, columnType: string): string | undefined;
  /** The statement changing a column to `columnType` when its catalog type `actual` differs in a way that matters, else undefined. */
  retype(table: string, column: string, actual: string, columnType: string): string | undefined;
  /** Columns of `table`: rows of `name`, `nullable` (non-zero or 'YES' when nullable) and `type`. */
  columnsOf(table: string): { sql: string; params: unknown[] };
  /** Index names of `table`: rows of `name`. */
  indexesOf(table: string): { sql: string; params: unknown[] };
  /**
   * The process-wide lock `applyMigrations` holds: `acquire` waits at most the given ms; `release`
   * (when given) frees it, else the transaction's end does. Undefined: the transaction itself
   * serializes (SQLite's BEGIN IMMEDIATE write lock).
   */
  migrationLock?(waitMs: number): { acquire: { sql: string; params: unknown[] }; release?: { sql: string; params: unknown[] } };
  /** Statements that change a column's storage, or none when no DDL is needed. */
  changeColumn(table: string, column: string, from: FieldType, to: FieldType): string[];
  /** The ON CONFLICT / ON DUPLICATE KEY tail of an upsert into `table`. */
  upsertTail(table: string, updates: readonly string[], mergeTypes: string | undefined): string;
  /** INSERT that skips an existing primary key; `values` are SQL literals, else placeholders. */
  insertIgnore(table: string, columns: readonly string[], values?: readonly string[]): string;
  /** One-row query whose `e` is non-zero when `table` exists; its parameters. */
  tableExists(table: string): { sql: string; params: unknown[] };
  /** LIMIT/OFFSET clause for validated integers. */
  limitOffset(limit: number | undefined, offset: number | undefined): string;
  /** A timestamp as bound for the framework's own columns (converted once per call, not per row). */
  timestamp(at: Date): unknown;
  /** A parameter placeholder for a value of `storage` where the server cannot infer its type (INSERT ... SELECT). */
  typedParam(storage: 'text' | 'timestamp'): string;
  /**
   * Serialises schema changes of one entity across sessions: `acquire` waits (bounded by the
   * lock timeout), `release` (when given) frees it; undefined when the transaction already serialises them.
   */
  ddlLock?(entity: string): { acquire: { sql: string; params: unknown[] }; release?: { sql: string; params: unknown[] } };
  /** Statements around DDL bounding how long it waits for locks; undefined when not needed. */
  readonly lockTimeout?: {
    read: string;
    set(ms: number): { sql: string; params: unknown[] };
    restore(previous: unknown): { sql: string; params: unknown[] };
  };
}

function q(dialect: Dialect): (name: string) => string {
  return (name) => dialect.quoteIdentifier(name);
}

function postgres(dialect: Dialect): EntityDialect {
  const quote = q(dialect);
  const types: Record<Storage, string> = { text: 'TEXT', double: 'DOUBLE PRECISION', bigint: 'BIGINT', boolean: 'BOOLEAN', timestamp: 'TIMESTAMPTZ' };
  return {
    name: 'postgres',
    errorAbortsTransaction: true,
    dataModifyingCte: true,
    upsertMatchesAnyUniqueKey: false,
    upsertReturning: true,
    maxParams: 65_535,
    q: quote,
    fieldColumn: (type) => types[storageOf(type)],
    idColumn: 'VARCHAR(255)',
    textColumn: 'TEXT',
    timestampColumn: 'TIMESTAMPTZ',
    integerColumn: 'INTEGER',
    tableOptions: '',
    declaredColumn: (field) => types[storageOf(field.type)],
    addColumn: (table, column, columnType) => `ALTER TABLE ${quote(table)} ADD COLUMN IF NOT EXISTS ${quote(column)} ${columnType}`,
    createIndex: (table, index) =>
      `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS ${quote(index.name)} ON ${quote(table)} (${index.columns.map(quote).join(', ')})`,
    dropIndex: (_table, name) => `DROP INDEX IF EXISTS ${quote(name)}`,
    renameColumn: (table, from, to) => `ALTER TABLE ${quote(table)} RENAME COLUMN ${quote(from)} TO ${quote(to)}`,
    dropColumn: (table, column) => `ALTER TABLE ${quote(table)} DROP COLUMN IF EXISTS ${quote(column)}`,
    setNotNull: (table, column) => `ALTER TABLE ${quote(table)} ALTER COLUMN ${quote(column)} SET NOT NULL`,
    // Declared and schemaless fields share their column types on PostgreSQL.
    retype: () => undefined,
    columnsOf: (table) => ({
      sql: "SELECT column_name AS name, CASE WHEN is_nullable = 'YES' THEN 1 ELSE 0 END AS nullable, data_type AS type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?",
      params: [table],
    }),
    indexesOf: (table) => ({ sql: 'SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ?', params: [table] }),
    // Held until the migration's transaction ends; waits within lock_timeout (set to waitMs by the caller).
    migrationLock: () => ({ acquire: { sql: "SELECT pg_advisory_xact_lock(hashtext('dal_entities:migrations')) AS ok", params: [] } }),
    changeColumn(table, column, from, to) {
      const target = types[storageOf(to)];
      if (types[storageOf(from)] === target) return [];
      const c = quote(column);
      // Dates become ISO-8601 UTC text, readable back whatever the session's TimeZone.
      const using = storageOf(from) === 'timestamp' && target === 'TEXT' ? `to_char(${c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')` : `${c}::${target}`;
      return [`ALTER TABLE ${quote(table)} ALTER COLUMN ${c} TYPE ${target} USING ${using}`];
    },
    upsertTail(table, updates, mergeTypes) {
      const sets = updates.map((c) => `${quote(c)} = EXCLUDED.${quote(c)}`);
      if (mergeTypes !== undefined) {
        const m = quote(mergeTypes);
        sets.push(`${m} = (COALESCE(${quote(table)}.${m}, '{}')::jsonb || COALESCE(EXCLUDED.${m}, '{}')::jsonb)::text`);
      }
      return ` ON CONFLICT (${quote('id')}) DO UPDATE SET ${sets.join(', ')}`;
    },
    insertIgnore: (table, columns, values) =>
      `INSERT INTO ${quote(table)} (${columns.map(quote).join(', ')}) VALUES (${(values ?? columns.map(() => '?')).join(', ')}) ON CONFLICT DO NOTHING`,
    tableExists: (table) => ({ sql: 'SELECT CASE WHEN to_regclass(?) IS NULL THEN 0 ELSE 1 END AS e', params: [quote(table)] }),
    limitOffset: (limit, offset) => `${limit === undefined ? '' : ` LIMIT ${limit}`}${offset === undefined ? '' : ` OFFSET ${offset}`}`,
    timestamp: (at) => at.toISOString(),
    typedParam: (storage) => (storage === 'timestamp' ? 'CAST(? AS TIMESTAMPTZ)' : 'CAST(? AS TEXT)'),
    // A transaction-scoped advisory lock: held until the DDL's transaction ends, waits within lock_timeout.
    ddlLock: (entity) => ({ acquire: { sql: "SELECT pg_advisory_xact_lock(hashtext('dal_entities:' || ?)) AS ok", params: [entity] } }),
    lockTimeout: {
      read: "SELECT current_setting('lock_timeout') AS v",
      set: (ms) => ({ sql: "SELECT set_config('lock_timeout', ?, true) AS v", params: [`${Math.max(1, Math.ceil(ms))}ms`] }),
      restore: (previous) => ({ sql: "SELECT set_config('lock_timeout', ?, true) AS v", params: [String(previous)] }),
    },
  };
}

function mysql(dialect: Dialect): EntityDialect {
  const quote = q(dialect);
  const types: Record<Storage, string> = { text: 'LONGTEXT', double: 'DOUBLE', bigint: 'BIGINT', boolean: 'TINYINT(1)', timestamp: 'DATETIME(6)' };
  return {
    name: 'mysql',
    errorAbortsTransaction: false,
    dataModifyingCte: false,
    upsertMatchesAnyUniqueKey: true,
    upsertReturning: false,
    maxParams: 65_535,
    q: quote,
    fieldColumn: (type) => types[storageOf(type)],
    idColumn: 'VARCHAR(255)',
    textColumn: 'LONGTEXT',
    timestampColumn: 'DATETIME(6)',
    integerColumn: 'INT',
    tableOptions: ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin',
    // MySQL 8 has no ADD COLUMN IF NOT EXISTS; the duplicate-column error is tolerated instead.
    // LONGTEXT cannot be indexed or unique without a prefix length: keyed text is a VARCHAR.
    declaredColumn: (field) =>
      field.type === 'string' && (field.keyed || field.maxLength !== undefined) ? `VARCHAR(${field.maxLength ?? 255})` : types[storageOf(field.type)],
    addColumn: (table, column, columnType) => `ALTER TABLE ${quote(table)} ADD COLUMN ${quote(column)} ${columnType}`,
    // No CREATE INDEX IF NOT EXISTS on MySQL 8: the duplicate-key-name error is tolerated instead.
    createIndex: (table, index) => `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX ${quote(index.name)} ON ${quote(table)} (${index.columns.map(quote).join(', ')})`,
    dropIndex: (table, name) => `DROP INDEX ${quote(name)} ON ${quote(table)}`,
    renameColumn: (table, from, to) => `ALTER TABLE ${quote(table)} RENAME COLUMN ${quote(from)} TO ${quote(to)}`,
    dropColumn: (table, column) => `ALTER TABLE ${quote(table)} DROP COLUMN ${quote(column)}`,
    setNotNull: (table, column, columnType) => `ALTER TABLE ${quote(table)} MODIFY COLUMN ${quote(column)} ${columnType} NOT NULL`,
    retype: (table, column, actual, columnType) =>
      columnType.startsWith('VARCHAR') && actual.toLowerCase() !== columnType.toLowerCase()
        ? `ALTER TABLE ${quote(table)} MODIFY COLUMN ${quote(column)} ${columnType}`
        : undefined,
    columnsOf: (table) => ({
      sql: "SELECT column_name AS name, CASE WHEN is_nullable = 'YES' THEN 1 ELSE 0 END AS nullable, column_type AS type FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?",
      params: [table],
    }),
    indexesOf: (table) => ({
      sql: 'SELECT DISTINCT index_name AS name FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ?',
      params: [table],
    }),
    // A session-level named lock: MySQL's DDL commits at once, so no transaction can hold one for us.
    migrationLock: (waitMs) => ({
      acquire: { sql: `SELECT GET_LOCK('dal_entities:migrations', ${Math.max(0, Math.ceil(waitMs / 1000))}) AS ok`, params: [] },
      release: { sql: "SELECT RELEASE_LOCK('dal_entities:migrations') AS ok", params: [] },
    }),
    changeColumn(table, column, from, to) {
      const target = types[storageOf(to)];
      if (types[storageOf(from)] === target) return [];
      return [`ALTER TABLE ${quote(table)} MODIFY COLUMN ${quote(column)} ${target}`];
    },
    upsertTail(_table, updates, mergeTypes) {
      const sets = updates.map((c) => `${quote(c)} = VALUES(${quote(c)})`);
      if (mergeTypes !== undefined) {
        const m = quote(mergeTypes);
        sets.push(`${m} = JSON_MERGE_PATCH(COALESCE(${m}, '{}'), COALESCE(VALUES(${m}), '{}'))`);
      }
      return ` ON DUPLICATE KEY UPDATE ${sets.join(', ')}`;
    },
    insertIgnore: (table, columns, values) =>
      `INSERT IGNORE INTO ${quote(table)} (${columns.map(quote).join(', ')}) VALUES (${(values ?? columns.map(() => '?')).join(', ')})`,
    tableExists: (table) => ({
      sql: 'SELECT COUNT(*) AS e FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?',
      params: [table],
    }),
    limitOffset: (limit, offset) => {
      if (limit === undefined && offset === undefined) return '';
      // MySQL needs a LIMIT before OFFSET: the largest unsigned BIGINT means "no limit".
      return ` LIMIT ${limit ?? '18446744073709551615'}${offset === undefined ? '' : ` OFFSET ${offset}`}`;
    },
    // mysql2 formats Dates in the session's UTC itself; DATETIME rejects ISO text with a zone.
    timestamp: (at) => at,
    typedParam: () => '?',
    // Session-level named lock (DDL commits at once, so no transaction can hold it for us).
    ddlLock: (entity) => ({
      acquire: { sql: 'SELECT GET_LOCK(?, @@SESSION.lock_wait_timeout) AS ok', params: [`dal_ent:${entity}`] },
      release: { sql: 'SELECT RELEASE_LOCK(?) AS ok', params: [`dal_ent:${entity}`] },
    }),
    lockTimeout: {
      read: 'SELECT @@SESSION.lock_wait_timeout AS v',
      set: (ms) => ({ sql: `SET SESSION lock_wait_timeout = ${Math.max(1, Math.ceil(ms / 1000))}`, params: [] }),
      restore: (previous) => ({ sql: `SET SESSION lock_wait_timeout = ${Math.max(1, Math.floor(Number(previous)) || 1)}`, params: [] }),
    },
  };
}

function sqlite(dialect: Dialect): EntityDialect {
  const quote = q(dialect);
  const sqliteTypes: Record<Storage, string> = { text: 'TEXT', double: 'REAL', bigint: 'INTEGER', boolean: 'INTEGER', timestamp: 'TEXT' };
  return {
    name: 'sqlite',
    errorAbortsTransaction: false,
    dataModifyingCte: false,
    upsertMatchesAnyUniqueKey: false,
    upsertReturning: true,
    maxParams: 32_766,
    q: quote,
    // No declared type: no affinity, so every value keeps the storage class it was bound with.
    fieldColumn: () => '',
    idColumn: 'TEXT',
    textColumn: 'TEXT',
    timestampColumn: 'TEXT',
    integerColumn: 'INTEGER',
    tableOptions: '',
    // Declared fields get a type, hence an affinity: values are converted to it as they are stored.
    declaredColumn: (field) => sqliteTypes[storageOf(field.type)],
    addColumn: (table, column, columnType) => `ALTER TABLE ${quote(table)} ADD COLUMN ${quote(column)}${columnType === '' ? '' : ` ${columnType}`}`,
    createIndex: (table, index) =>
      `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS ${quote(index.name)} ON ${quote(table)} (${index.columns.map(quote).join(', ')})`,
    dropIndex: (_table, name) => `DROP INDEX IF EXISTS ${quote(name)}`,
    renameColumn: (table, from, to) => `ALTER TABLE ${quote(table)} RENAME COLUMN ${quote(from)} TO ${quote(to)}`,
    dropColumn: (table, column) => `ALTER TABLE ${quote(table)} DROP COLUMN ${quote(column)}`,
    // SQLite changes a column's constraints or type only by rebuilding the table.
    setNotNull: () => undefined,
    retype: () => undefined,
    columnsOf: (table) => ({ sql: 'SELECT name, CASE WHEN "notnull" = 0 THEN 1 ELSE 0 END AS nullable, type FROM pragma_table_info(?)', params: [table] }),
    indexesOf: (table) => ({ sql: 'SELECT name FROM pragma_index_list(?)', params: [table] }),
    changeColumn: () => [],
    upsertTail(_table, updates, mergeTypes) {
      const sets = updates.map((c) => `${quote(c)} = excluded.${quote(c)}`);
      if (mergeTypes !== undefined) {
        const m = quote(mergeTypes);
        sets.push(`${m} = json_patch(COALESCE(${m}, '{}'), COALESCE(excluded.${m}, '{}'))`);
      }
      return ` ON CONFLICT (${quote('id')}) DO UPDATE SET ${sets.join(', ')}`;
    },
    insertIgnore: (table, columns, values) =>
      `INSERT OR IGNORE INTO ${quote(table)} (${columns.map(quote).join(', ')}) VALUES (${(values ?? columns.map(() => '?')).join(', ')})`,
    tableExists: (table) => ({ sql: "SELECT COUNT(*) AS e FROM sqlite_master WHERE type = 'table' AND name = ?", params: [table] }),
    limitOffset: (limit, offset) => {
      if (limit === undefined && offset === undefined) return '';
      return ` LIMIT ${limit ?? -1}${offset === undefined ? '' : ` OFFSET ${offset}`}`;
    },
    timestamp: (at) => at.toISOString(),
    typedParam: () => '?',
  };
}

/**
 * The entity SQL of a connection's backend.
 * @throws {EntityError} for a backend other than PostgreSQL, MySQL/MariaDB or SQLite.
 */
export function entityDialect(dialect: Dialect): EntityDialect {
  switch (dialect.name) {
    case 'postgres':
      return postgres(dialect);
    case 'mysql':
      return mysql(dialect);
    case 'sqlite':
      return sqlite(dialect);
    default:
      throw new EntityError(`@dal/entities supports postgres, mysql and sqlite, not ${String(dialect.name)}`);
  }
}

interface ErrorShape {
  code?: string;
  vendorCode?: string | number;
  message?: string;
  constraint?: string;
}

function shape(error: unknown): ErrorShape {
  return DalError.isInstance(error) ? (error as ErrorShape) : {};
}

/** The server says a table or column does not exist (our schema cache is stale). */
export function isMissingObject(error: unknown): boolean {
  const e = shape(error);
  if (e.code !== 'DAL_QUERY') return false;
  const vendor = String(e.vendorCode ?? '');
  if (vendor === '42P01' || vendor === '42703' || vendor === '1146' || vendor === '1054') return true;
  return /no such (table|column)|has no column named/.test(e.message ?? '');
}

/** The server says a table or column we meant to create already exists (a concurrent creator). */
export function isDuplicateObject(error: unknown): boolean {
  const e = shape(error);
  const vendor = String(e.vendorCode ?? '');
  if (e.code === 'DAL_UNIQUE_VIOLATION') return (e.constraint ?? '').startsWith('pg_') || /pg_type|pg_class/.test(e.message ?? '');
  if (e.code !== 'DAL_QUERY') return false;
  if (vendor === '42P07' || vendor === '42701' || vendor === '1050' || vendor === '1060' || vendor === '1061') return true;
  return /duplicate column name|already exists/.test(e.message ?? '');
}

/** DDL gave up waiting for a lock (PostgreSQL lock_timeout, MySQL lock_wait_timeout). */
export function isLockTimeout(error: unknown): boolean {
  const e = shape(error);
  const vendor = String(e.vendorCode ?? '');
  return vendor === '55P03' || vendor === '1205';
}
