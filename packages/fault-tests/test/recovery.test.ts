import { CircuitOpenError, QueryError, type Database } from '@dal/core';
import { FaultProxy } from '@dal/test-utils';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { closeQuietly, configFor, inUse, kindOf, rejection, serverBackends, sleep, waitFor, type ServerBackend } from './support.js';

// Issue #3, item 3: killed sessions, a stopped and restarted server, the circuit breaker, and
// failover between hosts.
const TYPED = new Set(['ConnectionError', 'QueryTimeoutError', 'PoolTimeoutError', 'CircuitOpenError', 'TransactionError']);
/** A call still pending after this long counts as a hang. */
const HANG_MS = 15_000;

let db: Database | undefined;
const proxies: FaultProxy[] = [];

afterEach(async () => {
  await closeQuietly(db);
  db = undefined;
  for (const proxy of proxies.splice(0)) await proxy.close();
});

afterAll(async () => {
  // Whatever happened, leave both servers up for the next file and the next package.
  for (const backend of serverBackends) await backend.start();
});

async function proxyTo(backend: ServerBackend): Promise<FaultProxy> {
  const proxy = await FaultProxy.start({ targetHost: backend.host, targetPort: backend.port });
  proxies.push(proxy);
  return proxy;
}

/** Run `fn` but record a hang instead of waiting forever. */
async function bounded<T>(fn: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('HANG')), HANG_MS);
  });
  try {
    return { ok: true, value: await Promise.race([fn(), hang]) };
  } catch (error) {
    return { ok: false, error };
  } finally {
    clearTimeout(timer);
  }
}

