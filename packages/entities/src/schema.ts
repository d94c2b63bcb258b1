import { EntityError } from '@dal/core';
import type { EntityDialect } from './entity-dialect.js';
import { detached, query, type Op } from './executor.js';
import { TYPES_COLUMN, type EntityTables } from './names.js';
import { cachedSchema, entitySettings, invalidateSchema, storeSchema, type EntitySchema, type FieldInfo } from './schema-cache.js';
import { isFieldType, type FieldType } from './serializers.js';

/** Everything an operation needs to know about where it runs. */
export interface EntityContext {
  readonly entity: string;
  readonly tables: EntityTables;
  readonly sql: EntityDialect;
  /** Cache key of the database (its config hash). */
  readonly database: string;
  /** DDL is rolled back with the transaction (PostgreSQL, SQLite), so it may run inside one. */
  readonly transactionalDdl: boolean;
  /** The caller had a transaction open when the operation started. */
  readonly inTransaction: boolean;
}

/** The value types each field of a save carries: field name -> types seen (`null` included). */
export type FieldNeeds = ReadonlyMap<string, ReadonlySet<FieldType>>;

interface SchemaPlan {
  readonly create: boolean;
  readonly add: { field: string; type: FieldType }[];
  readonly change: { field: string; from: FieldType; to: FieldType; legacy: FieldType | null }[];
}

/**
 * Read the metadata table. Resolves to null when the entity has no tables yet. Checks the
 * catalog first, so that no statement fails (a failure would abort a PostgreSQL transaction).
 */
export function* loadSchema(ctx: EntityContext): Op<EntitySchema | null> {
  const exists = ctx.sql.tableExists(ctx.tables.meta);
  const found = yield* query(exists.sql, exists.params);
  if (Number(found.rows[0]?.['e'] ?? 0) === 0) return null;
  const q = ctx.sql.q;
  const result = yield* query(`SELECT ${q('field_name')}, ${q('field_type')}, ${q('legacy_type')} FROM ${q(ctx.tables.meta)}`);
  const schema = new Map<string, FieldInfo>();
  for (const row of result.rows) {
    const name = String(row['field_name']);
    const type = row['field_type'];
    const legacy = row['legacy_type'];
    schema.set(name, { type: isFieldType(type) ? type : 'mixed', legacy: isFieldType(legacy) ? legacy : null });
  }
  return schema;
}

/** The cached schema, else the metadata table's (cached for next time); null when the entity does not exist. */
export function* readSchema(ctx: EntityContext): Op<EntitySchema | null> {
  const cached = cachedSchema(ctx.database, ctx.entity);
  if (cached !== undefined) return cached;
  const schema = yield* loadSchema(ctx);
  if (schema !== null) storeSchema(ctx.database, ctx.entity, schema);
  return schema;
}

/** Re-read the metadata table, replacing the cached schema (another process changed it). */
export function* refreshSchema(ctx: EntityContext): Op<EntitySchema | null> {
  invalidateSchema(ctx.database, ctx.entity);
  const schema = yield* loadSchema(ctx);
  if (schema !== null) storeSchema(ctx.database, ctx.entity, schema);
  return schema;
}

function concreteTypes(types: ReadonlySet<FieldType>): FieldType[] {
  return [...types].filter((t) => t !== 'null');
}

/**
 * What must change so that the entity can store `needs`, or null when nothing must.
 * @throws {EntityError} when a new field differs from a known one only by case.
 */
