/**
 * The entity operations, as generators of statements (see executor.ts): written once, run on
 * async and sync connections alike.
 */
import { randomUUID } from 'node:crypto';
import { DalError, EntityError, UniqueViolationError } from '@dal/core';
import { query, transaction, type Op } from './executor.js';
import { BIGINT_TEXT_PREFIX, HISTORY_FIELDS, SYSTEM_FIELDS, TYPES_COLUMN, checkFieldName, isIdentifier, isSystemField } from './names.js';
import { ensureSchema, readSchema, refreshSchema, type EntityContext, type FieldNeeds } from './schema.js';
import { invalidateSchema, type EntitySchema } from './schema-cache.js';
import { classify, fromStored, systemDate, toQueryParam, type ClassifiedValue, type FieldType } from './serializers.js';
import type { CountOptions, DeleteOptions, EntityData, FindOptions, HistoryOptions, ReadOptions, RestoreOptions, SaveOptions } from './types.js';

/** Longest id accepted (the id column is VARCHAR(255)). */
const MAX_ID_LENGTH = 255;
/** Rows per multi-row statement, below every backend's placeholder limit. */
const MAX_ROWS_PER_STATEMENT = 1_000;
const SYSTEM_DATES = new Set(['created_at', 'updated_at', 'deleted_at', 'history_timestamp']);
const KNOWN_COLUMNS = new Set<string>([...SYSTEM_FIELDS, ...HISTORY_FIELDS, TYPES_COLUMN]);

/**
 * Marks entities read without `deserialize` (value: the row's per-field type tags), so that
 * saving one back (the original's way to restore a version) first turns its stored forms
 * (1/0, ISO text, JSON text) back into values instead of changing the fields' types.
 */
const STORED_FORM = Symbol('@dal/entities stored form');

/** A history insert met an existing (id, version): a concurrent save won; the operation is retried. */
class HistoryConflict extends Error {}

interface PreparedRow {
  readonly id: string;
  /** The row's field names, sorted and joined: rows with the same shape share a statement. */
  readonly shape: string;
  readonly generated: boolean;
  readonly input: EntityData;
  readonly fields: ReadonlyMap<string, ClassifiedValue>;
}

function checkId(ctx: EntityContext, id: unknown): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_LENGTH) {
    throw new EntityError(`${ctx.entity}: an id must be a non-empty string of at most ${MAX_ID_LENGTH} characters`);
  }
  return id;
}

function prepareRow(ctx: EntityContext, data: unknown): PreparedRow {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new EntityError(`${ctx.entity}: an entity must be a plain object`);
  }
  const input = data as EntityData;
  const rawId = input['id'];
  const generated = rawId === undefined || rawId === null;
  const id = generated ? randomUUID() : checkId(ctx, rawId);
  const fields = new Map<string, ClassifiedValue>();
  for (const name of Object.keys(input)) {
    checkFieldName(ctx.entity, name);
    const value = input[name];
    // System fields are the framework's to set; ignoring them lets an old version be saved back.
    if (isSystemField(name) || value === undefined) continue;
    fields.set(name, classify(ctx.entity, name, value));
  }
  return { id, generated, input, fields, shape: [...fields.keys()].sort().join(',') };
}

/**
 * Check rows against the entity's declaration before anything runs: undeclared fields of a strict
 * entity, values of another type than declared, null in a non-nullable field, a non-nullable field
 * missing from a new row (one whose id this save generated), text past its maxLength.
 * @throws {EntityError} naming the entity and field.
 */
function checkDeclared(ctx: EntityContext, rows: readonly PreparedRow[]): void {
  const definition = ctx.definition;
  if (definition === undefined) return;
  for (const row of rows) {
    for (const [name, value] of row.fields) {
      const declared = definition.fields.get(name);
      if (declared === undefined) {
        if (definition.strict) throw new EntityError(`${ctx.entity}: field "${name}" is not declared, and the entity is strict`);
        continue;
      }
      if (value.type === 'null') {
        if (!declared.nullable) throw new EntityError(`${ctx.entity}.${name} is declared not nullable; it cannot be saved as null`);
      } else if (value.type !== declared.type) {
        throw new EntityError(`${ctx.entity}.${name} is declared ${declared.type}; a ${value.type} value cannot be saved in it`);
      } else if (declared.maxLength !== undefined && typeof value.param === 'string' && value.param.length > declared.maxLength) {
        throw new EntityError(`${ctx.entity}.${name} is declared with maxLength ${declared.maxLength}; the value has ${value.param.length} characters`);
      }
    }
    if (!row.generated) continue;
    for (const declared of definition.fields.values()) {
      if (!declared.nullable && !row.fields.has(declared.name)) {
        throw new EntityError(`${ctx.entity}.${declared.name} is declared not nullable; a new entity must carry it`);
      }
    }
  }
}

