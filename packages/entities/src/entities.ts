import type { Connection, Dialect, SyncConnection } from '@dal/core';
import { definitionOf } from './definitions.js';
import { entityDialect, type EntityDialect } from './entity-dialect.js';
import { Budget, runAsync, runSync, type Op } from './executor.js';
import { entityTables } from './names.js';
import {
  countEntitiesOp,
  deleteEntityOp,
  findEntitiesOp,
  getEntityByVersionOp,
  getEntityHistoryOp,
  getEntityOp,
  restoreEntityOp,
  saveEntitiesOp,
  saveEntityOp,
} from './operations.js';
import type { EntityContext } from './schema.js';
import { runtimeDdlFor } from './schema-cache.js';
import type {
  CountOptions,
  DeleteOptions,
  EntityCallOptions,
  EntityData,
  EntityVersion,
  FindOptions,
  HistoryOptions,
  ReadOptions,
  RestoreOptions,
  SaveOptions,
  SavedEntity,
  StoredEntity,
} from './types.js';

/** A connection entity functions accept: async (`Connection`) or synchronous (`SyncConnection`). */
export type EntityConnection = Connection | SyncConnection;

const dialects = new WeakMap<Dialect, EntityDialect>();

/** The entity SQL of a connection's backend (built once per dialect). */
export function entitySqlOf(conn: EntityConnection): EntityDialect {
  let sql = dialects.get(conn.dialect);
  if (sql === undefined) {
    sql = entityDialect(conn.dialect);
    dialects.set(conn.dialect, sql);
  }
  return sql;
}

/** Where an operation on `entity` runs: its tables, the backend's SQL, its declaration and settings. */
export function contextOf(conn: EntityConnection, entity: unknown): EntityContext {
  const tables = entityTables(entity);
  const database = conn.config.hash();
  const definition = definitionOf(tables.main);
  return {
    entity: tables.main,
    tables,
    sql: entitySqlOf(conn),
    database,
    transactionalDdl: conn.capabilities.transactionalDdl,
    inTransaction: conn.inTransaction(),
    definition,
    runtimeDdl: definition?.runtimeDdl ?? runtimeDdlFor(database),
  };
}

function isAsync(conn: EntityConnection): conn is Connection {
  // Duck-typed rather than instanceof, so a second copy of @dal/core still works.
  return typeof (conn as Connection).separateConnection === 'function';
}

function run<T>(conn: EntityConnection, entity: unknown, options: EntityCallOptions | undefined, build: (ctx: EntityContext) => Op<T>): T | Promise<T> {
  if (isAsync(conn)) {
    try {
      return runAsync(conn, build(contextOf(conn, entity)), new Budget(conn, options ?? {}));
    } catch (error) {
      return Promise.reject(error);
    }
  }
  return runSync(conn, build(contextOf(conn, entity)), new Budget(conn, options ?? {}));
}

/**
 * Save one entity: insert it, or merge the given fields into the stored one (fields left out
 * keep their values), and record a new history version. Tables and columns appear as needed.
 * Returns what was stored: the saved fields, the id and the system fields.
 *
 * ```ts
 * const user = await saveEntity(conn, 'users', { name: 'John', prefs: { theme: 'dark' } }, { userId: 'admin', comment: 'signup' });
 * user.id; // generated UUID
 * user.created_at; // Date; user.created_by === 'admin'
 * ```
 * @throws {EntityError} for a bad entity or field name, a bad id, or a value that cannot be stored.
 * @throws {QueryTimeoutError} when the operation runs past `timeoutMs` (default 60 s); nothing is saved.
 */
export function saveEntity<T extends object>(conn: Connection, entity: string, data: T, options?: SaveOptions): Promise<SavedEntity<T>>;
export function saveEntity<T extends object>(conn: SyncConnection, entity: string, data: T, options?: SaveOptions): SavedEntity<T>;
export function saveEntity(conn: EntityConnection, entity: string, data: object, options: SaveOptions = {}): unknown {
  return run(conn, entity, options, (ctx) => saveEntityOp(ctx, data, options));
}

/**
 * Save many entities in one transaction with multi-row upserts and batched history; resolves
 * to what was stored (as `saveEntity`), in input order.
 *
 * ```ts
 * const [phil, karen] = await saveEntities(conn, 'users', [{ name: 'Phil' }, { name: 'Karen', surname: 'Brown' }]);
 * ```
 * @throws {EntityError} as `saveEntity`, for any of the entities (then none is saved).
 */
export function saveEntities<T extends object>(conn: Connection, entity: string, data: readonly T[], options?: SaveOptions): Promise<SavedEntity<T>[]>;
export function saveEntities<T extends object>(conn: SyncConnection, entity: string, data: readonly T[], options?: SaveOptions): SavedEntity<T>[];
export function saveEntities(conn: EntityConnection, entity: string, data: readonly object[], options: SaveOptions = {}): unknown {
  return run(conn, entity, options, (ctx) => saveEntitiesOp(ctx, data, options));
}

/**
 * One entity by id, or null (also null when soft-deleted, unless `includeDeleted`).
 *
 * ```ts
 * const user = await getEntity<User>(conn, 'users', id, { deserialize: true });
 * ```
 * @throws {EntityError} for an unknown entity, a bad name or a bad id.
 */
