import { ConnectionError, PoolManager, type DatabaseConfig } from '@dal/core';
import { createUnroutableAddress, type UnroutableAddress } from '@dal/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeQuietly, configFor, garbageCollectSoon, kindOf, rejection, serverBackends, type ServerBackend } from './support.js';

// Issue #2: connectionCreationTimeoutMs fires on time when SYNs are never answered.
let unroutable: UnroutableAddress;

beforeAll(() => {
  unroutable = createUnroutableAddress();
});

afterAll(() => {
  unroutable?.close();
});

const CREATE_TIMEOUT_MS = 1_000;
const SLACK_MS = 300;

function unroutableConfig(backend: ServerBackend): DatabaseConfig {
  return configFor(backend, {
    host: unroutable.address,
    port: backend.port,
    connectionCreationTimeoutMs: CREATE_TIMEOUT_MS,
    poolCreationTimeoutMs: 20_000,
    connectionAcquisitionTimeoutMs: 20_000,
    retry: false,
    circuitBreaker: false,
  });
}

describe.each(serverBackends)('unroutable host ($name)', (backend) => {
  it('connectionCreationTimeoutMs rejects with ConnectionError on time', async () => {
    const config = unroutableConfig(backend);
    const db = backend.open(config);
    try {
      const first = await rejection(db.connection());
      expect(kindOf(first.error)).toBe('ConnectionError');
      expect(first.error).toBeInstanceOf(ConnectionError);
      expect(first.elapsedMs).toBeGreaterThanOrEqual(CREATE_TIMEOUT_MS - 50);
      expect(first.elapsedMs).toBeLessThan(CREATE_TIMEOUT_MS + SLACK_MS);
      // A second attempt times out on time too (no state left behind by the first).
      const second = await rejection(db.connection());
      expect(second.error).toBeInstanceOf(ConnectionError);
      expect(second.elapsedMs).toBeLessThan(CREATE_TIMEOUT_MS + SLACK_MS);
      expect(PoolManager.getPoolStatus(config.hash())?.sizes.inUse ?? 0).toBe(0);
    } finally {
      await closeQuietly(db);
    }
  }, 20_000);

  // pool.ts (and host-selector.ts) build the creation deadline as
  // AbortSignal.any([AbortSignal.timeout(ms), ...]); on Node 20 a GC while waiting collects the
  // timeout signal and the deadline never fires (nodejs/node#57736): only poolCreationTimeoutMs
  // (here 20 s) or the TCP stack ends the attempt.
  // mysql2's own connectTimeout covers for it on MariaDB; pg has no such backstop here.
  it('connectionCreationTimeoutMs still fires when a GC runs during the attempt', async () => {
    const config = unroutableConfig(backend).with({ poolCreationTimeoutMs: 5_000 });
    const db = backend.open(config);
    try {
      garbageCollectSoon(100);
      const first = await rejection(db.connection());
      expect(first.error).toBeInstanceOf(ConnectionError);
      expect(first.elapsedMs).toBeLessThan(CREATE_TIMEOUT_MS + SLACK_MS);
    } finally {
      await closeQuietly(db);
    }
  }, 30_000);
});