function needsOf(rows: readonly PreparedRow[]): FieldNeeds {
  const needs = new Map<string, Set<FieldType>>();
  for (const row of rows) {
    for (const [name, value] of row.fields) {
      let types = needs.get(name);
      if (types === undefined) needs.set(name, (types = new Set()));
      types.add(value.type);
    }
  }
  return needs;
}

/**
 * Split rows into multi-row statements of one shape (same fields, so that an update never
 * overwrites a field the row did not carry) with no id twice in a statement.
 */
function batches(ctx: EntityContext, rows: readonly PreparedRow[]): PreparedRow[][] {
  const rowsPerStatement = (row: PreparedRow): number =>
    Math.max(1, Math.min(MAX_ROWS_PER_STATEMENT, Math.floor(ctx.sql.maxParams / (row.fields.size + 6))));
  const ids = new Set(rows.map((row) => row.id));
  const out: PreparedRow[][] = [];
  if (ids.size === rows.length) {
    // Ids are unique, so order between statements does not matter: group by shape.
    const groups = new Map<string, PreparedRow[]>();
    for (const row of rows) {
      const key = row.shape;
      const group = groups.get(key);
      if (group === undefined) groups.set(key, [row]);
      else group.push(row);
    }
    for (const group of groups.values()) {
      const size = rowsPerStatement(group[0] as PreparedRow);
      for (let i = 0; i < group.length; i += size) out.push(group.slice(i, i + size));
    }
    return out;
  }
  // The same id more than once: keep input order so that the last write wins.
  let current: PreparedRow[] = [];
  let currentKey = '';
  let currentIds = new Set<string>();
  for (const row of rows) {
    const key = row.shape;
    if (current.length > 0 && (key !== currentKey || currentIds.has(row.id) || current.length >= rowsPerStatement(row))) {
      out.push(current);
      current = [];
      currentIds = new Set();
    }
    current.push(row);
    currentKey = key;
    currentIds.add(row.id);
  }
  if (current.length > 0) out.push(current);
  return out;
}

function storedValue(schema: EntitySchema, name: string, value: ClassifiedValue): unknown {
  return schema.get(name)?.type === 'mixed' ? value.text : value.param;
}

/** Columns copied from a main row into its history row. */
export function copiedColumns(schema: EntitySchema): string[] {
  return [...SYSTEM_FIELDS, ...schema.keys(), TYPES_COLUMN];
}

/** INSERT INTO history ... SELECT ... FROM `source`, whose rows are named m (the main table, or a CTE). */
function historyInsert(ctx: EntityContext, schema: EntitySchema, version: string, source: string): string {
  const { q, typedParam } = ctx.sql;
  const columns = copiedColumns(schema);
  return (
    `INSERT INTO ${q(ctx.tables.history)} (${[...columns, ...HISTORY_FIELDS].map(q).join(', ')}) ` +
    `SELECT ${columns.map((c) => `${q('m')}.${q(c)}`).join(', ')}, ${version}, ${typedParam('timestamp')}, ${typedParam('text')}, ${typedParam('text')} ` +
    `FROM ${source}`
  );
}

/** Run a history insert; a taken (id, version) means a concurrent save won: retry the operation. */
function* guardHistory<T>(body: Op<T>): Op<T> {
  try {
    return yield* body;
  } catch (error) {
    if (DalError.isInstance(error) && error.code === 'DAL_UNIQUE_VIOLATION') throw new HistoryConflict('history version taken', { cause: error });
    throw error;
  }
}

/** Another process added fields since `schema` was cached: the operation re-runs with the schema re-read. */
class StaleSchema extends Error {}

/**
 * Fail with StaleSchema when the metadata table lists fields that `schema` lacks. Called after the
 * main rows were written and before they are copied to history: the copy names the columns it
 * knows, and a column another process added would reach history as NULL while the main row keeps
 * its value. Fields are only ever added, so a count is enough; and from the write on, no ALTER
 * of the main table can complete until this transaction ends (it holds the table's lock), so
 * nothing can be added between this check and the copy.
 *
 * A plain read, no locking read: on MySQL a shared lock on the metadata rows, held to the end of a
 * caller's transaction, would block the separate connection that adds a field for a later save in
 * that same transaction. So on MySQL inside a caller's transaction the count comes from the
 * transaction's snapshot (REPEATABLE READ), which misses a field added after the snapshot began
 * (see the package README).
 */
