/**
 * Migrations: compare declared entities (`defineEntity`) with the database, list the steps that
 * would bring it in line (dry run), and apply them once across processes, recording each step.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { ConfigError, EntityError, type Connection, type Database } from '@dal/core';
import { addFieldStatements, changeFieldStatements, columnType, createEntityStatements, literal } from './ddl.js';
import { definedEntities, definitionOf, INDEX_PREFIX, type EntityDefinition } from './definitions.js';
import { entitySqlOf } from './entities.js';
import type { EntityDialect } from './entity-dialect.js';
import { Budget, runAsync } from './executor.js';
import { entityTables, type EntityTables } from './names.js';
import { loadSchema } from './schema.js';
import { entitySettings, invalidateSchema, type FieldInfo } from './schema-cache.js';

/** What a migration step does. */
export type MigrationStepKind =
  | 'create-entity'
  | 'rename-field'
  | 'add-field'
  | 'set-field-type'
  | 'retype-column'
  | 'set-not-null'
  | 'drop-index'
  | 'add-index'
  | 'drop-field';

/** One step of a migration plan, with the SQL it runs. */
export interface MigrationStep {
  readonly entity: string;
  readonly kind: MigrationStepKind;
  /** The field (or, for indexes, the index name) the step is about. */
  readonly target?: string;
  readonly description: string;
  readonly sql: readonly string[];
}

/** A difference a plan leaves alone, and why (a drop without `allowDrop`, or what a backend cannot do). */
export interface SkippedChange {
  readonly entity: string;
  readonly description: string;
  readonly reason: string;
}

export interface MigrationPlan {
  readonly steps: MigrationStep[];
  readonly skipped: SkippedChange[];
}

export interface MigrationResult {
  /** The steps this call ran (empty when another process had applied them: it waited, then found nothing to do). */
  readonly applied: MigrationStep[];
  readonly skipped: SkippedChange[];
}

/** Options of `planMigrations` / `applyMigrations`. */
export interface MigrationOptions {
  /** The entities to migrate, by name or definition (default: every entity declared with `defineEntity`). */
  entities?: readonly (string | EntityDefinition)[];
  /** Drop undeclared fields of strict entities and framework indexes no longer declared (default false). */
  allowDrop?: boolean;
  /** Fields to rename, `{ old: 'new' }` or `{ 'entity.old': 'new' }`; without it a renamed field is added as a new one. */
  renames?: Readonly<Record<string, string>>;
  /** How long to wait for another process's migration to finish (default 60 000 ms). */
  lockWaitMs?: number;
  /** How long each DDL statement may wait for table locks (default: `ddlLockTimeoutMs`, 5 000 ms). */
  ddlLockTimeoutMs?: number;
  /** Longest a single statement (e.g. an index build) may run (default: the config's `queryExecutionTimeoutMs`). */
  statementTimeoutMs?: number;
}

/** The table recording applied steps. */
export const MIGRATIONS_TABLE = '_dal_migrations';
const DEFAULT_LOCK_WAIT_MS = 60_000;

interface ColumnState {
  readonly nullable: boolean;
  readonly type: string;
}

/** What the database holds for one entity. */
interface EntityState {
  readonly fields: Map<string, FieldInfo> | null;
  readonly columns: Map<string, ColumnState>;
  readonly indexes: Set<string>;
}

function positive(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !(value > 0)) throw new ConfigError(`${name} must be a positive number of milliseconds`);
  return value;
}

function checkOptions(options: MigrationOptions): void {
  if (typeof options !== 'object' || options === null) throw new ConfigError('migration options must be an object');
  positive('lockWaitMs', options.lockWaitMs);
  positive('ddlLockTimeoutMs', options.ddlLockTimeoutMs);
  positive('statementTimeoutMs', options.statementTimeoutMs);
  if (options.renames !== undefined) {
    if (typeof options.renames !== 'object' || options.renames === null) throw new ConfigError('renames must be an object of { old: new } field names');
    for (const [from, to] of Object.entries(options.renames)) {
      if (typeof to !== 'string') throw new ConfigError(`renames.${from} must be a field name`);
    }
  }
}

