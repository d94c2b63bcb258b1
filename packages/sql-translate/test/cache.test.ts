import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  clearTranslationCache,
  compile,
  configureTranslationCache,
  translate,
  translationCacheStats,
  type CustomDialect,
} from '../src/index.js';

const sqlN = (n: number): string => `SELECT [c${n}] FROM [t] WHERE [id] = ?`;

beforeEach(() => clearTranslationCache());
afterEach(() => {
  configureTranslationCache({ maxSize: 1000, maxSqlLength: 16_384 });
  clearTranslationCache();
});

describe('translation cache', () => {
  it('counts misses and hits and returns the cached object on a hit', () => {
    const first = compile(sqlN(1), 'postgres');
    expect(translationCacheStats()).toEqual({ hits: 0, misses: 1, evictions: 0, size: 1, maxSize: 1000 });
    const second = compile(sqlN(1), 'postgres');
    expect(second).toBe(first);
    translate(sqlN(1), 'postgres', [1]);
    compile(sqlN(2), 'postgres');
    expect(translationCacheStats()).toMatchObject({ hits: 2, misses: 2, size: 2 });
  });

  it('keeps one entry per target for the same SQL', () => {
    const pg = compile(sqlN(1), 'postgres');
    const my = compile(sqlN(1), 'mysql');
    const lite = compile(sqlN(1), 'sqlite');
    expect(new Set([pg.sql, my.sql, lite.sql]).size).toBe(3);
    expect(translationCacheStats()).toMatchObject({ misses: 3, hits: 0, size: 3 });
    expect(compile(sqlN(1), 'mysql')).toBe(my);
  });

  it('keys custom dialects by object identity', () => {
    const a: CustomDialect = { name: 'x', identifierQuote: '"', placeholder: (i) => ':' + i };
    const b: CustomDialect = { ...a };
    compile(sqlN(1), a);
    compile(sqlN(1), b);
    compile(sqlN(1), a);
    expect(translationCacheStats()).toMatchObject({ misses: 2, hits: 1, size: 2 });
  });

  it('evicts the least recently used entry at maxSize', () => {
    configureTranslationCache({ maxSize: 3 });
    compile(sqlN(1), 'postgres');
    compile(sqlN(2), 'postgres');
    compile(sqlN(3), 'postgres');
    compile(sqlN(1), 'postgres'); // 1 is now the most recent, 2 the least
    compile(sqlN(4), 'postgres'); // evicts 2
    expect(translationCacheStats()).toMatchObject({ hits: 1, misses: 4, evictions: 1, size: 3, maxSize: 3 });
    compile(sqlN(1), 'postgres');
    compile(sqlN(3), 'postgres');
    compile(sqlN(4), 'postgres');
    expect(translationCacheStats()).toMatchObject({ hits: 4, misses: 4 });
    compile(sqlN(2), 'postgres'); // was evicted
    expect(translationCacheStats()).toMatchObject({ hits: 4, misses: 5, evictions: 2, size: 3 });
  });

  it('bounds each target separately', () => {
    configureTranslationCache({ maxSize: 2 });
    for (let i = 0; i < 5; i++) {
      compile(sqlN(i), 'postgres');
      compile(sqlN(i), 'sqlite');
    }
    expect(translationCacheStats()).toMatchObject({ size: 4, evictions: 6 });
  });

  it('evicts at once when maxSize shrinks, and caches nothing at 0', () => {
    for (let i = 0; i < 10; i++) compile(sqlN(i), 'mysql');
    configureTranslationCache({ maxSize: 4 });
    expect(translationCacheStats()).toMatchObject({ size: 4, evictions: 6 });
    compile(sqlN(9), 'mysql');
    expect(translationCacheStats().hits).toBe(1);
    configureTranslationCache({ maxSize: 0 });
    compile(sqlN(9), 'mysql');
    compile(sqlN(9), 'mysql');
    expect(translationCacheStats()).toMatchObject({ size: 0, hits: 1, misses: 12 });
  });

  it('does not cache statements longer than maxSqlLength', () => {
    configureTranslationCache({ maxSize: 10, maxSqlLength: 50 });
    const long = `SELECT [a] FROM [t] WHERE [b] = ? -- ${'x'.repeat(50)}`;
    compile(long, 'postgres');
    expect(compile(long, 'postgres').sql).toContain('"a"');
    expect(translationCacheStats()).toMatchObject({ size: 0, misses: 2, hits: 0 });
  });

  it('does not cache failures', () => {
    expect(() => compile("SELECT 'x", 'postgres')).toThrow();
    expect(() => compile("SELECT 'x", 'postgres')).toThrow();
    expect(translationCacheStats()).toMatchObject({ size: 0, hits: 0 });
  });

  it('clearTranslationCache empties the cache and resets the counters', () => {
    compile(sqlN(1), 'postgres');
    compile(sqlN(1), 'postgres');
    clearTranslationCache();
    expect(translationCacheStats()).toEqual({ hits: 0, misses: 0, evictions: 0, size: 0, maxSize: 1000 });
  });

  it('rejects invalid settings', () => {
    expect(() => configureTranslationCache({ maxSize: -1 })).toThrow(RangeError);
    expect(() => configureTranslationCache({ maxSize: 1.5 })).toThrow(RangeError);
    expect(() => configureTranslationCache({ maxSize: 10, maxSqlLength: Number.NaN })).toThrow(RangeError);
    expect(translationCacheStats().maxSize).toBe(1000);
  });

  it('stays correct under many random operations (bounded loop)', () => {
    configureTranslationCache({ maxSize: 16 });
    const recent: number[] = [];
    let seed = 7;
    for (let step = 0; step < 2000; step++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      const n = (seed >>> 16) % 40;
      const before = translationCacheStats().hits;
      expect(compile(sqlN(n), 'sqlite').sql).toBe(`SELECT "c${n}" FROM "t" WHERE "id" = ?`);
      // Reference LRU: a hit exactly when n is among the 16 most recently used keys.
      const wasCached = recent.includes(n);
      expect(translationCacheStats().hits - before).toBe(wasCached ? 1 : 0);
      recent.splice(recent.indexOf(n) >>> 0, wasCached ? 1 : 0);
      recent.unshift(n);
      recent.length = Math.min(recent.length, 16);
    }
    expect(translationCacheStats().size).toBe(16);
  });
});