function* assertSchemaCurrent(ctx: EntityContext, schema: EntitySchema): Op<void> {
  const { q } = ctx.sql;
  const result = yield* query(`SELECT COUNT(*) AS ${q('n')} FROM ${q(ctx.tables.meta)}`);
  if (Number(result.rows[0]?.['n']) !== schema.size) throw new StaleSchema(`${ctx.entity}: fields were added since the schema was read`);
}

/**
 * Copy the current rows of `ids` into the history table as their next version, server side.
 * `firstVersion` (ids this call generated: new rows, nothing in columns it does not know) skips
 * the version look-up and the schema check.
 */
export function* writeHistory(
  ctx: EntityContext,
  schema: EntitySchema,
  ids: readonly string[],
  at: unknown,
  userId: string | null,
  comment: string | null,
  firstVersion: boolean,
): Op<void> {
  const { q } = ctx.sql;
  const { main, history } = ctx.tables;
  const version = firstVersion
    ? '1'
    : `COALESCE((SELECT MAX(${q('h')}.${q('version')}) FROM ${q(history)} ${q('h')} WHERE ${q('h')}.${q('id')} = ${q('m')}.${q('id')}), 0) + 1`;
  const source = `${q(main)} ${q('m')} WHERE ${q('m')}.${q('id')} IN (${ids.map(() => '?').join(', ')})`;
  const sql = historyInsert(ctx, schema, version, source);
  if (!firstVersion) yield* assertSchemaCurrent(ctx, schema);
  yield* guardHistory(query(sql, [at, userId, comment, ...ids]));
}

/**
 * Declared NOT NULL fields a statement's rows do not carry. An upsert's INSERT part must still
 * give them a value, or the server rejects the row before it sees the conflict that makes it an
 * update: the stored value is inserted (a subquery by id), which is null, and rejected, only when
 * the row is new. The update part leaves them as they are.
 */
function keptNotNull(ctx: EntityContext, fields: readonly string[]): string[] {
  const kept: string[] = [];
  for (const declared of ctx.definition?.fields.values() ?? []) {
    if (!declared.nullable && !fields.includes(declared.name)) kept.push(declared.name);
  }
  return kept;
}

function uniqueKey(value: unknown): string {
  return value instanceof Date ? value.toISOString() : String(value);
}

/**
 * MySQL's ON DUPLICATE KEY UPDATE fires on any unique key: a new value of a declared unique field
 * that another entity holds would update that entity instead of failing. So, before the upsert,
 * look the values up with a locking read (which also locks the gap where a missing value would
 * go) and fail as the other backends do.
 * @throws {UniqueViolationError} when another entity (or another row of the batch) holds a value.
 */
function* checkUnique(ctx: EntityContext, batch: readonly PreparedRow[], fields: readonly string[]): Op<void> {
  const { q } = ctx.sql;
  for (const declared of ctx.definition?.fields.values() ?? []) {
    if (!declared.unique || !fields.includes(declared.name)) continue;
    const owners = new Map<string, { id: string; param: unknown }>();
    const duplicate = (value: string): UniqueViolationError =>
      new UniqueViolationError(`${ctx.entity}.${declared.name}: another entity already holds the value ${JSON.stringify(value)} (unique)`, {
        dialect: ctx.sql.name,
        table: ctx.tables.main,
        column: declared.name,
        constraint: ctx.definition?.indexes.find((index) => index.unique && index.columns[0] === declared.name)?.name,
      });
    for (const row of batch) {
      const param = row.fields.get(declared.name)?.param;
      if (param === null || param === undefined) continue;
      const key = uniqueKey(param);
      if (owners.has(key) && owners.get(key)?.id !== row.id) throw duplicate(key);
      owners.set(key, { id: row.id, param });
    }
    if (owners.size === 0) continue;
    const column = q(declared.name);
    const held = yield* query(
      `SELECT ${q('id')}, ${column} AS ${q('v')} FROM ${q(ctx.tables.main)} WHERE ${column} IN (${[...owners.keys()].map(() => '?').join(', ')}) FOR UPDATE`,
      [...owners.values()].map((owner) => owner.param),
    );
    for (const row of held.rows) {
      const key = uniqueKey(row['v']);
      if (owners.get(key)?.id !== String(row['id'])) throw duplicate(key);
    }
  }
}

