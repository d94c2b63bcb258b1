import { DalError, EntityError, type Dialect } from '@dal/core';
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
  /** ALTER TABLE ... ADD COLUMN, tolerant of an existing column where the backend allows. */
  addColumn(table: string, column: string, type: FieldType): string;
  /** Statements that change a column's storage, or none when no DDL is needed. */
  changeColumn(table: string, column: string, from: FieldType, to: FieldType): string[];
  /** The ON CONFLICT / ON DUPLICATE KEY tail of an upsert into `table`. */
  upsertTail(table: string, updates: readonly string[], mergeTypes: string | undefined): string;
  /** INSERT that skips an existing primary key. */
  insertIgnore(table: string, columns: readonly string[]): string;
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
    upsertReturning: true,
    maxParams: 65_535,
    q: quote,
    fieldColumn: (type) => types[storageOf(type)],
    idColumn: 'VARCHAR(255)',
    textColumn: 'TEXT',
    timestampColumn: 'TIMESTAMPTZ',
    integerColumn: 'INTEGER',
    tableOptions: '',
    addColumn: (table, column, type) => `ALTER TABLE ${quote(table)} ADD COLUMN IF NOT EXISTS ${quote(column)} ${types[storageOf(type)]}`,
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
    insertIgnore: (table, columns) =>
      `INSERT INTO ${quote(table)} (${columns.map(quote).join(', ')}) VALUES (${columns.map(() => '?').join(', ')}) ON CONFLICT DO NOTHING`,
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
    addColumn: (table, column, type) => `ALTER TABLE ${quote(table)} ADD COLUMN ${quote(column)} ${types[storageOf(type)]}`,
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
    insertIgnore: (table, columns) => `INSERT IGNORE INTO ${quote(table)} (${columns.map(quote).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
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
  return {
    name: 'sqlite',
    errorAbortsTransaction: false,
    dataModifyingCte: false,
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
    addColumn: (table, column) => `ALTER TABLE ${quote(table)} ADD COLUMN ${quote(column)}`,
    changeColumn: () => [],
    upsertTail(_table, updates, mergeTypes) {
      const sets = updates.map((c) => `${quote(c)} = excluded.${quote(c)}`);
      if (mergeTypes !== undefined) {
        const m = quote(mergeTypes);
        sets.push(`${m} = json_patch(COALESCE(${m}, '{}'), COALESCE(excluded.${m}, '{}'))`);
      }
      return ` ON CONFLICT (${quote('id')}) DO UPDATE SET ${sets.join(', ')}`;
    },
    insertIgnore: (table, columns) =>
      `INSERT OR IGNORE INTO ${quote(table)} (${columns.map(quote).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
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
  if (vendor === '42P07' || vendor === '42701' || vendor === '1050' || vendor === '1060') return true;
  return /duplicate column name|already exists/.test(e.message ?? '');
}

/** DDL gave up waiting for a lock (PostgreSQL lock_timeout, MySQL lock_wait_timeout). */
export function isLockTimeout(error: unknown): boolean {
  const e = shape(error);
  const vendor = String(e.vendorCode ?? '');
  return vendor === '55P03' || vendor === '1205';
}
