import { describe, expect, it } from 'vitest';
import { ConfigError, DatabaseConfig, type DatabaseConfigOptions } from '../src/index.js';

// Issue #18 item 6: an option @dal does not know was silently ignored; it is a ConfigError now.
function thrown(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('DatabaseConfig option names', () => {
  it('an unknown key is a ConfigError listing the valid names, with the closest one suggested', () => {
    const error = thrown(() => new DatabaseConfig({ database: 'app', queryTimeoutMs: 5_000 } as unknown as DatabaseConfigOptions));
    expect(error.message).toContain('"queryTimeoutMs"');
    expect(error.message).toContain('did you mean "queryExecutionTimeoutMs"?');
    expect(error.message).toContain('pooler');
    expect(error.message).toContain('connectionAcquisitionTimeoutMs');
  });

  it('names every unknown key, and suggests nothing for a name far from all', () => {
    const error = thrown(() => new DatabaseConfig({ database: 'app', zzzzzzzz: 1, yyyyyyyy: 2 } as unknown as DatabaseConfigOptions));
    expect(error.message).toContain('unknown options "zzzzzzzz", "yyyyyyyy"');
    expect(error.message).not.toContain('did you mean');
  });

  it('checks fromUrl overrides and query parameters too', () => {
    expect(thrown(() => DatabaseConfig.fromUrl('postgres://u@h/db', { polMax: 3 } as unknown as DatabaseConfigOptions)).message).toContain('did you mean "poolMax"?');
    expect(thrown(() => DatabaseConfig.fromUrl('postgres://u@h/db?poolr=pgbouncer-transaction')).message).toContain('did you mean "pooler"?');
  });

  it('accepts pooler from options and URL, validates it, and keys pools by it', () => {
    const plain = new DatabaseConfig({ database: 'app' });
    const pooled = new DatabaseConfig({ database: 'app', pooler: 'pgbouncer-transaction' });
    expect(plain.pooler).toBeUndefined();
    expect(pooled.pooler).toBe('pgbouncer-transaction');
    expect(pooled.hash()).not.toBe(plain.hash());
    expect(DatabaseConfig.fromUrl('postgres://u@h/app?pooler=pgbouncer-transaction').pooler).toBe('pgbouncer-transaction');
    expect(pooled.with({ alias: 'other' }).pooler).toBe('pgbouncer-transaction');
    expect(thrown(() => new DatabaseConfig({ database: 'app', pooler: 'pgbouncer' as 'pgbouncer-transaction' })).message).toContain("'pgbouncer-transaction'");
    expect(thrown(() => DatabaseConfig.fromUrl('mysql://root@h/app?pooler=pgbouncer-transaction')).message).toContain('for PostgreSQL servers');
  });

  it('with() and toJSON() round trip through the checked names', () => {
    const config = new DatabaseConfig({ database: 'app', hosts: ['a:1', 'b:2'], retry: false, logParameterValues: true });
    expect(() => new DatabaseConfig(config.toJSON() as unknown as DatabaseConfigOptions)).not.toThrow();
    expect(config.with({ poolMax: 3 }).poolMax).toBe(3);
  });
});