export function getEntity<T extends object = EntityData>(conn: Connection, entity: string, id: string, options?: ReadOptions): Promise<StoredEntity<T> | null>;
export function getEntity<T extends object = EntityData>(conn: SyncConnection, entity: string, id: string, options?: ReadOptions): StoredEntity<T> | null;
export function getEntity(conn: EntityConnection, entity: string, id: string, options: ReadOptions = {}): unknown {
  return run(conn, entity, options, (ctx) => getEntityOp(ctx, id, options));
}

/**
 * Entities matching a portable SQL condition (`[field]` names, `?` values), with ordering and paging.
 *
 * ```ts
 * await findEntities(conn, 'users', { where: '[age] > ?', params: [30], orderBy: '[name] ASC', limit: 50, deserialize: true });
 * ```
 * @throws {EntityError} for an unknown entity, a bad orderBy, limit or offset.
 * @throws {QueryError} when the server rejects the `where` condition.
 */
export function findEntities<T extends object = EntityData>(conn: Connection, entity: string, options?: FindOptions): Promise<StoredEntity<T>[]>;
export function findEntities<T extends object = EntityData>(conn: SyncConnection, entity: string, options?: FindOptions): StoredEntity<T>[];
export function findEntities(conn: EntityConnection, entity: string, options: FindOptions = {}): unknown {
  return run(conn, entity, options, (ctx) => findEntitiesOp(ctx, options));
}

/**
 * How many entities match a portable SQL condition.
 *
 * ```ts
 * const engineers = await countEntities(conn, 'users', { where: '[department] = ?', params: ['Engineering'] });
 * ```
 * @throws {EntityError} for an unknown entity.
 * @throws {QueryError} when the server rejects the `where` condition.
 */
export function countEntities(conn: Connection, entity: string, options?: CountOptions): Promise<number>;
export function countEntities(conn: SyncConnection, entity: string, options?: CountOptions): number;
export function countEntities(conn: EntityConnection, entity: string, options: CountOptions = {}): unknown {
  return run(conn, entity, options, (ctx) => countEntitiesOp(ctx, options));
}

/**
 * Soft-delete an entity (recorded as a new version), or remove it with `permanent: true` (its
 * history stays, ending in a version recording the purge; `purgeHistory: true` removes that too).
 * Resolves to true when something changed, false for an unknown id or one already soft-deleted.
 *
 * ```ts
 * await deleteEntity(conn, 'users', id, { userId: 'admin' });
 * await deleteEntity(conn, 'users', id, { permanent: true, purgeHistory: true, comment: 'erasure request' });
 * ```
 * @throws {EntityError} for an unknown entity, a bad id, or `purgeHistory` without `permanent`.
 */
export function deleteEntity(conn: Connection, entity: string, id: string, options?: DeleteOptions): Promise<boolean>;
export function deleteEntity(conn: SyncConnection, entity: string, id: string, options?: DeleteOptions): boolean;
export function deleteEntity(conn: EntityConnection, entity: string, id: string, options: DeleteOptions = {}): unknown {
  return run(conn, entity, options, (ctx) => deleteEntityOp(ctx, id, options));
}

/**
 * Undo a soft delete (recorded as a new version). Resolves to true when restored, false for an
 * unknown id or one that was not deleted.
 *
 * ```ts
 * await restoreEntity(conn, 'users', id, { userId: 'admin' });
 * ```
 * @throws {EntityError} for an unknown entity or a bad id.
 */
export function restoreEntity(conn: Connection, entity: string, id: string, options?: RestoreOptions): Promise<boolean>;
export function restoreEntity(conn: SyncConnection, entity: string, id: string, options?: RestoreOptions): boolean;
export function restoreEntity(conn: EntityConnection, entity: string, id: string, options: RestoreOptions = {}): unknown {
  return run(conn, entity, options, (ctx) => restoreEntityOp(ctx, id, options));
}

/**
 * Every version of an entity, oldest first, each with `version`, `history_timestamp`,
 * `history_user_id` and `history_comment`; empty for an id never saved.
 *
 * ```ts
 * const versions = await getEntityHistory(conn, 'users', id);
 * ```
 * @throws {EntityError} for an unknown entity or a bad id.
 */
export function getEntityHistory<T extends object = EntityData>(conn: Connection, entity: string, id: string, options?: HistoryOptions): Promise<EntityVersion<T>[]>;
export function getEntityHistory<T extends object = EntityData>(conn: SyncConnection, entity: string, id: string, options?: HistoryOptions): EntityVersion<T>[];
export function getEntityHistory(conn: EntityConnection, entity: string, id: string, options: HistoryOptions = {}): unknown {
  return run(conn, entity, options, (ctx) => getEntityHistoryOp(ctx, id, options));
}

/**
 * One version of an entity, or null when the id has no such version. Saving it back restores it
 * as a new version.
 *
 * ```ts
 * const v1 = await getEntityByVersion(conn, 'users', id, 1);
 * if (v1 !== null) await saveEntity(conn, 'users', v1);
 * ```
 * @throws {EntityError} for an unknown entity, a bad id, or a version that is not a positive integer.
 */
export function getEntityByVersion<T extends object = EntityData>(
  conn: Connection,
  entity: string,
  id: string,
  version: number,
  options?: HistoryOptions,
): Promise<EntityVersion<T> | null>;
export function getEntityByVersion<T extends object = EntityData>(
  conn: SyncConnection,
  entity: string,
  id: string,
  version: number,
  options?: HistoryOptions,
): EntityVersion<T> | null;
export function getEntityByVersion(conn: EntityConnection, entity: string, id: string, version: number, options: HistoryOptions = {}): unknown {
  return run(conn, entity, options, (ctx) => getEntityByVersionOp(ctx, id, version, options));
}