function selectedDefinitions(options: MigrationOptions): EntityDefinition[] {
  if (options.entities === undefined) return definedEntities();
  if (!Array.isArray(options.entities)) throw new ConfigError('entities must be an array of entity names or definitions');
  return options.entities.map((entity) => {
    if (typeof entity !== 'string') return entity;
    const definition = definitionOf(entity);
    if (definition === undefined) throw new EntityError(`${entity}: not declared; declare it with defineEntity before migrating it`);
    return definition;
  });
}

/** Runs statements of a migration on one connection, with the statement timeout chosen. */
class Runner {
  constructor(
    readonly conn: Connection,
    readonly sql: EntityDialect,
    readonly options: MigrationOptions,
  ) {}

  async rows(sql: string, params: readonly unknown[] = []): Promise<Record<string, unknown>[]> {
    const timeoutMs = this.options.statementTimeoutMs;
    return (await this.conn.query(sql, params, timeoutMs === undefined ? {} : { timeoutMs })).rows as Record<string, unknown>[];
  }

  async inspect(tables: EntityTables): Promise<EntityState> {
    const budget = new Budget(this.conn, this.options.statementTimeoutMs === undefined ? {} : { timeoutMs: this.options.statementTimeoutMs });
    const context = { tables, sql: this.sql } as Parameters<typeof loadSchema>[0];
    const schema = await runAsync(this.conn, loadSchema(context), budget);
    const columns = new Map<string, ColumnState>();
    const indexes = new Set<string>();
    if (schema !== null) {
      const c = this.sql.columnsOf(tables.main);
      for (const row of await this.rows(c.sql, c.params)) columns.set(String(row['name']), { nullable: Number(row['nullable']) !== 0, type: String(row['type'] ?? '') });
      const i = this.sql.indexesOf(tables.main);
      for (const row of await this.rows(i.sql, i.params)) indexes.add(String(row['name']));
    }
    return { fields: schema === null ? null : new Map(schema), columns, indexes };
  }
}

/** The rename of `entity` that `renames` asks for, as [old, new] pairs. */
function renamesOf(entity: string, renames: Readonly<Record<string, string>>): [string, string, boolean][] {
  const out: [string, string, boolean][] = [];
  for (const [key, to] of Object.entries(renames)) {
    const dot = key.indexOf('.');
    if (dot === -1) out.push([key, to, false]);
    else if (key.slice(0, dot) === entity) out.push([key.slice(dot + 1), to, true]);
  }
  return out;
}