/** What a save cannot know without reading: the stored creation fields of a row that may have existed. */
interface ExistingFields {
  created_at: unknown;
  created_by: unknown;
  deleted_at: unknown;
}

const EXISTING_COLUMNS = ['id', 'created_at', 'created_by', 'deleted_at'] as const;

function existingFields(rows: readonly Record<string, unknown>[], into: Map<string, ExistingFields>): void {
  for (const row of rows) {
    into.set(String(row['id']), { created_at: systemDate(row['created_at']), created_by: row['created_by'] ?? null, deleted_at: systemDate(row['deleted_at']) });
  }
}

/**
 * Upsert the rows and record their history versions. Returns the stored creation fields of rows
 * whose id the caller gave (an update keeps them): from the upsert's RETURNING where the backend
 * has it, else read back under the row lock the upsert took.
 */
function* writeRows(ctx: EntityContext, schema: EntitySchema, rows: readonly PreparedRow[], options: SaveOptions, now: Date): Op<Map<string, ExistingFields>> {
  const { q } = ctx.sql;
  const existing = new Map<string, ExistingFields>();
  const at = ctx.sql.timestamp(now);
  const userId = options.userId ?? null;
  const comment = options.comment ?? null;
  for (const batch of batches(ctx, rows)) {
    const fields = [...(batch[0] as PreparedRow).fields.keys()].sort();
    const mixed = fields.filter((f) => schema.get(f)?.type === 'mixed');
    const kept = keptNotNull(ctx, fields);
    const columns = ['id', ...fields, ...kept, 'created_at', 'updated_at', 'created_by', 'updated_by', ...(mixed.length > 0 ? [TYPES_COLUMN] : [])];
    const params: unknown[] = [];
    for (const row of batch) {
      params.push(row.id);
      for (const field of fields) params.push(storedValue(schema, field, row.fields.get(field) as ClassifiedValue));
      for (let i = 0; i < kept.length; i++) params.push(row.id);
      params.push(at, at, userId, userId);
      if (mixed.length > 0) {
        const tags: Record<string, FieldType> = {};
        for (const field of mixed) {
          const value = row.fields.get(field) as ClassifiedValue;
          if (value.type !== 'null') tags[field] = value.type;
        }
        params.push(JSON.stringify(tags));
      }
    }
    const keptValue = (c: string): string => `(SELECT ${q(c)} FROM ${q(ctx.tables.main)} WHERE ${q('id')} = ?)`;
    const placeholders = `(${columns.map((c) => (kept.includes(c) ? keptValue(c) : '?')).join(', ')})`;
    const upsert =
      `INSERT INTO ${q(ctx.tables.main)} (${columns.map(q).join(', ')}) VALUES ${batch.map(() => placeholders).join(', ')}` +
      ctx.sql.upsertTail(ctx.tables.main, [...fields, 'updated_at', 'updated_by'], mixed.length > 0 ? TYPES_COLUMN : undefined);
    if (ctx.sql.upsertMatchesAnyUniqueKey) yield* checkUnique(ctx, batch, fields);
    const fresh = batch.every((row) => row.generated);
    if (fresh && ctx.sql.dataModifyingCte) {
      // New ids cannot be contended: rows and their version-1 history in one statement.
      yield* guardHistory(query(`WITH ${q('m')} AS (${upsert} RETURNING ${copiedColumns(schema).map(q).join(', ')}) ${historyInsert(ctx, schema, '1', q('m'))}`, [
        ...params,
        at,
        userId,
        comment,
      ]));
      continue;
    }
    const ids = batch.map((row) => row.id);
    if (fresh) {
      yield* query(upsert, params);
    } else if (ctx.sql.upsertReturning) {
      existingFields((yield* query(`${upsert} RETURNING ${EXISTING_COLUMNS.map(q).join(', ')}`, params)).rows, existing);
    } else {
      yield* query(upsert, params);
      const read = `SELECT ${EXISTING_COLUMNS.map(q).join(', ')} FROM ${q(ctx.tables.main)} WHERE ${q('id')} IN (${ids.map(() => '?').join(', ')})`;
      existingFields((yield* query(read, ids)).rows, existing);
    }
    yield* writeHistory(
      ctx,
      schema,
      ids,
      at,
      userId,
      comment,
      fresh,
    );
  }
  return existing;
}

