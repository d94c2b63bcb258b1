import { resolveRules } from './dialect-rules.js';
import { lex, type PlaceholderSite } from './lexer.js';
import type { CompiledSql, CustomDialect, TranslateTarget } from './types.js';

/** A cached translation; its placeholder sites stay private and only feed error messages. */
export class CompiledStatement implements CompiledSql {
  readonly #sites: readonly PlaceholderSite[];

  constructor(
    readonly sql: string,
    readonly parameterCount: number,
    sites: readonly PlaceholderSite[],
  ) {
    this.#sites = sites;
    Object.freeze(this);
  }

  /** The placeholders of a statement compiled here, or none for a foreign `CompiledSql`. */
  static sitesOf(compiled: CompiledSql): readonly PlaceholderSite[] {
    return #sites in compiled ? compiled.#sites : [];
  }
}

/** Counters and sizes reported by `translationCacheStats()`. */
export interface TranslationCacheStats {
  hits: number;
  misses: number;
  evictions: number;
  /** Entries currently cached, over every target. */
  size: number;
  /** Entries kept per target before the least recently used is evicted. */
  maxSize: number;
}

/** Settings for `configureTranslationCache`. */
export interface TranslationCacheOptions {
  /** Entries kept per target (default 1000); 0 disables caching. */
  readonly maxSize: number;
  /** Longer statements are translated every time instead of cached (default 16384 characters). */
  readonly maxSqlLength?: number;
}

interface Node {
  readonly key: string;
  readonly value: CompiledStatement;
  newer: Node | null;
  older: Node | null;
}

/**
 * An exact LRU: a Map for lookup plus a doubly linked list for recency. Re-inserting into a
 * Map on every hit (the usual trick) costs microseconds on a 1000-entry Map, this costs nanoseconds.
 */
class Cache {
  readonly #map = new Map<string, Node>();
  #newest: Node | null = null;
  #oldest: Node | null = null;

  get size(): number {
    return this.#map.size;
  }

  get(key: string): CompiledStatement | undefined {
    const node = this.#map.get(key);
    if (node === undefined) return undefined;
    if (node !== this.#newest) {
      this.#unlink(node);
      this.#pushNewest(node);
    }
    return node.value;
  }

  set(key: string, value: CompiledStatement): void {
    const existing = this.#map.get(key);
    if (existing !== undefined) this.#remove(existing);
    const node: Node = { key, value, newer: null, older: null };
    this.#map.set(key, node);
    this.#pushNewest(node);
  }

  /** Evicts least recently used entries until at most `limit` remain; returns how many went. */
  trim(limit: number): number {
    let evicted = 0;
    while (this.#map.size > limit && this.#oldest !== null) {
      this.#remove(this.#oldest);
      evicted++;
    }
    return evicted;
  }

  clear(): void {
    this.#map.clear();
    this.#newest = null;
    this.#oldest = null;
  }

  #remove(node: Node): void {
    this.#map.delete(node.key);
    this.#unlink(node);
  }

  #unlink(node: Node): void {
    if (node.newer === null) this.#newest = node.older;
    else node.newer.older = node.older;
    if (node.older === null) this.#oldest = node.newer;
    else node.older.newer = node.newer;
    node.newer = null;
    node.older = null;
  }

  #pushNewest(node: Node): void {
    node.older = this.#newest;
    if (this.#newest === null) this.#oldest = node;
    else this.#newest.newer = node;
    this.#newest = node;
  }
}

const postgresCache = new Cache();
const mysqlCache = new Cache();
const sqliteCache = new Cache();
let customCaches = new WeakMap<CustomDialect, Cache>();
// Custom dialects' caches cannot be enumerated through the WeakMap, so they are tracked here
// weakly and their entries drop out of `size` once the dialect object is collected.
let customCacheRefs = new Set<WeakRef<Cache>>();

let maxSize = 1000;
let maxSqlLength = 16_384;
let hits = 0;
let misses = 0;
let evictions = 0;

