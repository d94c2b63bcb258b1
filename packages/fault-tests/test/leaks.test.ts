import { PoolManager, type Database } from '@dal/core';
import { FaultProxy } from '@dal/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { captureLogger, closeQuietly, configFor, serverBackends, waitFor } from './support.js';

// Issue #3, item 5: leaks are reported with the acquiring stack, a warning is logged, and idle
// connections past their limit are closed in the background.
let db: Database | undefined;
let proxy: FaultProxy | undefined;

afterEach(async () => {
  await closeQuietly(db);
  await proxy?.close();
  db = undefined;
  proxy = undefined;
});

/** Acquired from a named function so the stack can be checked for it. */
async function holdConnectionHere(database: Database): ReturnType<Database['connection']> {
  const conn = await database.connection();
  return conn;
}

describe.each(serverBackends)('leaks and idle connections ($name)', (backend) => {
  it('a connection held past leakDetectionThresholdMs is reported with its acquisition stack and logged', async () => {
    const { logger, warnings } = captureLogger();
    const config = configFor(backend, { leakDetectionThresholdMs: 300, poolMax: 2 });
    db = backend.open(config, { logger, trackAcquireStacks: true });
    const held = await holdConnectionHere(db);
    await held.execute('SELECT 1');
    const quick = await db.connection();
    await quick.release();

    // The background check logs on its own (once per leaked connection), nobody calls it here.
    await waitFor(() => warnings.some((w) => w.data.alias === config.alias), 3_000, 'background leak warning');
    const ourWarnings = warnings.filter((w) => w.data.alias === config.alias);
    expect(ourWarnings).toHaveLength(1);
    expect(ourWarnings[0]!.message).toMatch(/leak/i);
    expect(String(ourWarnings[0]!.data.stack)).toContain('holdConnectionHere');

    const leaks = await PoolManager.checkForLeakedConnections({ thresholdMs: 250 });
    const ours = leaks.filter((leak) => leak.alias === config.alias);
    expect(ours).toHaveLength(1);
    expect(ours[0]!.heldForMs).toBeGreaterThanOrEqual(250);
    expect(ours[0]!.stack).toContain('holdConnectionHere');
    expect(ours[0]!.stack).toContain('leaks.test.ts');

    await held.release();
    const after = await PoolManager.checkForLeakedConnections({ thresholdMs: 250 });
    expect(after.filter((leak) => leak.alias === config.alias)).toEqual([]);
  }, 20_000);

  it('idle connections above poolMin are closed in the background after idleTimeoutMs', async () => {
    proxy = await FaultProxy.start({ targetHost: backend.host, targetPort: backend.port });
    const config = configFor(backend, { host: proxy.host, port: proxy.port, poolMin: 1, poolMax: 4, idleTimeoutMs: 500 });
    db = backend.open(config);
    const database = db;
    const conns = await Promise.all([0, 1, 2, 3].map(() => database.connection()));
    await Promise.all(conns.map((c) => c.execute('SELECT 1')));
    await Promise.all(conns.map((c) => c.release()));
    expect(PoolManager.getPoolStatus(config.hash())!.sizes.idle).toBe(4);
    expect(proxy.openConnections).toBe(4);
    const p = proxy;
    // The sockets really close (seen at the proxy), down to poolMin.
    await waitFor(() => p.openConnections === 1, 4_000, 'idle connections closed');
    expect(PoolManager.getPoolStatus(config.hash())!.sizes.size).toBe(1);
    expect(Number((await database.execute<{ v: number }>('SELECT 1 AS v'))[0]!.v)).toBe(1);
  }, 20_000);
});