/** What a caller gets when the retries of `withSchema` ran out. */
function lastError(ctx: EntityContext, error: unknown): unknown {
  if (error instanceof HistoryConflict) return error.cause;
  if (error instanceof StaleSchema) return new EntityError(`${ctx.entity}: the schema kept changing under concurrent saves; try again`);
  return error;
}

function isRetryable(ctx: EntityContext, error: unknown): boolean {
  if (error instanceof HistoryConflict || error instanceof StaleSchema) return true;
  const kind = ctx.sql.errorKind(error);
  return kind === 'missing-object' || kind === 'duplicate-object';
}

/**
 * Run a write with its schema: on PostgreSQL/SQLite the schema change and the write share one
 * transaction; on MySQL the DDL runs first (it commits on its own). A stale cache (missing
 * column/table, fields added elsewhere), a concurrent creator or a taken history version re-runs
 * it, at most twice.
 */
function* withSchema<T>(ctx: EntityContext, needs: FieldNeeds, write: (schema: EntitySchema) => Op<T>): Op<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      if (ctx.transactionalDdl) {
        return yield* transaction(function* () {
          return yield* write(yield* ensureSchema(ctx, needs));
        });
      }
      const schema = yield* ensureSchema(ctx, needs);
      return yield* transaction(() => write(schema));
    } catch (error) {
      if (attempt >= 2 || !isRetryable(ctx, error)) throw lastError(ctx, error);
      invalidateSchema(ctx.database, ctx.entity);
    }
  }
}

function isStoredForm(data: unknown): data is EntityData & { [STORED_FORM]: Record<string, FieldType> } {
  return typeof data === 'object' && data !== null && STORED_FORM in data;
}

function revive(schema: EntitySchema, data: EntityData & { [STORED_FORM]: Record<string, FieldType> }): EntityData {
  const tags = data[STORED_FORM];
  const out: EntityData = {};
  for (const [name, value] of Object.entries(data)) {
    const info = schema.get(name);
    const type = info === undefined ? undefined : info.type === 'mixed' ? (tags[name] ?? info.legacy) : info.type;
    out[name] = type === undefined || type === null ? value : fromStored(type, value);
  }
  return out;
}

/** Save many entities: multi-row upserts and server-side history copies, in one transaction. */
export function* saveEntitiesOp(ctx: EntityContext, entities: unknown, options: SaveOptions): Op<EntityData[]> {
  if (!Array.isArray(entities)) throw new EntityError(`${ctx.entity}: saveEntities needs an array of entities`);
  let inputs: unknown[] = entities;
  if (inputs.some(isStoredForm)) {
    const schema = yield* readSchema(ctx);
    if (schema !== null) inputs = inputs.map((data) => (isStoredForm(data) ? revive(schema, data) : data));
  }
  const rows = inputs.map((data) => prepareRow(ctx, data));
  if (rows.length === 0) return [];
  checkDeclared(ctx, rows);
  const now = new Date();
  const existing = yield* withSchema(ctx, needsOf(rows), (schema) => writeRows(ctx, schema, rows, options, now));
  const userId = options.userId ?? null;
  return rows.map((row) => {
    // What was stored: the fields saved (system fields given in the input were ignored) and the system fields.
    const saved: EntityData = {};
    for (const name of row.fields.keys()) saved[name] = row.input[name];
    const stored = existing.get(row.id);
    saved['id'] = row.id;
    saved['created_at'] = stored === undefined ? now : stored.created_at;
    saved['updated_at'] = now;
    saved['created_by'] = stored === undefined ? userId : stored.created_by;
    saved['updated_by'] = userId;
    saved['deleted_at'] = stored === undefined ? null : stored.deleted_at;
    return saved;
  });
}

/** Save one entity (insert, or merge into the stored one) and record a new version. */
export function* saveEntityOp(ctx: EntityContext, entity: unknown, options: SaveOptions): Op<EntityData> {
  const saved = yield* saveEntitiesOp(ctx, [entity], options);
  return saved[0] as EntityData;
}

function unknownEntity(ctx: EntityContext): EntityError {
  return new EntityError(`unknown entity ${ctx.entity}: nothing was ever saved under this name`);
}

export function* existingSchema(ctx: EntityContext): Op<EntitySchema> {
  const schema = yield* readSchema(ctx);
  if (schema === null) throw unknownEntity(ctx);
  return schema;
}

/** A prepared `SELECT *` whose table gained a column since (the driver then drops the statement). */
function isStalePlan(error: unknown): boolean {
  return DalError.isInstance(error) && error.code === 'DAL_STALE_STATEMENT';
}

