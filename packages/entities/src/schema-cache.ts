import { ConfigError } from '@dal/core';
import { databaseKey, type DatabaseRef } from './definitions.js';
import type { FieldType } from './serializers.js';

/** What is known about one field of an entity. */
export interface FieldInfo {
  readonly type: FieldType;
  /** For a `mixed` field: the type its values had before it became mixed (rows saved then carry no tag). */
  readonly legacy: FieldType | null;
}

/** The known fields of one entity (system fields excluded), by name. */
export type EntitySchema = ReadonlyMap<string, FieldInfo>;

interface CacheEntry {
  readonly schema: EntitySchema;
  readonly loadedAt: number;
}

/** Counters of the entity schema cache, read by @dal/metrics. */
export interface EntityCacheStats {
  /** Look-ups answered from the cache. */
  hits: number;
  /** Look-ups that had to read the metadata table. */
  misses: number;
  /** Entries dropped: stale (server reported a missing column/table), expired, or over capacity. */
  evictions: number;
  /** Entries held now. */
  size: number;
}

/** Tunables of the entity framework, process-wide. */
export interface EntitySettings {
  /** How long a cached schema is trusted before it is re-read (default 60 000 ms). */
  schemaCacheTtlMs: number;
  /** Most entity schemas cached over all databases (default 10 000). */
  maxCachedSchemas: number;
  /** How long schema DDL may wait for table locks before giving up (default 5 000 ms). */
  ddlLockTimeoutMs: number;
  /**
   * Saves create tables and columns as needed (default true). When false, a save that needs DDL
   * fails with an `EntityError` naming the field and the DDL; schema changes go through migrations.
   */
  runtimeDdl: boolean;
}

const settings: EntitySettings = { schemaCacheTtlMs: 60_000, maxCachedSchemas: 10_000, ddlLockTimeoutMs: 5_000, runtimeDdl: true };
/** `runtimeDdl` set for one database (by config hash), overriding the process-wide one. */
const runtimeDdlByDatabase = new Map<string, boolean>();
const entries = new Map<string, CacheEntry>();
const stats = { hits: 0, misses: 0, evictions: 0 };

function keyOf(database: string, entity: string): string {
  return `${database}\u0000${entity}`;
}

/** The current settings (a copy). */
export function entitySettings(): EntitySettings {
  return { ...settings };
}

/**
 * Change the entity framework's tunables for the whole process or, with `database`, turn
 * runtime DDL on or off for one database (a Database, Connection or DatabaseConfig; keyed by
 * its config hash). An entity's own `runtimeDdl` (see `defineEntity`) wins over both.
 *
 * ```ts
 * configureEntities({ ddlLockTimeoutMs: 2_000, schemaCacheTtlMs: 300_000 });
 * configureEntities({ runtimeDdl: false }, db); // saves on db never run DDL
 * ```
 * @throws {RangeError} for a value that is not a positive number.
 * @throws {ConfigError} for a `runtimeDdl` that is not a boolean, or another setting given with a database.
 */
export function configureEntities(changes: Partial<EntitySettings>, database?: DatabaseRef): EntitySettings {
  for (const [key, value] of Object.entries(changes) as [keyof EntitySettings, unknown][]) {
    if (!(key in settings)) throw new RangeError(`unknown entity setting ${String(key)}`);
    if (key === 'runtimeDdl') {
      if (typeof value !== 'boolean') throw new ConfigError('runtimeDdl must be a boolean');
      if (database === undefined) settings.runtimeDdl = value;
      else runtimeDdlByDatabase.set(databaseKey(database), value);
      continue;
    }
    if (database !== undefined) throw new ConfigError(`${key} is process-wide; only runtimeDdl can be set per database`);
    if (typeof value !== 'number' || !(value > 0)) throw new RangeError(`${key} must be a positive number`);
    settings[key] = value;
  }
  while (entries.size > settings.maxCachedSchemas) evictOldest();
  return { ...settings };
}

function evictOldest(): void {
  const oldest = entries.keys().next();
  if (oldest.done === true) return;
  entries.delete(oldest.value);
  stats.evictions++;
}

/** Whether saves on the database `database` (a config hash) may run DDL, before an entity's own setting. */
export function runtimeDdlFor(database: string): boolean {
  return runtimeDdlByDatabase.get(database) ?? settings.runtimeDdl;
}

/** Cached schema of `entity` in the database `database` (a config hash), or undefined (a miss). */
export function cachedSchema(database: string, entity: string): EntitySchema | undefined {
  const key = keyOf(database, entity);
  const entry = entries.get(key);
  if (entry === undefined) {
    stats.misses++;
    return undefined;
  }
  if (performance.now() - entry.loadedAt > settings.schemaCacheTtlMs) {
    entries.delete(key);
    stats.evictions++;
    stats.misses++;
    return undefined;
  }
  stats.hits++;
  return entry.schema;
}

/** Remember the schema of `entity`. */
export function storeSchema(database: string, entity: string, schema: EntitySchema): void {
  const key = keyOf(database, entity);
  entries.delete(key);
  entries.set(key, { schema, loadedAt: performance.now() });
  while (entries.size > settings.maxCachedSchemas) evictOldest();
}

/** Forget the schema of `entity` (the server disagreed with it). */
export function invalidateSchema(database: string, entity: string): void {
  if (entries.delete(keyOf(database, entity))) stats.evictions++;
}

/**
 * Hit, miss and eviction counts of the entity schema cache (process-wide), for metrics.
 *
 * ```ts
 * const { hits, misses, evictions, size } = entityCacheStats();
 * ```
 */
export function entityCacheStats(): EntityCacheStats {
  return { ...stats, size: entries.size };
}

/** Empty the schema cache (counters are kept); the next call per entity re-reads its metadata. */
export function clearEntityCache(): void {
  stats.evictions += entries.size;
  entries.clear();
}
