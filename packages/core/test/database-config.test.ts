import { describe, expect, it } from 'vitest';
import { ConfigError, DatabaseConfig } from '../src/index.js';

describe('DatabaseConfig', () => {
  it('applies the documented defaults', () => {
    const config = new DatabaseConfig({ database: 'app' });
    expect(config.alias).toBe('app');
    expect(config.env).toBe('prod');
    expect(config.host).toBe('localhost');
    expect(config.connectionAcquisitionTimeoutMs).toBe(10_000);
    expect(config.poolCreationTimeoutMs).toBe(30_000);
    expect(config.queryExecutionTimeoutMs).toBe(60_000);
    expect(config.connectionCreationTimeoutMs).toBe(15_000);
    expect(config.slowQueryThresholdMs).toBe(2_000);
    expect(config.poolMin).toBe(1);
    expect(config.poolMax).toBeGreaterThanOrEqual(4);
    expect(config.poolMax).toBeLessThanOrEqual(20);
    expect(config.poolSizeExplicit).toBe(false);
  });

  it.each([
    [{ queryExecutionTimeoutMs: -1 }, 'queryExecutionTimeoutMs'],
    [{ connectionAcquisitionTimeoutMs: 0 }, 'connectionAcquisitionTimeoutMs'],
    [{ connectionAcquisitionTimeoutMs: 3_000_000_000 }, 'up to 2147483647'],
    [{ poolCreationTimeoutMs: Number.NaN }, 'poolCreationTimeoutMs'],
    [{ poolMin: 5, poolMax: 2 }, 'poolMin (5) must not exceed poolMax (2)'],
    [{ poolMax: 0 }, 'poolMax'],
    [{ poolMin: 1.5 }, 'poolMin'],
    [{ port: 70_000 }, 'port'],
    [{ database: '' }, 'database'],
    [{ host: 42 }, 'host'],
    [{ pipelining: 'no' }, 'pipelining'],
  ])('rejects %o with ConfigError', (bad, mentions) => {
    const attempt = () => new DatabaseConfig({ database: 'app', ...(bad as object) });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(mentions);
  });

  it('parses URLs of every scheme', () => {
    const pg = DatabaseConfig.fromUrl('postgresql://alice:s3cr%40t@db.example:6543/shop?alias=main&poolMax=7&queryExecutionTimeoutMs=5000');
    expect(pg).toMatchObject({ backend: 'postgres', host: 'db.example', port: 6543, user: 'alice', database: 'shop', alias: 'main', poolMax: 7 });
    expect(pg.password).toBe('s3cr@t');
    expect(pg.queryExecutionTimeoutMs).toBe(5000);
    expect(DatabaseConfig.fromUrl('mariadb://root@127.0.0.1/test')).toMatchObject({ backend: 'mysql', database: 'test', port: undefined });
    expect(DatabaseConfig.fromUrl('sqlite:///tmp/app.db')).toMatchObject({ backend: 'sqlite', database: '/tmp/app.db' });
    expect(DatabaseConfig.fromUrl('sqlite::memory:')).toMatchObject({ backend: 'sqlite', database: ':memory:' });
  });

  it('pipelining is on unless turned off, in the options or the URL, and is part of the hash', () => {
    expect(new DatabaseConfig({ database: 'app' }).pipelining).toBe(true);
    const off = DatabaseConfig.fromUrl('postgres://u@h/db?pipelining=false');
    expect(off.pipelining).toBe(false);
    expect(off.hash()).not.toBe(DatabaseConfig.fromUrl('postgres://u@h/db').hash());
    expect(off.with({ alias: 'other' }).pipelining).toBe(false);
  });

  it('pipelining is off behind a pooler, and asking for both is a ConfigError', () => {
    expect(new DatabaseConfig({ database: 'app', pooler: 'pgbouncer-transaction' }).pipelining).toBe(false);
    expect(DatabaseConfig.fromUrl('postgres://u@h/db?pooler=pgbouncer-transaction').pipelining).toBe(false);
    expect(() => new DatabaseConfig({ database: 'app', pooler: 'pgbouncer-transaction', pipelining: true })).toThrow(ConfigError);
  });

  it.each(['ftp://x/y', 'nonsense', 'postgres://[bad', 'postgres://u@h/db?poolMax=lots', 'postgres://u@h/db?pipelining=off'])('rejects the URL %s with ConfigError', (url) => {
    expect(() => DatabaseConfig.fromUrl(url)).toThrow(ConfigError);
  });

  it('never exposes the password in hash, toJSON, String or an error', () => {
    const config = DatabaseConfig.fromUrl('postgres://u:hunter2-secret@h/db');
    expect(config.hash()).toMatch(/^[0-9a-f]{16}$/);
    expect(JSON.stringify(config)).not.toContain('hunter2');
    expect(config.toJSON().password).toBe('***');
    expect(String(config)).not.toContain('hunter2');
    try {
      DatabaseConfig.fromUrl('postgres://u:hunter2-secret@h:99999999/db');
      expect.unreachable();
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('hunter2');
      expect(String((error as Error).cause)).not.toContain('hunter2');
    }
  });

  it('hashes every setting except the password', () => {
    const a = new DatabaseConfig({ database: 'app', password: 'one' });
    expect(new DatabaseConfig({ database: 'app', password: 'two' }).hash()).toBe(a.hash());
    expect(new DatabaseConfig({ database: 'app', password: 'one', poolMax: 3 }).hash()).not.toBe(a.hash());
    expect(new DatabaseConfig({ database: 'app', password: 'one', alias: 'x' }).hash()).not.toBe(a.hash());
  });

  it('is immutable, and with() makes a changed copy', () => {
    const config = new DatabaseConfig({ database: 'app', password: 'pw' });
    expect(() => {
      (config as { alias: string }).alias = 'changed';
    }).toThrow(TypeError);
    const copy = config.with({ alias: 'copy', poolMax: 3 });
    expect(copy.alias).toBe('copy');
    expect(copy.poolMax).toBe(3);
    expect(copy.password).toBe('pw');
    expect(config.alias).toBe('app');
  });
});