/**
 * Run a read. A missing table or column means the cache is stale: drop it and rethrow. A stale
 * prepared plan (another process added a column) is retried once, unless a transaction is open
 * (PostgreSQL has already aborted it).
 */
function* reading<T>(ctx: EntityContext, body: () => Op<T>): Op<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return yield* body();
    } catch (error) {
      if (ctx.sql.errorKind(error) === 'missing-object') invalidateSchema(ctx.database, ctx.entity);
      if (attempt === 0 && !ctx.inTransaction && isStalePlan(error)) continue;
      throw error;
    }
  }
}

const fingerprints = new WeakMap<EntitySchema, string>();

/** A short hash of the known fields and their types. */
function fingerprint(schema: EntitySchema): string {
  let known = fingerprints.get(schema);
  if (known === undefined) {
    let hash = 0x811c9dc5;
    for (const [name, info] of schema) {
      for (const ch of `${name}:${info.type};`) hash = Math.imul(hash ^ ch.charCodeAt(0), 0x01000193);
    }
    known = `${schema.size}-${(hash >>> 0).toString(36)}`;
    fingerprints.set(schema, known);
  }
  return known;
}

/**
 * The select list of entity reads. The comment fingerprints the known fields and types, so
 * that the SQL text (and any prepared statement cached for it) changes whenever this process
 * learns of a schema change.
 */
function selectList(ctx: EntityContext, schema: EntitySchema): string {
  const list = `/* schema ${fingerprint(schema)} */ *`;
  if (!ctx.sql.inexactBigints) return list;
  // The driver would round 64-bit integers to doubles (better-sqlite3): read them as exact text too.
  const { q } = ctx.sql;
  const extra: string[] = [];
  for (const [name, info] of schema) {
    if (info.type === 'bigint' || info.legacy === 'bigint') extra.push(`CAST(${q(name)} AS TEXT) AS ${q(BIGINT_TEXT_PREFIX + name)}`);
  }
  return extra.length === 0 ? list : `${list}, ${extra.join(', ')}`;
}

function exactInteger(text: string): number | bigint {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

function parseTags(value: unknown): Record<string, FieldType> | undefined {
  if (typeof value !== 'string' || value.length === 0) return undefined;
  try {
    return JSON.parse(value) as Record<string, FieldType>;
  } catch {
    return undefined;
  }
}

/**
 * Turn rows into entities: hidden columns dropped; with `deserialize`, values converted back to
 * their JavaScript types. A column the cache does not know means another process added a
 * field: the schema is re-read once.
 */
function* decodeRows(ctx: EntityContext, schema: EntitySchema, rows: readonly Record<string, unknown>[], deserialize: boolean): Op<EntityData[]> {
  if (rows.length === 0) return [];
  let known = schema;
  const columns = Object.keys(rows[0] as Record<string, unknown>);
  if (columns.some((c) => !KNOWN_COLUMNS.has(c) && !c.startsWith(BIGINT_TEXT_PREFIX) && !known.has(c))) {
    known = (yield* refreshSchema(ctx)) ?? known;
  }
  const out: EntityData[] = [];
  for (const row of rows) {
    const entity: EntityData = {};
    const tags = parseTags(row[TYPES_COLUMN]);
    if (!deserialize) Object.defineProperty(entity, STORED_FORM, { value: tags ?? {} });
    for (const column of columns) {
      if (column === TYPES_COLUMN || column.startsWith(BIGINT_TEXT_PREFIX)) continue;
      let value = row[column];
      const exact = row[BIGINT_TEXT_PREFIX + column];
      // Only integers stored as such were rounded; text in a mixed column stays as it is.
      if (typeof value === 'number' && typeof exact === 'string' && /^-?\d+$/.test(exact)) value = exactInteger(exact);
      if (!deserialize) {
        entity[column] = value;
        continue;
      }
      if (SYSTEM_DATES.has(column)) entity[column] = systemDate(value);
      else if (column === 'version') entity[column] = Number(value);
      else if (column === 'id') entity[column] = value === null ? null : String(value);
      else {
        const info = known.get(column);
        if (info === undefined) entity[column] = value;
        else if (info.type === 'mixed') {
          const type = tags?.[column] ?? info.legacy;
          entity[column] = type === null || type === undefined ? value : fromStored(type, value);
        } else entity[column] = fromStored(info.type, value);
      }
    }
    out.push(entity);
  }
  return out;
}

/** One entity by id, or null. */
export function* getEntityOp(ctx: EntityContext, id: unknown, options: ReadOptions): Op<EntityData | null> {
  checkId(ctx, id);
  const schema = yield* existingSchema(ctx);
  const { q } = ctx.sql;
  const deleted = options.includeDeleted === true ? '' : ` AND ${q('deleted_at')} IS NULL`;
  const result = yield* reading(ctx, () => query(`SELECT ${selectList(ctx, schema)} FROM ${q(ctx.tables.main)} WHERE ${q('id')} = ?${deleted}`, [id]));
  const [entity] = yield* decodeRows(ctx, schema, result.rows as Record<string, unknown>[], options.deserialize === true);
  return entity ?? null;
}

function checkCount(ctx: EntityContext, name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new EntityError(`${ctx.entity}: ${name} must be a non-negative integer`);
  }
  return value;
}

