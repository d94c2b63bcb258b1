/** Any entity: a plain object of field values. */
export type EntityData = Record<string, unknown>;

/** The framework-managed fields of a stored entity. */
export interface EntitySystemFields {
  id: string;
  created_at: Date | string | null;
  updated_at: Date | string | null;
  created_by: string | null;
  updated_by: string | null;
  deleted_at: Date | string | null;
}

/** The extra fields of a history record. */
export interface EntityHistoryFields {
  version: number;
  history_timestamp: Date | string;
  history_user_id: string | null;
  history_comment: string | null;
}

/** An entity as read back: its fields plus the system fields. */
export type StoredEntity<T extends object = EntityData> = T & EntitySystemFields;

/** One version of an entity, as read from its history. */
export type EntityVersion<T extends object = EntityData> = StoredEntity<T> & EntityHistoryFields;

/** The system fields of a saved entity, as stored by the save (dates as Date). */
export interface SavedSystemFields {
  id: string;
  /** When the entity was first saved (kept by updates). */
  created_at: Date;
  updated_at: Date;
  /** The `userId` of the first save (kept by updates). */
  created_by: string | null;
  updated_by: string | null;
  /** Set when the entity is soft-deleted (a save does not undelete it). */
  deleted_at: Date | null;
}

/**
 * What a save returns: what was stored, i.e. the saved fields, the (possibly generated) id and
 * the system fields. System and history fields of the input (a version saved back) were ignored.
 */
export type SavedEntity<T extends object = EntityData> = Omit<T, keyof SavedSystemFields | keyof EntityHistoryFields> & SavedSystemFields;

/** Options shared by every call that runs statements. */
export interface EntityCallOptions {
  /**
   * Bounds the whole operation, its statements, schema changes, pool waits and retries together
   * (the original's `timeout`); default 60 000. Past it the operation fails with
   * `QueryTimeoutError`, its running statement cancelled and its changes rolled back. Without it,
   * each statement is also bounded by the config's `queryExecutionTimeoutMs`.
   */
  timeoutMs?: number;
  /** Cancels the running statement (async connections). */
  signal?: AbortSignal;
}

/** Options of `saveEntity` / `saveEntities`. */
export interface SaveOptions extends EntityCallOptions {
  /** Recorded as `created_by` / `updated_by` and `history_user_id`. */
  userId?: string | null;
  /** Recorded as `history_comment`. */
  comment?: string | null;
}

/** Options of reads that return entities. */
export interface ReadOptions extends EntityCallOptions {
  /** Also return soft-deleted entities (default false). */
  includeDeleted?: boolean;
  /** Turn stored values back into their JavaScript types (default false, as in the original). */
  deserialize?: boolean;
}

/** Options of `findEntities`. */
export interface FindOptions extends ReadOptions {
  /** Portable SQL condition, e.g. `'[status] = ? AND [age] > ?'`; values go in `params`. */
  where?: string;
  params?: readonly unknown[];
  /** Column names with optional ASC/DESC, e.g. `'[name] ASC, [age] DESC'`. */
  orderBy?: string;
  limit?: number;
  offset?: number;
}

/** Options of `countEntities`. */
export type CountOptions = Pick<FindOptions, 'where' | 'params' | 'includeDeleted' | 'timeoutMs' | 'signal'>;

/** Options of `deleteEntity`. */
export interface DeleteOptions extends EntityCallOptions {
  userId?: string | null;
  comment?: string | null;
  /**
   * Remove the row instead of marking it deleted (default false). Its history stays, ending in a
   * version that records the purge (`deleted_at` set, comment `purged` unless `comment` is given).
   */
  permanent?: boolean;
  /**
   * With `permanent`, remove the history too (erasure requests); also erases the history of an
   * entity purged earlier. Without `permanent` it is an `EntityError`.
   */
  purgeHistory?: boolean;
}

/** Options of `restoreEntity`. */
export interface RestoreOptions extends EntityCallOptions {
  userId?: string | null;
  comment?: string | null;
}

/** Options of `getEntityHistory` / `getEntityByVersion`. */
export interface HistoryOptions extends EntityCallOptions {
  deserialize?: boolean;
}
