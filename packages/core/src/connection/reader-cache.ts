import { compile, type TranslateTarget } from '@dal/sql-translate';
import type { SyncDriverReader } from '../driver/driver.js';

/** Most readers one connection keeps; past it the oldest goes (cheaper than LRU bookkeeping on every hit). */
const MAX_READERS = 200;

/** A prepared read-only query and what `executeFirst` checks before running it. */
export interface CachedReader {
  readonly reader: SyncDriverReader;
  /** The native SQL it was prepared from (for error messages and slow-query logs). */
  readonly nativeSql: string;
  readonly parameterCount: number;
}

/**
 * The readers (`prepareReader`) of one connection, keyed by portable SQL, so that a repeated
 * `executeFirst` costs one lookup instead of a translation lookup, a statement-cache lookup and
 * a result object. Shared by `SyncConnection` and the in-place statements of run-now.ts.
 */
export class ReaderCache {
  /** null: the statement has no reader (it writes, or uses native named placeholders). */
  readonly #readers = new Map<string, CachedReader | null>();
  readonly #prepare: (nativeSql: string) => SyncDriverReader | undefined;
  readonly #target: TranslateTarget;
  /** The statement looked up last, and what it found (an entry of the map, or null). */
  #lastSql: string | undefined;
  #last: CachedReader | null = null;

  private constructor(prepare: (nativeSql: string) => SyncDriverReader | undefined, target: TranslateTarget) {
    this.#prepare = prepare;
    this.#target = target;
  }

  /** A cache for `conn`'s readers, or undefined when its driver has no `prepareReader`. */
  static of(conn: { prepareReader?(sql: string): SyncDriverReader | undefined }, target: TranslateTarget): ReaderCache | undefined {
    return conn.prepareReader === undefined ? undefined : new ReaderCache((nativeSql) => conn.prepareReader!(nativeSql), target);
  }

  /**
   * The reader of portable `sql`, or null when it has none.
   * @throws {TranslationError} when `sql` does not translate.
   */
  get(sql: string): CachedReader | null {
    // A loop runs one statement many times: the same text as last time skips the map lookup.
    if (sql === this.#lastSql) return this.#last;
    const known = this.#readers.get(sql);
    if (known !== undefined) return this.#hit(sql, known);
    const compiled = compile(sql, this.#target);
    // Native named placeholders (parameterCount -1) keep the general path, which checks them.
    if (compiled.parameterCount < 0) return this.#remember(sql, null);
    let reader: SyncDriverReader | undefined;
    try {
      reader = this.#prepare(compiled.sql);
    } catch {
      // Not prepared (a missing table, say): the general path reports why, and the next call tries again.
      return null;
    }
    return this.#remember(sql, reader === undefined ? null : { reader, nativeSql: compiled.sql, parameterCount: compiled.parameterCount });
  }

  clear(): void {
    this.#readers.clear();
    this.#lastSql = undefined;
    this.#last = null;
  }

  #hit(sql: string, entry: CachedReader | null): CachedReader | null {
    this.#lastSql = sql;
    this.#last = entry;
    return entry;
  }

  #remember(sql: string, entry: CachedReader | null): CachedReader | null {
    if (this.#readers.size >= MAX_READERS) this.#readers.delete(this.#readers.keys().next().value as string);
    this.#readers.set(sql, entry);
    return this.#hit(sql, entry);
  }
}