const ORDER_TERM = /^\s*(?:\[([^\]]*)\]|"([^"]*)"|`([^`]*)`|([A-Za-z_][A-Za-z0-9_]*))\s*(?:\s(ASC|DESC))?\s*$/i;

/**
 * Parse `orderBy` into native SQL: a comma-separated list of column names (bare or quoted as
 * `[col]`, `"col"`, `` `col` ``), each optionally followed by ASC or DESC. Nothing else passes.
 */
function* orderByClause(ctx: EntityContext, schema: EntitySchema, orderBy: unknown): Op<string> {
  if (orderBy === undefined) return '';
  if (typeof orderBy !== 'string' || orderBy.trim() === '') throw new EntityError(`${ctx.entity}: orderBy must be a non-empty string`);
  let known = schema;
  const terms: string[] = [];
  for (const term of orderBy.split(',')) {
    const match = ORDER_TERM.exec(term);
    const column = match?.[1] ?? match?.[2] ?? match?.[3] ?? match?.[4];
    if (match === null || column === undefined || !isIdentifier(column)) {
      throw new EntityError(`${ctx.entity}: orderBy accepts only column names, each optionally followed by ASC or DESC`);
    }
    if (!SYSTEM_FIELDS.includes(column as (typeof SYSTEM_FIELDS)[number]) && !known.has(column)) {
      known = (yield* refreshSchema(ctx)) ?? known;
      if (!known.has(column)) throw new EntityError(`${ctx.entity}: orderBy names the unknown field "${column}"`);
    }
    terms.push(`${ctx.sql.q(column)} ${(match[5] ?? 'ASC').toUpperCase()}`);
  }
  return ` ORDER BY ${terms.join(', ')}`;
}

