import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, DatabaseConfig, DatabaseFactory, DriverNotInstalledError, PoolManager, scalingFor } from '../src/index.js';

describe('DatabaseFactory', () => {
  afterAll(() => PoolManager.closeAll());

  it('rejects an unknown backend at once with ConfigError naming the known ones', () => {
    const attempt = () => DatabaseFactory.createDatabase('oracle', new DatabaseConfig({ database: 'x' }));
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/postgres, mysql, sqlite/);
  });

  it('rejects a missing config with ConfigError', () => {
    expect(() => DatabaseFactory.createDatabase('postgres', undefined as never)).toThrow(ConfigError);
  });

  it('loads the driver lazily: a backend whose package is missing fails on first use with DriverNotInstalledError', async () => {
    DatabaseFactory.registerBackend('nowhere', {
      packageName: '@dal/driver-nowhere',
      factoryExport: 'createNowhereDriver',
      nativePackages: ['nowhere-client'],
    });
    const db = DatabaseFactory.createDatabase('nowhere', new DatabaseConfig({ database: 'x', alias: 'nowhere' }));
    const err = await db.execute('SELECT 1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverNotInstalledError);
    expect((err as DriverNotInstalledError).packageName).toBe('@dal/driver-nowhere');
    expect((err as Error).message).toContain('npm install @dal/driver-nowhere nowhere-client');
    expect(() => db.syncConnection()).toThrow(DriverNotInstalledError);
    await db.close();
  });
});

describe('scaling advice', () => {
  it.each([
    [0, 'normal', 'no action needed'],
    [0.0009, 'normal', 'no action needed'],
    [0.001, 'mild', 'review slow queries'],
    [0.0099, 'mild', 'review slow queries'],
    [0.01, 'high', 'scale vertically (bigger DB/app servers)'],
    [0.05, 'critical', 'scale horizontally (add app servers)'],
    [0.5, 'critical', 'scale horizontally (add app servers)'],
  ])('a timeout rate of %d is %s', (rate, level, advice) => {
    expect(scalingFor(rate, 1000)).toEqual({ level, advice, timeoutRate: rate, windowMs: 1000 });
  });
});