function plan(ctx: EntityContext, schema: EntitySchema | null, needs: FieldNeeds): SchemaPlan | null {
  const add: SchemaPlan['add'] = [];
  const change: SchemaPlan['change'] = [];
  let lower: Map<string, string> | undefined;
  for (const [field, types] of needs) {
    const concrete = concreteTypes(types);
    const info = schema?.get(field);
    if (info === undefined) {
      lower ??= new Map([...(schema?.keys() ?? [])].map((name) => [name.toLowerCase(), name]));
      if (lower.has(field.toLowerCase())) {
        throw new EntityError(`${ctx.entity}: field "${field}" differs from the existing field "${lower.get(field.toLowerCase())}" only by case, which MySQL and SQLite cannot tell apart`);
      }
      lower.set(field.toLowerCase(), field);
      add.push({ field, type: concrete.length === 0 ? 'null' : concrete.length === 1 ? (concrete[0] as FieldType) : 'mixed' });
      continue;
    }
    if (info.type === 'mixed' || concrete.length === 0) continue;
    if (concrete.length === 1 && concrete[0] === info.type) continue;
    if (info.type === 'null') {
      change.push({ field, from: 'null', to: concrete.length === 1 ? (concrete[0] as FieldType) : 'mixed', legacy: null });
    } else {
      change.push({ field, from: info.type, to: 'mixed', legacy: info.type });
    }
  }
  if (schema !== null && add.length === 0 && change.length === 0) return null;
  return { create: schema === null, add, change };
}

/**
 * The entity's schema, able to store `needs`: from the cache when it already can (no
 * statement at all), else after re-reading the metadata and, if still needed, changing the
 * schema. On MySQL inside the caller's transaction, the DDL runs on a separate connection so
 * that it cannot commit that transaction.
 */
export function* ensureSchema(ctx: EntityContext, needs: FieldNeeds): Op<EntitySchema> {
  let schema: EntitySchema | null | undefined = cachedSchema(ctx.database, ctx.entity);
  let fresh = false;
  if (schema === undefined) {
    schema = yield* loadSchema(ctx);
    fresh = true;
  }
  for (let round = 0; round < 4; round++) {
    if (schema !== null && plan(ctx, schema, needs) === null) {
      storeSchema(ctx.database, ctx.entity, schema);
      return schema;
    }
    if (!fresh) {
      // Another process may already have made the change.
      schema = yield* loadSchema(ctx);
      fresh = true;
      continue;
    }
    const apply = (): Op<EntitySchema> => applyChanges(ctx, needs);
    schema = !ctx.transactionalDdl && ctx.inTransaction ? yield* detached(apply) : yield* apply();
  }
  throw new EntityError(`${ctx.entity}: the schema kept changing under concurrent saves; try again`);
}

/**
 * Run a statement that may fail because a concurrent session already created the object. On
 * PostgreSQL the error would abort the transaction, so it propagates and the operation retries.
 */
function* tolerateDuplicate(ctx: EntityContext, sql: string): Op<void> {
  try {
    yield* query(sql);
  } catch (error) {
    if (ctx.sql.errorAbortsTransaction || ctx.sql.errorKind(error) !== 'duplicate-object') throw error;
  }
}

/**
 * Change the schema under the entity's DDL lock and a bounded lock wait: re-read the metadata
 * (another session may have done the work while we waited), create tables, add columns,
 * change column types, record each field's type. Returns the schema as it now is.
 */
function* applyChanges(ctx: EntityContext, needs: FieldNeeds): Op<EntitySchema> {
  const { sql } = ctx;
  const timeout = sql.lockTimeout;
  const lock = sql.ddlLock?.(ctx.entity);
  let previous: unknown;
  let locked = false;
  try {
    if (timeout !== undefined) {
      previous = (yield* query(timeout.read)).rows[0]?.['v'];
      const set = timeout.set(entitySettings().ddlLockTimeoutMs);
      yield* query(set.sql, set.params);
    }
    if (lock !== undefined) {
      const got = yield* query(lock.acquire.sql, lock.acquire.params);
      // GET_LOCK answers 0 on timeout instead of failing.
      if (lock.release !== undefined && Number(got.rows[0]?.['ok']) !== 1) throw lockTimeoutError(ctx);
      locked = true;
    }
    const current = yield* loadSchema(ctx);
    const todo = plan(ctx, current, needs);
    if (todo !== null) yield* execute(ctx, todo);
    const after = yield* loadSchema(ctx);
    if (after === null) throw new EntityError(`${ctx.entity}: the entity tables vanished while its schema was being changed`);
    return after;
  } catch (error) {
    if (ctx.sql.errorKind(error) === 'lock-timeout') throw lockTimeoutError(ctx, error);
    throw error;
  } finally {
    // A failed PostgreSQL transaction rolls these back itself; the statements then fail harmlessly.
    if (locked && lock?.release !== undefined) yield* quietly(lock.release.sql, lock.release.params);
    if (timeout !== undefined && previous !== undefined) {
      const restore = timeout.restore(previous);
      yield* quietly(restore.sql, restore.params);
    }
  }
}