/** The steps bringing one entity in line with its declaration. */
function planEntity(sql: EntityDialect, definition: EntityDefinition, state: EntityState, options: MigrationOptions, plan: MigrationPlan): void {
  const entity = definition.name;
  const tables = entityTables(entity);
  const step = (kind: MigrationStepKind, target: string | undefined, description: string, statements: readonly string[]): void => {
    plan.steps.push({ entity, kind, ...(target === undefined ? {} : { target }), description, sql: statements });
  };
  const skip = (description: string, reason: string): void => {
    plan.skipped.push({ entity, description, reason });
  };
  const { fields, columns, indexes } = state;
  if (fields === null) {
    const names = [...definition.fields.keys()];
    step('create-entity', undefined, `create ${entity} with ${names.length === 0 ? 'no declared fields' : names.join(', ')}`, createEntityStatements(sql, tables, definition, []).map((s) => s.sql));
    return;
  }
  const q = sql.q;

  for (const [from, to, qualified] of renamesOf(entity, options.renames ?? {})) {
    if (fields.has(from) && fields.has(to)) throw new EntityError(`${entity}: cannot rename ${from} to ${to}, both fields exist`);
    if (!fields.has(from)) {
      if (qualified && !fields.has(to)) throw new EntityError(`${entity}: renames names the field ${from}, which ${entity} does not have`);
      continue;
    }
    if (!definition.fields.has(to)) throw new EntityError(`${entity}: renames ${from} to ${to}, which is not declared`);
    step('rename-field', from, `rename ${entity}.${from} to ${to}`, [
      sql.renameColumn(tables.main, from, to),
      sql.renameColumn(tables.history, from, to),
      `UPDATE ${q(tables.meta)} SET ${q('field_name')} = ${literal(to)} WHERE ${q('field_name')} = ${literal(from)}`,
    ]);
    fields.set(to, fields.get(from) as FieldInfo);
    fields.delete(from);
    const column = columns.get(from);
    if (column !== undefined) columns.set(to, column);
    columns.delete(from);
  }

  const notNull = (field: string, type: string): void => {
    const statement = sql.setNotNull(tables.main, field, type);
    if (statement === undefined) {
      skip(`make ${entity}.${field} NOT NULL`, `${sql.name} cannot add NOT NULL to an existing column without rebuilding the table; saves still reject null in it`);
    } else {
      step('set-not-null', field, `make ${entity}.${field} NOT NULL (fails while rows hold null in it)`, [statement]);
    }
  };
  for (const declared of definition.fields.values()) {
    const name = declared.name;
    const type = columnType(sql, definition, name, declared.type);
    const info = fields.get(name);
    if (info === undefined) {
      step('add-field', name, `add ${entity}.${name} (${declared.type})`, addFieldStatements(sql, tables, definition, name, declared.type).map((s) => s.sql));
      if (!declared.nullable) notNull(name, type);
      continue;
    }
    if (info.type === 'null') {
      step('set-field-type', name, `give ${entity}.${name} its declared type ${declared.type}`, changeFieldStatements(sql, tables, name, 'null', declared.type, null).map((s) => s.sql));
    } else if (info.type !== declared.type) {
      throw new EntityError(`${entity}.${name} is declared ${declared.type} but the database stores it as ${info.type}; convert the data yourself, or declare it ${info.type}`);
    }
    const column = columns.get(name);
    if (column === undefined) continue;
    const retype = sql.retype(tables.main, name, column.type, type);
    if (retype !== undefined) step('retype-column', name, `change ${entity}.${name} from ${column.type} to ${type}`, [retype]);
    if (!declared.nullable && column.nullable) notNull(name, type);
  }

  const declaredIndexes = new Set(definition.indexes.map((index) => index.name));
  for (const name of indexes) {
    if (declaredIndexes.has(name) || !(name.startsWith(INDEX_PREFIX.plain) || name.startsWith(INDEX_PREFIX.unique))) continue;
    if (options.allowDrop === true) step('drop-index', name, `drop index ${name} of ${entity} (no longer declared)`, [sql.dropIndex(tables.main, name)]);
    else skip(`drop index ${name} of ${entity}`, 'no longer declared; pass allowDrop: true to drop it');
  }
  for (const index of definition.indexes) {
    if (indexes.has(index.name)) continue;
    const kind = index.unique ? 'unique index' : 'index';
    step('add-index', index.name, `add ${kind} ${index.name} on ${entity} (${index.columns.join(', ')})`, [sql.createIndex(tables.main, index)]);
  }

  if (!definition.strict) return;
  for (const name of fields.keys()) {
    if (definition.fields.has(name)) continue;
    if (options.allowDrop === true) {
      // The history keeps the column: past versions stay as they were.
      step('drop-field', name, `drop ${entity}.${name} (not declared; its history column is kept)`, [
        sql.dropColumn(tables.main, name),
        `DELETE FROM ${q(tables.meta)} WHERE ${q('field_name')} = ${literal(name)}`,
      ]);
    } else {
      skip(`drop ${entity}.${name}`, 'not declared in a strict entity; pass allowDrop: true to drop it');
    }
  }
}