describe('DatabaseConfig resilience settings', () => {
  it('fills breaker and retry defaults, and accepts false', () => {
    const config = new DatabaseConfig({ database: 'app' });
    expect(config.circuitBreaker).toEqual({ failureThreshold: 5, recoveryTimeoutMs: 1_000, halfOpenMaxCalls: 3, windowSizeMs: 60_000 });
    expect(config.retry).toEqual({ maxRetries: 3, baseDelayMs: 100, maxDelayMs: 10_000, totalTimeoutMs: 30_000 });
    const off = new DatabaseConfig({ database: 'app', circuitBreaker: false, retry: false });
    expect(off.circuitBreaker).toBe(false);
    expect(off.retry).toBe(false);
    expect(new DatabaseConfig({ database: 'app', retry: { maxRetries: 0 } }).retry).toMatchObject({ maxRetries: 0 });
    expect(() => new DatabaseConfig({ database: 'app', circuitBreaker: { failureThreshold: 0 } })).toThrow(ConfigError);
    expect(() => new DatabaseConfig({ database: 'app', retry: { baseDelayMs: -1 } })).toThrow(ConfigError);
  });

  it('rejects breaker and retry settings that make no sense', () => {
    const bad: Array<[string, Record<string, unknown>]> = [
      ['circuitBreaker.failureThreshold', { circuitBreaker: { failureThreshold: 0 } }],
      ['circuitBreaker.failureThreshold', { circuitBreaker: { failureThreshold: 2.5 } }],
      ['circuitBreaker.recoveryTimeoutMs', { circuitBreaker: { recoveryTimeoutMs: -1 } }],
      ['circuitBreaker.recoveryTimeoutMs', { circuitBreaker: { recoveryTimeoutMs: 0 } }],
      ['circuitBreaker.windowSizeMs', { circuitBreaker: { windowSizeMs: Number.NaN } }],
      ['circuitBreaker.recoverAfter', { circuitBreaker: { recoverAfter: 5 } }],
      ['retry.maxRetries', { retry: { maxRetries: 1.5 } }],
      ['circuitBreaker', { circuitBreaker: true }],
    ];
    for (const [name, options] of bad) {
      expect(() => new DatabaseConfig({ database: 'app', ...options })).toThrow(ConfigError);
      expect(() => new DatabaseConfig({ database: 'app', ...options })).toThrow(name);
    }
  });

  it('parses hosts, and the first is host/port', () => {
    const config = new DatabaseConfig({ database: 'app', hosts: ['db1:5433', { host: 'db2' }, '[::1]:5434'] });
    expect(config.hosts).toEqual([{ host: 'db1', port: 5433 }, { host: 'db2' }, { host: '::1', port: 5434 }]);
    expect(config.host).toBe('db1');
    expect(config.port).toBe(5433);
    expect(new DatabaseConfig({ database: 'app', host: 'h', port: 1 }).hosts).toEqual([{ host: 'h', port: 1 }]);
    expect(() => new DatabaseConfig({ database: 'app', hosts: [] })).toThrow(ConfigError);
    expect(() => new DatabaseConfig({ database: 'app', hosts: ['db:99999'] })).toThrow(ConfigError);
    expect(config.with({ host: 'other', port: 7 }).hosts).toEqual([{ host: 'other', port: 7 }]);
  });
});