function* quietly(sql: string, params: readonly unknown[]): Op<void> {
  try {
    yield* query(sql, params);
  } catch {
    // Best effort: see the caller.
  }
}

function lockTimeoutError(ctx: EntityContext, cause?: unknown): EntityError {
  const inTx = ctx.inTransaction && !ctx.transactionalDdl;
  const hint = inTx
    ? ' On MySQL the change runs on a separate connection, because DDL would commit your open transaction; it waits for that very transaction if it already used the table. Save the new field (or type) once outside the transaction, then retry.'
    : ' Another transaction is using the table; retry later.';
  return new EntityError(`${ctx.entity}: the schema change could not get its table locks within ${entitySettings().ddlLockTimeoutMs} ms.${hint}`, { cause });
}

function* execute(ctx: EntityContext, todo: SchemaPlan): Op<void> {
  const { sql, tables } = ctx;
  const q = sql.q;
  if (todo.create) {
    const system = [
      `${q('id')} ${sql.idColumn} NOT NULL`,
      `${q('created_at')} ${sql.timestampColumn}`,
      `${q('updated_at')} ${sql.timestampColumn}`,
      `${q('created_by')} ${sql.textColumn}`,
      `${q('updated_by')} ${sql.textColumn}`,
      `${q('deleted_at')} ${sql.timestampColumn}`,
      `${q(TYPES_COLUMN)} ${sql.textColumn}`,
    ];
    const history = [
      `${q('version')} ${sql.integerColumn} NOT NULL`,
      `${q('history_timestamp')} ${sql.timestampColumn} NOT NULL`,
      `${q('history_user_id')} ${sql.textColumn}`,
      `${q('history_comment')} ${sql.textColumn}`,
    ];
    // The metadata table comes last: its existence means the other two exist.
    yield* tolerateDuplicate(ctx, `CREATE TABLE IF NOT EXISTS ${q(tables.main)} (${system.join(', ')}, PRIMARY KEY (${q('id')}))${sql.tableOptions}`);
    yield* tolerateDuplicate(ctx, 
      `CREATE TABLE IF NOT EXISTS ${q(tables.history)} (${[...system, ...history].join(', ')}, PRIMARY KEY (${q('id')}, ${q('version')}))${sql.tableOptions}`,
    );
    yield* tolerateDuplicate(ctx, 
      `CREATE TABLE IF NOT EXISTS ${q(tables.meta)} (${q('field_name')} VARCHAR(64) NOT NULL, ${q('field_type')} VARCHAR(100) NOT NULL, ${q('legacy_type')} VARCHAR(100), PRIMARY KEY (${q('field_name')}))${sql.tableOptions}`,
    );
  }
  const insertMeta = sql.insertIgnore(tables.meta, ['field_name', 'field_type', 'legacy_type']);
  for (const { field, type } of todo.add) {
    yield* tolerateDuplicate(ctx, sql.addColumn(tables.main, field, type));
    yield* tolerateDuplicate(ctx, sql.addColumn(tables.history, field, type));
    yield* query(insertMeta, [field, type, null]);
  }
  for (const { field, from, to, legacy } of todo.change) {
    for (const statement of [...sql.changeColumn(tables.main, field, from, to), ...sql.changeColumn(tables.history, field, from, to)]) {
      yield* query(statement);
    }
    yield* query(`UPDATE ${q(tables.meta)} SET ${q('field_type')} = ?, ${q('legacy_type')} = ? WHERE ${q('field_name')} = ? AND ${q('field_type')} = ?`, [
      to,
      legacy,
      field,
      from,
    ]);
  }
}