async function planOn(runner: Runner, options: MigrationOptions): Promise<MigrationPlan> {
  const plan: MigrationPlan = { steps: [], skipped: [] };
  for (const definition of selectedDefinitions(options)) {
    planEntity(runner.sql, definition, await runner.inspect(entityTables(definition.name)), options, plan);
  }
  return plan;
}

async function withConnection<T>(target: Database | Connection, fn: (conn: Connection) => Promise<T>): Promise<T> {
  if (typeof (target as Database).withConnection === 'function') return (target as Database).withConnection(fn);
  return fn(target as Connection);
}

/**
 * Compare the declared entities with the database and list the steps (with their SQL) that
 * `applyMigrations` would run. Changes nothing. Additive by default: drops need `allowDrop`,
 * renames need `renames`; what is left alone is listed in `skipped`.
 *
 * ```ts
 * const { steps } = await planMigrations(db);
 * for (const step of steps) console.log(step.description, step.sql);
 * ```
 * @throws {EntityError} for a declared type the stored data contradicts, or a rename that cannot apply.
 */
export async function planMigrations(db: Database | Connection, options: MigrationOptions = {}): Promise<MigrationPlan> {
  checkOptions(options);
  return withConnection(db, (conn) => planOn(new Runner(conn, entitySqlOf(conn), options), options));
}

async function ensureLog(runner: Runner): Promise<void> {
  const { sql } = runner;
  const q = sql.q;
  await runner.rows(
    `CREATE TABLE IF NOT EXISTS ${q(MIGRATIONS_TABLE)} (${q('id')} VARCHAR(64) NOT NULL, ${q('entity')} VARCHAR(64) NOT NULL, ${q('kind')} VARCHAR(32) NOT NULL, ` +
      `${q('description')} ${sql.textColumn} NOT NULL, ${q('statements')} ${sql.textColumn} NOT NULL, ${q('applied_at')} ${sql.timestampColumn} NOT NULL, ` +
      `${q('applied_by')} ${sql.textColumn}, PRIMARY KEY (${q('id')}))${sql.tableOptions}`,
  );
}