function cacheFor(target: TranslateTarget): Cache | undefined {
  if (target === 'postgres') return postgresCache;
  if (target === 'mysql') return mysqlCache;
  if (target === 'sqlite') return sqliteCache;
  if (typeof target !== 'object' || target === null) return undefined;
  let cache = customCaches.get(target);
  if (cache === undefined) {
    cache = new Cache();
    customCaches.set(target, cache);
    customCacheRefs.add(new WeakRef(cache));
  }
  return cache;
}

function trim(cache: Cache, limit: number): void {
  evictions += cache.trim(limit);
}

/**
 * Translates portable SQL to `target`'s native SQL, caching the result per (target, sql).
 * Does not check parameters; this is core's hot path, so a cache hit costs one Map lookup.
 *
 * ```ts
 * compile('SELECT * FROM [t] WHERE [a] = ?', 'postgres'); // { sql: 'SELECT * FROM "t" WHERE "a" = $1', parameterCount: 1 }
 * ```
 * @throws {TranslationError} on an unterminated string, comment, bracket or dollar quote, on `?`
 * mixed with native placeholders, or on an unknown target.
 */
export function compile(sql: string, target: TranslateTarget): CompiledSql {
  const cache = cacheFor(target);
  if (cache !== undefined) {
    const hit = cache.get(sql);
    if (hit !== undefined) {
      hits++;
      return hit;
    }
  }
  misses++;
  const result = lex(sql, resolveRules(target));
  const compiled = new CompiledStatement(result.sql, result.parameterCount, result.sites);
  if (cache !== undefined && maxSize > 0 && sql.length <= maxSqlLength) {
    cache.set(sql, compiled);
    trim(cache, maxSize);
  }
  return compiled;
}

/**
 * Returns the translation cache's counters (since the last `clearTranslationCache()`) and size.
 *
 * ```ts
 * const { hits, misses } = translationCacheStats();
 * ```
 */
export function translationCacheStats(): TranslationCacheStats {
  let size = postgresCache.size + mysqlCache.size + sqliteCache.size;
  for (const ref of customCacheRefs) {
    const cache = ref.deref();
    if (cache === undefined) customCacheRefs.delete(ref);
    else size += cache.size;
  }
  return { hits, misses, evictions, size, maxSize };
}

/**
 * Sets how many translations are kept per target; shrinking evicts the least recently used now.
 *
 * ```ts
 * configureTranslationCache({ maxSize: 5000 });
 * ```
 * @throws {RangeError} when `maxSize` or `maxSqlLength` is not a non-negative integer.
 */
export function configureTranslationCache(options: TranslationCacheOptions): void {
  const nextMaxSqlLength = options.maxSqlLength ?? maxSqlLength;
  if (!Number.isSafeInteger(options.maxSize) || options.maxSize < 0) {
    throw new RangeError('configureTranslationCache: maxSize must be a non-negative integer');
  }
  if (!Number.isSafeInteger(nextMaxSqlLength) || nextMaxSqlLength < 0) {
    throw new RangeError('configureTranslationCache: maxSqlLength must be a non-negative integer');
  }
  maxSize = options.maxSize;
  maxSqlLength = nextMaxSqlLength;
  trim(postgresCache, maxSize);
  trim(mysqlCache, maxSize);
  trim(sqliteCache, maxSize);
  for (const ref of customCacheRefs) {
    const cache = ref.deref();
    if (cache === undefined) customCacheRefs.delete(ref);
    else trim(cache, maxSize);
  }
}

/**
 * Empties the translation cache and resets its hit, miss and eviction counters.
 *
 * ```ts
 * clearTranslationCache();
 * ```
 */
export function clearTranslationCache(): void {
  postgresCache.clear();
  mysqlCache.clear();
  sqliteCache.clear();
  customCaches = new WeakMap();
  customCacheRefs = new Set();
  hits = 0;
  misses = 0;
  evictions = 0;
}
