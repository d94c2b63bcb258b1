import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, DatabaseConfig, UnsupportedFeatureError, type ReplicationSql } from '../src/index.js';
import { LagClock } from '../src/replicas/lag-clock.js';
import { closeAllPools, testDatabase } from './support/test-database.js';

// Replica sets on real servers are tested in driver-postgres and driver-mysql (test/replicas.test.ts);
// here: the settings, the lag arithmetic, and a backend without replication.
describe('read replicas: settings', () => {
  afterEach(closeAllPools);

  it('replicas are parsed like hosts, and are part of the hash', () => {
    const config = new DatabaseConfig({ database: 'app', host: 'primary', replicas: ['r1:5433', { host: 'r2' }], maxLagMs: 500, maxLagBytes: 1_000_000 });
    expect(config.replicas).toEqual([{ host: 'r1', port: 5433 }, { host: 'r2' }]);
    expect([config.maxLagMs, config.maxLagBytes, config.replicaRecheckMs, config.replicaFallback]).toEqual([500, 1_000_000, 2_000, 'primary']);
    expect(config.hash()).not.toBe(new DatabaseConfig({ database: 'app', host: 'primary' }).hash());
    expect(new DatabaseConfig({ database: 'app' }).replicas).toEqual([]);
    expect(config.with({ alias: 'copy' }).replicas).toEqual(config.replicas);
  });

  it.each([
    [{ replicas: 'r1' }, /"replicas" must be a non-empty array/],
    [{ replicas: [{ host: '' }] }, /each of "replicas"/],
    [{ replicas: ['r1:99999'] }, /port of host "r1"/],
    [{ maxLagMs: -1 }, /"maxLagMs" must be a non-negative number/],
    [{ maxLagBytes: Number.NaN }, /"maxLagBytes" must be a non-negative number/],
    [{ replicaRecheckMs: 0 }, /"replicaRecheckMs" must be a positive number/],
    [{ replicaFallback: 'replica' }, /"replicaFallback" must be 'primary' or 'error'/],
  ])('rejects %j with a ConfigError', (bad, message) => {
    expect(() => new DatabaseConfig({ database: 'app', ...(bad as object) })).toThrow(ConfigError);
    expect(() => new DatabaseConfig({ database: 'app', ...(bad as object) })).toThrow(message);
  });

  it('a backend whose dialect has no replication rejects a config with replicas on first use, before connecting', async () => {
    const { db, driver } = testDatabase({ replicas: ['replica:5432'] });
    await expect(db.execute('SELECT 1')).rejects.toBeInstanceOf(UnsupportedFeatureError);
    expect(driver.connections).toHaveLength(0);
    await expect(db.commitToken()).rejects.toBeInstanceOf(UnsupportedFeatureError);
  });

  it('without replicas, db.replica() reads from the primary', async () => {
    const { db } = testDatabase();
    await expect(db.replica().execute('SELECT 1')).resolves.toEqual([{ value: 1 }]);
  });
});

describe('read replicas: commit tokens', () => {
  afterEach(closeAllPools);

  const replication: ReplicationSql = {
    stateSql: 'SELECT replica_state',
    commitPositionSql: 'SELECT commit_position',
    behind: () => ({ transactions: 0 }),
    isReadOnlyError: () => false,
  };

  it('is the position the server reports, as a string', async () => {
    const { db, driver } = testDatabase({}, { replication });
    driver.script('SELECT commit_position', [{ position: 'uuid:1-42' }]);
    await expect(db.commitToken()).resolves.toBe('uuid:1-42');
  });

  it('is refused when the server reports no position (MySQL with GTIDs off), rather than a token every replica passes', async () => {
    const { db, driver, status } = testDatabase({}, { replication });
    driver.script('SELECT commit_position', [{ position: null }]);
    const refused = await db.commitToken().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(UnsupportedFeatureError);
    expect((refused as UnsupportedFeatureError).message).toMatch(/no replication position/);
    expect(driver.violations).toEqual([]);
    expect(status().sizes.inUse).toBe(0);
  });
});

describe('read replicas: lag in time from positions', () => {
  // Positions as numbers in text; a replica covers a target when it is at least as far.
  const covers = (target: string, replayed: string) => Number(replayed) >= Number(target);

  it('is 0 when the replica has what the primary had at the last check, and undefined before any', () => {
    const clock = new LagClock();
    expect(clock.lagMs('5', covers, 1_000)).toBeUndefined();
    clock.primaryAt('5', 1_000);
    expect(clock.lagMs('5', covers, 9_000)).toBe(0);
  });

  it('is the time since the primary was first seen past what the replica replayed', () => {
    const clock = new LagClock();
    clock.primaryAt('5', 1_000);
    clock.primaryAt('5', 2_000); // idle: the first sighting stays
    clock.primaryAt('8', 3_000);
    clock.primaryAt('9', 4_000);
    expect(clock.lagMs('5', covers, 5_000)).toBe(2_000); // lacks what appeared by 3 000
    expect(clock.lagMs('8', covers, 5_000)).toBe(1_000);
    expect(clock.lagMs('9', covers, 5_000)).toBe(0);
    // Behind every sample: at least as old as the oldest.
    expect(clock.lagMs('1', covers, 5_000)).toBe(4_000);
  });
});