describe.each(serverBackends)('recovery ($name)', (backend) => {
  it('terminating every session: in-flight callers get ConnectionError, then every call works', async () => {
    const config = configFor(backend, { poolMin: 1, poolMax: 4, circuitBreaker: false });
    db = backend.open(config);
    const database = db;
    const conns = await Promise.all([0, 1, 2, 3].map(() => database.connection()));
    await Promise.all(conns.map((c) => c.release()));
    const inflight = [0, 1].map(() => rejection(database.execute(backend.sleepSql(10))));
    await sleep(400);
    expect(await backend.killAll()).toBeGreaterThanOrEqual(2);
    for (const { error, elapsedMs } of await Promise.all(inflight)) {
      expect(kindOf(error)).toBe('ConnectionError');
      expect(elapsedMs).toBeLessThan(3_000);
    }
    await waitFor(() => inUse(config) === 0, 4_000, 'inUse back to 0');
    await sleep(200);
    // The idle sessions were killed too: none of them may be handed out.
    for (let i = 0; i < 6; i += 1) expect(Number((await database.execute<{ v: number }>('SELECT 1 AS v'))[0]!.v)).toBe(1);
    const parallel = await Promise.all([0, 1, 2, 3].map((i) => database.execute<{ v: number }>(`SELECT ${i + 10} AS v`)));
    expect(parallel.map((rows) => Number(rows[0]!.v))).toEqual([10, 11, 12, 13]);
  }, 40_000);

  it('server stopped under load and started again: typed errors, no hang, recovery within seconds', async () => {
    const config = configFor(backend, {
      poolMin: 2,
      poolMax: 6,
      connectionCreationTimeoutMs: 2_000,
      connectionAcquisitionTimeoutMs: 3_000,
      queryExecutionTimeoutMs: 5_000,
      retry: { maxRetries: 2, baseDelayMs: 100, totalTimeoutMs: 2_000 },
      circuitBreaker: { failureThreshold: 5, recoveryTimeoutMs: 1_000, halfOpenMaxCalls: 2, windowSizeMs: 10_000 },
    });
    db = backend.open(config);
    const database = db;
    await database.execute('SELECT 1');
    const outcomes: Array<{ startedAt: number; ok: boolean; kind: string }> = [];
    let running = true;
    const worker = async (): Promise<void> => {
      while (running) {
        const startedAt = performance.now();
        const result = await bounded(() => database.execute(backend.sleepSql(0.02)));
        outcomes.push({ startedAt, ok: result.ok, kind: result.ok ? 'ok' : kindOf(result.error) });
        if (!result.ok) await sleep(50);
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    let serverBackAt = 0;
    try {
      await sleep(1_000);
      await backend.stop();
      await sleep(2_000);
      await backend.start();
      serverBackAt = performance.now();
      // Load continues until 30 calls started after the first success since the restart went through.
      await waitFor(
        () => {
          const firstOk = outcomes.find((o) => o.ok && o.startedAt > serverBackAt);
          return firstOk !== undefined && outcomes.filter((o) => o.startedAt > firstOk.startedAt + 500).length >= 30;
        },
        20_000,
        'recovery under load',
      );
    } finally {
      running = false;
      await Promise.all(workers);
      await backend.start();
    }
    const failures = outcomes.filter((o) => !o.ok);
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.filter((o) => !TYPED.has(o.kind)).map((o) => o.kind)).toEqual([]);
    const firstOk = outcomes.find((o) => o.ok && o.startedAt > serverBackAt)!;
    expect(firstOk.startedAt - serverBackAt).toBeLessThan(5_000);
    // Once a call succeeded again, no broken connection is handed out: later calls all succeed.
    const later = outcomes.filter((o) => o.startedAt > firstOk.startedAt + 500);
    expect(later.filter((o) => !o.ok).map((o) => o.kind)).toEqual([]);
    await waitFor(() => inUse(config) === 0, 4_000, 'inUse back to 0');
  }, 120_000);

  it('circuit breaker: SQL errors never open it, connection failures do, it closes again', async () => {
    const proxy = await proxyTo(backend);
    const config = configFor(backend, {
      host: proxy.host,
      port: proxy.port,
      poolMin: 0,
      poolMax: 2,
      retry: false,
      circuitBreaker: { failureThreshold: 3, recoveryTimeoutMs: 1_000, halfOpenMaxCalls: 1, windowSizeMs: 10_000 },
    });
    db = backend.open(config);
    const database = db;
    for (let i = 0; i < 6; i += 1) {
      const { error } = await rejection(database.execute('SELECT * FROM fault_tests_no_such_table'));
      expect(error).toBeInstanceOf(QueryError);
    }
    await database.execute('SELECT 1');
    await proxy.setMode('refuse', { cutExisting: true });
    await sleep(200);
    const seen: string[] = [];
    for (let i = 0; i < 6; i += 1) seen.push(kindOf((await rejection(database.execute('SELECT 1'))).error));
    expect(seen.slice(0, 3).every((k) => k === 'ConnectionError')).toBe(true);
    expect(seen.at(-1)).toBe('CircuitOpenError');
    const open = await rejection(database.execute('SELECT 1'));
    expect(open.error).toBeInstanceOf(CircuitOpenError);
    expect(open.elapsedMs).toBeLessThan(100);
    await proxy.setMode('pass');
    await sleep(1_200);
    const rows = await database.execute<{ v: number }>('SELECT 1 AS v');
    expect(Number(rows[0]!.v)).toBe(1);
    await database.execute('SELECT 1');
  }, 40_000);

  it('several hosts: moves to the next when the first is unreachable, returns after failbackAfterMs', async () => {
    const first = await proxyTo(backend);
    const second = await proxyTo(backend);
    const config = configFor(backend, {
      hosts: [first.address, { host: second.host, port: second.port }],
      failbackAfterMs: 1_500,
      poolMin: 1,
      poolMax: 2,
      retry: { maxRetries: 2, baseDelayMs: 50, totalTimeoutMs: 3_000 },
      circuitBreaker: false,
    });
    db = backend.open(config);
    const database = db;
    await database.execute('SELECT 1');
    expect(first.connectionCount).toBeGreaterThan(0);
    expect(second.connectionCount).toBe(0);

    await first.setMode('refuse', { cutExisting: true });
    await sleep(200);
    for (let i = 0; i < 5; i += 1) await database.execute('SELECT 1');
    expect(second.connectionCount).toBeGreaterThan(0);

    await first.setMode('pass');
    first.resetCounters();
    await sleep(1_800);
    // Cut the fallback's connections so the pool must open new ones.
    await second.setMode('reset');
    await second.setMode('pass');
    await sleep(200);
    for (let i = 0; i < 5; i += 1) await database.execute('SELECT 1');
    expect(first.connectionCount).toBeGreaterThan(0);
    expect(inUse(config)).toBe(0);
  }, 40_000);
});