async function runStep(runner: Runner, step: MigrationStep): Promise<void> {
  const { sql } = runner;
  if (step.kind === 'set-not-null' && step.target !== undefined) {
    const [row] = await runner.rows(`SELECT COUNT(*) AS ${sql.q('n')} FROM ${sql.q(step.entity)} WHERE ${sql.q(step.target)} IS NULL`);
    const nulls = Number(row?.['n'] ?? 0);
    if (nulls > 0) throw new EntityError(`${step.entity}.${step.target}: ${nulls} row(s) hold null; fill them before it can become NOT NULL`);
  }
  for (const statement of step.sql) {
    try {
      await runner.rows(statement);
    } catch (error) {
      // A step half-done by a process that died (MySQL DDL commits statement by statement) is completed.
      if (sql.errorAbortsTransaction || sql.errorKind(error) !== 'duplicate-object') throw error;
    }
  }
  const q = sql.q;
  await runner.rows(
    `INSERT INTO ${q(MIGRATIONS_TABLE)} (${['id', 'entity', 'kind', 'description', 'statements', 'applied_at', 'applied_by'].map(q).join(', ')}) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    [randomUUID(), step.entity, step.kind, step.description, step.sql.join(';\n'), sql.timestamp(new Date()), `${hostname()}:${process.pid}`],
  );
}

async function setLockTimeout(runner: Runner, ms: number): Promise<void> {
  const timeout = runner.sql.lockTimeout;
  if (timeout === undefined) return;
  const set = timeout.set(ms);
  await runner.rows(set.sql, set.params);
}

/** Re-plan under the lock (another process may have applied it all), then run and record each step. */
async function migrateLocked(runner: Runner, options: MigrationOptions, ddlLockTimeoutMs: number): Promise<MigrationResult> {
  await ensureLog(runner);
  const plan = await planOn(runner, options);
  await setLockTimeout(runner, ddlLockTimeoutMs);
  const applied: MigrationStep[] = [];
  for (const step of plan.steps) {
    try {
      await runStep(runner, step);
    } catch (error) {
      if (runner.sql.errorKind(error) === 'lock-timeout') {
        throw new EntityError(`${step.entity}: migration step "${step.description}" could not get its table locks within ${ddlLockTimeoutMs} ms; another transaction is using the table, retry later`, { cause: error });
      }
      throw error;
    }
    applied.push(step);
  }
  return { applied, skipped: plan.skipped };
}

function lockWaitError(waitMs: number, cause?: unknown): EntityError {
  return new EntityError(`another process kept the migration lock for more than ${waitMs} ms; nothing was applied`, cause === undefined ? {} : { cause });
}

/**
 * Apply what `planMigrations` lists, once across processes: under a migration lock (PostgreSQL
 * advisory lock, MySQL named lock, SQLite's write lock) the plan is made again, each step runs
 * with bounded lock waits and is recorded in `_dal_migrations`. A second process waits for the
 * lock (up to `lockWaitMs`), then finds nothing left to do. On PostgreSQL and SQLite all steps
 * commit together or not at all; on MySQL each step commits on its own.
 *
 * ```ts
 * defineEntity('users', { fields: { email: { type: 'text', unique: true, nullable: false } } });
 * const { applied } = await applyMigrations(db);
 * ```
 * @throws {EntityError} when the lock or a table lock is not obtained in time, a NOT NULL step meets nulls, or as `planMigrations`.
 */
export async function applyMigrations(db: Database | Connection, options: MigrationOptions = {}): Promise<MigrationResult> {
  checkOptions(options);
  const lockWaitMs = options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS;
  const ddlLockTimeoutMs = options.ddlLockTimeoutMs ?? entitySettings().ddlLockTimeoutMs;
  const result = await withConnection(db, async (conn) => {
    if (conn.inTransaction()) throw new EntityError('applyMigrations runs its own transaction; call it outside one');
    const sql = entitySqlOf(conn);
    if (conn.capabilities.transactionalDdl) {
      return conn.transaction(async (tx) => {
        const runner = new Runner(tx, sql, options);
        const lock = sql.migrationLock?.(lockWaitMs);
        if (lock !== undefined) {
          await setLockTimeout(runner, lockWaitMs);
          try {
            await runner.rows(lock.acquire.sql, lock.acquire.params);
          } catch (error) {
            throw sql.errorKind(error) === 'lock-timeout' ? lockWaitError(lockWaitMs, error) : error;
          }
        }
        return migrateLocked(runner, options, ddlLockTimeoutMs);
      });
    }
    const runner = new Runner(conn, sql, options);
    const lock = sql.migrationLock?.(lockWaitMs);
    const timeout = sql.lockTimeout;
    const previous = timeout === undefined ? undefined : (await runner.rows(timeout.read))[0]?.['v'];
    let locked = false;
    try {
      if (lock !== undefined) {
        const [row] = await runner.rows(lock.acquire.sql, lock.acquire.params);
        // GET_LOCK answers 0 on timeout instead of failing.
        if (Number(row?.['ok']) !== 1) throw lockWaitError(lockWaitMs);
        locked = true;
      }
      return await migrateLocked(runner, options, ddlLockTimeoutMs);
    } finally {
      if (locked && lock?.release !== undefined) await runner.rows(lock.release.sql, lock.release.params).catch(() => undefined);
      if (timeout !== undefined && previous !== undefined) {
        const restore = timeout.restore(previous);
        await runner.rows(restore.sql, restore.params).catch(() => undefined);
      }
    }
  });
  // This process's cached schemas of the migrated entities are stale now.
  for (const entity of new Set(result.applied.map((s) => s.entity))) invalidateSchema(db.config.hash(), entity);
  return result;
}