function whereClause(ctx: EntityContext, options: CountOptions): { sql: string; params: unknown[] } {
  const conditions: string[] = [];
  if (options.includeDeleted !== true) conditions.push(`${ctx.sql.q('deleted_at')} IS NULL`);
  if (options.where !== undefined) {
    if (typeof options.where !== 'string' || options.where.trim() === '') throw new EntityError(`${ctx.entity}: where must be a non-empty string`);
    conditions.push(`(${options.where})`);
  }
  if (options.params !== undefined && !Array.isArray(options.params)) throw new EntityError(`${ctx.entity}: params must be an array`);
  const params = (options.params ?? []).map(toQueryParam);
  return { sql: conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`, params };
}

/** Entities matching a portable `where`, ordered and paged. */
export function* findEntitiesOp(ctx: EntityContext, options: FindOptions): Op<EntityData[]> {
  const schema = yield* existingSchema(ctx);
  const where = whereClause(ctx, options);
  const order = yield* orderByClause(ctx, schema, options.orderBy);
  const paging = ctx.sql.limitOffset(checkCount(ctx, 'limit', options.limit), checkCount(ctx, 'offset', options.offset));
  const sql = `SELECT ${selectList(ctx, schema)} FROM ${ctx.sql.q(ctx.tables.main)}${where.sql}${order}${paging}`;
  const result = yield* reading(ctx, () => query(sql, where.params));
  return yield* decodeRows(ctx, schema, result.rows as Record<string, unknown>[], options.deserialize === true);
}

/** How many entities match a portable `where`. */
export function* countEntitiesOp(ctx: EntityContext, options: CountOptions): Op<number> {
  yield* existingSchema(ctx);
  const where = whereClause(ctx, options);
  const result = yield* reading(ctx, () => query(`SELECT COUNT(*) AS ${ctx.sql.q('n')} FROM ${ctx.sql.q(ctx.tables.main)}${where.sql}`, where.params));
  return Number(result.rows[0]?.['n'] ?? 0);
}

/**
 * Mark the row deleted (or, with `deleted: false`, not deleted) and record the change as a new
 * version; false when there is no such row or it already was in that state. `purge` marks it
 * deleted whatever its state and records the version the purge leaves behind.
 */
function* markDeleted(ctx: EntityContext, id: string, deleted: boolean, options: RestoreOptions, comment: string, purge = false): Op<boolean> {
  return yield* withSchema(ctx, new Map(), function* (schema) {
    const { q } = ctx.sql;
    const at = ctx.sql.timestamp(new Date());
    const userId = options.userId ?? null;
    const condition = purge ? '' : ` AND ${q('deleted_at')} ${deleted ? 'IS NULL' : 'IS NOT NULL'}`;
    const result = yield* query(
      `UPDATE ${q(ctx.tables.main)} SET ${q('deleted_at')} = ?, ${q('updated_at')} = ?, ${q('updated_by')} = ? WHERE ${q('id')} = ?${condition}`,
      [deleted ? at : null, at, userId, id],
    );
    if (result.affectedRows === 0) return false;
    yield* writeHistory(ctx, schema, [id], at, userId, options.comment ?? comment, false);
    return true;
  });
}

/**
 * Soft-delete (a new version with `deleted_at` set) or, with `permanent`, remove the row after
 * recording a last version of it (comment `purged`), so the audit trail survives; with
 * `purgeHistory` as well, the history goes too (erasure requests), also for a row purged
 * earlier. False when there was nothing to delete.
 */
export function* deleteEntityOp(ctx: EntityContext, id: unknown, options: DeleteOptions): Op<boolean> {
  const checked = checkId(ctx, id);
  if (options.purgeHistory === true && options.permanent !== true) {
    throw new EntityError(`${ctx.entity}: purgeHistory removes the history of a permanent delete; pass permanent: true with it`);
  }
  yield* existingSchema(ctx);
  if (options.permanent !== true) return yield* markDeleted(ctx, checked, true, options, 'deleted');
  const { q } = ctx.sql;
  return yield* transaction(function* () {
    if (options.purgeHistory !== true) yield* markDeleted(ctx, checked, true, options, 'purged', true);
    const removed = yield* query(`DELETE FROM ${q(ctx.tables.main)} WHERE ${q('id')} = ?`, [checked]);
    if (options.purgeHistory !== true) return removed.affectedRows > 0;
    const erased = yield* query(`DELETE FROM ${q(ctx.tables.history)} WHERE ${q('id')} = ?`, [checked]);
    return removed.affectedRows > 0 || erased.affectedRows > 0;
  });
}

/** Undo a soft delete (a new version). Resolves to false when it was not deleted. */
export function* restoreEntityOp(ctx: EntityContext, id: unknown, options: RestoreOptions): Op<boolean> {
  const checked = checkId(ctx, id);
  yield* existingSchema(ctx);
  return yield* markDeleted(ctx, checked, false, options, 'restored');
}

/** Every version of an entity, oldest first (empty for an id never saved). */
export function* getEntityHistoryOp(ctx: EntityContext, id: unknown, options: HistoryOptions): Op<EntityData[]> {
  checkId(ctx, id);
  const schema = yield* existingSchema(ctx);
  const { q } = ctx.sql;
  const result = yield* reading(
    ctx,
    () => query(`SELECT ${selectList(ctx, schema)} FROM ${q(ctx.tables.history)} WHERE ${q('id')} = ? ORDER BY ${q('version')} ASC`, [id]),
  );
  return yield* decodeRows(ctx, schema, result.rows as Record<string, unknown>[], options.deserialize === true);
}

/** One version of an entity, or null when the id has no such version. */
export function* getEntityByVersionOp(ctx: EntityContext, id: unknown, version: unknown, options: HistoryOptions): Op<EntityData | null> {
  checkId(ctx, id);
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new EntityError(`${ctx.entity}: a version must be a positive integer`);
  }
  const schema = yield* existingSchema(ctx);
  const { q } = ctx.sql;
  const result = yield* reading(
    ctx,
    () => query(`SELECT ${selectList(ctx, schema)} FROM ${q(ctx.tables.history)} WHERE ${q('id')} = ? AND ${q('version')} = ?`, [id, version]),
  );
  const [entity] = yield* decodeRows(ctx, schema, result.rows as Record<string, unknown>[], options.deserialize === true);
  return entity ?? null;
}
