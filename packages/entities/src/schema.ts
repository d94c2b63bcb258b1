import { EntityError } from '@dal/core';
import { addFieldStatements, changeFieldStatements, createEntityStatements, type DdlStatement } from './ddl.js';
import type { EntityDefinition } from './definitions.js';
import type { EntityDialect } from './entity-dialect.js';
import { detached, query, type Op } from './executor.js';
import type { EntityTables } from './names.js';
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
  /** The entity's declaration (`defineEntity`), if any. */
  readonly definition: EntityDefinition | undefined;
  /** Saves may run DDL (the entity's setting, else the database's, else the process's). */
  readonly runtimeDdl: boolean;
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
 * What must change so that the entity can store `needs`, or null when nothing must. A declared
 * field is added with its declared type; a new entity with a declaration gets all its declared fields.
 * @throws {EntityError} when a new field differs from a known one only by case, or a declared
 *   field is stored with another type.
 */
function plan(ctx: EntityContext, schema: EntitySchema | null, needs: FieldNeeds): SchemaPlan | null {
  const add: SchemaPlan['add'] = [];
  const change: SchemaPlan['change'] = [];
  let lower: Map<string, string> | undefined;
  for (const [field, types] of needs) {
    const concrete = concreteTypes(types);
    const declared = ctx.definition?.fields.get(field);
    const info = schema?.get(field);
    if (info === undefined) {
      lower ??= new Map([...(schema?.keys() ?? [])].map((name) => [name.toLowerCase(), name]));
      if (lower.has(field.toLowerCase())) {
        throw new EntityError(`${ctx.entity}: field "${field}" differs from the existing field "${lower.get(field.toLowerCase())}" only by case, which MySQL and SQLite cannot tell apart`);
      }
      lower.set(field.toLowerCase(), field);
      const type = declared?.type ?? (concrete.length === 0 ? 'null' : concrete.length === 1 ? (concrete[0] as FieldType) : 'mixed');
      add.push({ field, type });
      continue;
    }
    if (declared !== undefined && info.type !== declared.type && info.type !== 'null' && info.type !== 'mixed') {
      throw new EntityError(
        `${ctx.entity}.${field} is declared ${declared.type} but the database stores it as ${info.type}; convert the column and its metadata row yourself, or declare it ${info.type}`,
      );
    }
    if (info.type === 'mixed' || concrete.length === 0) continue;
    if (concrete.length === 1 && concrete[0] === info.type) continue;
    if (info.type === 'null') {
      change.push({ field, from: 'null', to: concrete.length === 1 ? (concrete[0] as FieldType) : 'mixed', legacy: null });
    } else {
      change.push({ field, from: info.type, to: 'mixed', legacy: info.type });
    }
  }
  if (schema === null) {
    // A new declared entity is created whole; its declared fields go into CREATE TABLE.
    for (const declared of ctx.definition?.fields.values() ?? []) {
      if (!needs.has(declared.name)) add.push({ field: declared.name, type: declared.type });
    }
  }
  if (schema !== null && add.length === 0 && change.length === 0) return null;
  return { create: schema === null, add, change };
}

/** The statements that carry out `todo`. */
function statementsOf(ctx: EntityContext, todo: SchemaPlan): DdlStatement[] {
  const { sql, tables, definition } = ctx;
  const out: DdlStatement[] = [];
  const undeclared = todo.add.filter(({ field }) => !todo.create || definition?.fields.has(field) !== true);
  if (todo.create) out.push(...createEntityStatements(sql, tables, definition, undeclared));
  else for (const { field, type } of undeclared) out.push(...addFieldStatements(sql, tables, definition, field, type));
  for (const { field, from, to, legacy } of todo.change) out.push(...changeFieldStatements(sql, tables, field, from, to, legacy));
  return out;
}

/** The error of a save that needs DDL while runtime DDL is off: which fields, and the DDL that would run. */
function runtimeDdlOff(ctx: EntityContext, todo: SchemaPlan): EntityError {
  const what = todo.create
    ? `the entity has no tables yet (fields ${todo.add.map((a) => `"${a.field}"`).join(', ') || 'none'})`
    : [...todo.add.map((a) => `new field "${a.field}" (${a.type})`), ...todo.change.map((c) => `field "${c.field}" changing from ${c.from} to ${c.to}`)].join(', ');
  const ddl = statementsOf(ctx, todo).map((s) => s.sql);
  return new EntityError(
    `${ctx.entity}: runtime DDL is off and this save needs a schema change: ${what}. Nothing was changed. ` +
      `It would run: ${ddl.join('; ')}. Declare the fields with defineEntity and run applyMigrations (or turn runtimeDdl on).`,
  );
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
    if (!ctx.runtimeDdl) {
      const todo = plan(ctx, schema, needs);
      if (todo !== null) throw runtimeDdlOff(ctx, todo);
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
  for (const statement of statementsOf(ctx, todo)) {
    if (statement.tolerant) yield* tolerateDuplicate(ctx, statement.sql);
    else yield* query(statement.sql);
  }
}
