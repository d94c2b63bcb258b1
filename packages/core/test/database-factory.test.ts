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

describe('DatabaseFactory.registerBackend', () => {
  const oracle = { packageName: '@acme/dal-driver-oracle', factoryExport: 'createOracleDriver', nativePackages: ['oracledb'], urlSchemes: ['oracle', 'oracledb'] };

  it('makes a plugin known to fromUrl, the factory and lazy loading, like a built-in', async () => {
    DatabaseFactory.registerBackend('oracle', oracle);
    expect(DatabaseFactory.backends()).toContain('oracle');
    const config = DatabaseConfig.fromUrl('oracle://system:pw@db.example:1521/FREEPDB1?alias=ora&poolMax=3');
    expect(config).toMatchObject({ backend: 'oracle', host: 'db.example', port: 1521, user: 'system', database: 'FREEPDB1', alias: 'ora', poolMax: 3 });
    expect(DatabaseConfig.fromUrl('ORACLEDB://h/x').backend).toBe('oracle');
    // fromUrl keeps rejecting unknown query parameters for plugins too.
    expect(() => DatabaseConfig.fromUrl('oracle://h/x?colour=red')).toThrow(/unknown query parameter "colour"/);
    const db = DatabaseFactory.fromUrl('oracle://h/x?alias=ora_lazy');
    const err = await db.execute('SELECT 1 FROM DUAL').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverNotInstalledError);
    expect((err as Error).message).toContain('npm install @acme/dal-driver-oracle oracledb');
    await db.close();
  });

  it('registering the same package again is harmless; a name or scheme of another package is a ConfigError naming both', () => {
    DatabaseFactory.registerBackend('oracle', oracle);
    DatabaseFactory.registerBackend('oracle', oracle);
    const name = () => DatabaseFactory.registerBackend('oracle', { ...oracle, packageName: '@other/oracle' });
    expect(name).toThrow(ConfigError);
    expect(name).toThrow(/"oracle" of @other\/oracle is already taken by @acme\/dal-driver-oracle/);
    const scheme = () => DatabaseFactory.registerBackend('pg2', { packageName: '@other/pg', factoryExport: 'create', nativePackages: [], urlSchemes: ['postgresql'] });
    expect(scheme).toThrow(ConfigError);
    expect(scheme).toThrow(/"postgresql:" of @other\/pg is already taken by @dal\/driver-postgres/);
    // A refused registration changed nothing.
    expect(DatabaseFactory.backends()).not.toContain('pg2');
    expect(DatabaseConfig.fromUrl('postgresql://h/x').backend).toBe('postgres');
  });

  it('rejects malformed registrations with ConfigError', () => {
    expect(() => DatabaseFactory.registerBackend('bad name', oracle)).toThrow(ConfigError);
    expect(() => DatabaseFactory.registerBackend('x', { packageName: '', factoryExport: 'f', nativePackages: [] })).toThrow(ConfigError);
    expect(() => DatabaseFactory.registerBackend('x', { ...oracle, urlSchemes: ['no spaces'] })).toThrow(ConfigError);
  });

  it('an embedded backend takes file URLs and refuses tls', () => {
    DatabaseFactory.registerBackend('filedb', { packageName: '@acme/filedb', factoryExport: 'create', nativePackages: [], embedded: true });
    expect(DatabaseConfig.fromUrl('filedb:///tmp/a.db')).toMatchObject({ backend: 'filedb', database: '/tmp/a.db' });
    expect(DatabaseConfig.fromUrl('filedb::memory:?alias=m')).toMatchObject({ backend: 'filedb', database: ':memory:', alias: 'm' });
    expect(() => new DatabaseConfig({ database: 'a.db', backend: 'filedb', tls: { mode: 'require' } })).toThrow(/"filedb" backend is embedded/);
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
