import { CircuitOpenError, ConnectionError, PoolManager, QueryError, type Database } from '@dal/core';
import { FaultProxy } from '@dal/test-utils';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { circuit, closeQuietly, configFor, defaultConfigFor, inUse, kindOf, rejection, serverBackends, sleep, waitFor, type ServerBackend } from './support.js';

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
    const config = defaultConfigFor(backend, { poolMin: 1, poolMax: 4 });
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
    const config = defaultConfigFor(backend, { poolMin: 2, poolMax: 6 });
    db = backend.open(config);
    const database = db;
    await database.execute('SELECT 1');
    const outcomes: Array<{ startedAt: number; endedAt: number; ok: boolean; kind: string }> = [];
    let running = true;
    const worker = async (): Promise<void> => {
      while (running) {
        const startedAt = performance.now();
        const result = await bounded(() => database.execute(backend.sleepSql(0.02)));
        outcomes.push({ startedAt, endedAt: performance.now(), ok: result.ok, kind: result.ok ? 'ok' : kindOf(result.error) });
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
    // Callers that needed a new connection waited for the server instead of failing; those whose
    // session the stop cut got a typed error. Either way no call hung (bounded() records a hang).
    const failures = outcomes.filter((o) => !o.ok);
    expect(failures.filter((o) => !TYPED.has(o.kind)).map((o) => o.kind)).toEqual([]);
    // The outage was felt: calls waited through it (a 20 ms statement taking over 500 ms) or failed.
    expect(outcomes.filter((o) => o.ok && o.endedAt - o.startedAt > 500).length + failures.length).toBeGreaterThan(0);
    const firstOk = outcomes.find((o) => o.ok && o.startedAt > serverBackAt)!;
    expect(firstOk.startedAt - serverBackAt).toBeLessThan(2_000);
    // Once a call succeeded again, no broken connection is handed out: later calls all succeed.
    const later = outcomes.filter((o) => o.startedAt > firstOk.startedAt + 500);
    expect(later.filter((o) => !o.ok).map((o) => o.kind)).toEqual([]);
    await waitFor(() => inUse(config) === 0, 4_000, 'inUse back to 0');
  }, 120_000);

  it('circuit breaker (defaults): failures to connect open it, callers wait, the probe closes it within 1 s of the server answering', async () => {
    const proxy = await proxyTo(backend);
    const config = defaultConfigFor(backend, { host: proxy.host, port: proxy.port });
    db = backend.open(config);
    const database = db;
    for (let i = 0; i < 6; i += 1) {
      const { error } = await rejection(database.execute('SELECT * FROM fault_tests_no_such_table'));
      expect(error).toBeInstanceOf(QueryError);
    }
    expect(circuit(config)?.state).toBe('closed');
    await database.execute('SELECT 1');

    // 'reset' accepts and resets every connection: the server is unreachable, and each dial is counted.
    await proxy.setMode('reset');
    const outageStartedAt = performance.now();
    // The idle session was reset with the rest; once the pool has seen that, nothing in it is usable.
    await sleep(200);
    // Callers during the outage: they wait (bounded by the acquisition timeout) instead of failing.
    const during = [0, 1, 2, 3].map(() => bounded(() => database.execute<{ v: number }>('SELECT 7 AS v')));
    await waitFor(() => circuit(config)?.state === 'open', 5_000, 'breaker open');
    // While open, only the probe dials the server: 100 ms, then backing off to 1 s.
    const openedAt = performance.now();
    proxy.resetCounters();
    await sleep(2_500);
    const dialsWhileOpen = proxy.connectionCount;
    expect(dialsWhileOpen).toBeGreaterThanOrEqual(2);
    expect(dialsWhileOpen).toBeLessThanOrEqual(6);
    expect(circuit(config)).toMatchObject({ state: 'open', opens: 1 });
    expect(circuit(config)!.retryAfterMs).toBeLessThanOrEqual(1_000);

    await proxy.setMode('pass');
    const serverBackAt = performance.now();
    const results = await Promise.all(during);
    expect(results.map((r) => (r.ok ? Number(r.value[0]!.v) : kindOf(r.error)))).toEqual([7, 7, 7, 7]);
    await waitFor(() => circuit(config)?.state === 'closed', 2_000, 'breaker closed');
    const resumedAfterMs = performance.now() - serverBackAt;
    expect(resumedAfterMs).toBeLessThan(1_200);
    expect(performance.now() - outageStartedAt).toBeLessThan(config.connectionAcquisitionTimeoutMs);
    expect(openedAt).toBeGreaterThan(outageStartedAt);
    expect(inUse(config)).toBe(0);
  }, 40_000);

  it('idempotent: a statement whose session breaks before answering runs again on a fresh connection (defaults otherwise)', async () => {
    const config = defaultConfigFor(backend, { poolMax: 2 });
    const admin = backend.open(defaultConfigFor(backend));
    db = backend.open(config);
    const database = db;
    try {
      await database.execute('SELECT 1');
      // Plain: the caller gets the typed error of its broken session.
      const plain = rejection(database.execute(backend.sleepSql(1)));
      await sleep(300);
      await backend.killAll();
      expect(kindOf((await plain).error)).toBe('ConnectionError');
      // Idempotent: run again once, on a new session, within the same timeout.
      const started = performance.now();
      const again = database.execute(backend.sleepSql(1), [], { idempotent: true });
      await sleep(300);
      expect(await backend.killAll()).toBeGreaterThanOrEqual(1);
      expect(await again).toHaveLength(1);
      expect(performance.now() - started).toBeLessThan(5_000);
      // Never inside an explicit transaction: its work died with the session.
      const inTx = rejection(database.withConnection((conn) => conn.transaction((tx) => tx.execute(backend.sleepSql(1), [], { idempotent: true }))));
      await sleep(300);
      await backend.killAll();
      expect(kindOf((await inTx).error)).toBe('ConnectionError');
      await waitFor(() => inUse(config) === 0, 4_000, 'inUse back to 0');
    } finally {
      await closeQuietly(admin);
    }
  }, 40_000);

  it('circuit breaker: a call still waiting at its acquisition timeout gets CircuitOpenError with retryAfterMs and the cause', async () => {
    const proxy = await proxyTo(backend);
    // The option under test: a short acquisition timeout.
    const config = defaultConfigFor(backend, { host: proxy.host, port: proxy.port, connectionAcquisitionTimeoutMs: 1_500 });
    db = backend.open(config);
    const database = db;
    await database.execute('SELECT 1');
    await proxy.setMode('refuse', { cutExisting: true });
    const outcomes = await Promise.all([0, 1, 2, 3, 4, 5].map(() => rejection(database.execute('SELECT 1'))));
    const last = outcomes.at(-1)!;
    expect(kindOf(last.error)).toBe('CircuitOpenError');
    expect((last.error as CircuitOpenError).retryAfterMs).toBeLessThanOrEqual(1_000);
    expect((last.error as CircuitOpenError).message).toMatch(/cannot open connections/);
    expect((last.error as Error).cause).toBeInstanceOf(ConnectionError);
    for (const { elapsedMs } of outcomes) expect(elapsedMs).toBeLessThan(1_500 + 1_000);
    // An outage is not a busy pool: no acquisition timeouts feed the scaling advice.
    const status = PoolManager.getPoolStatus(config.hash())!;
    expect(status.metrics.acquisitionTimeouts).toBe(0);
    expect(status.metrics.errorsByCategory.circuitOpen).toBeGreaterThanOrEqual(1);
    await proxy.setMode('pass');
    await waitFor(() => circuit(config)?.state === 'closed', 2_000, 'breaker closed');
    expect(Number((await database.execute<{ v: number }>('SELECT 1 AS v'))[0]!.v)).toBe(1);
  }, 40_000);

  it('circuit breaker: wrong credentials open it and fail fast; probes back off instead of hammering the server', async () => {
    const proxy = await proxyTo(backend);
    const config = defaultConfigFor(backend, { host: proxy.host, port: proxy.port, user: 'dal_no_such_user', password: 'wrong' });
    db = backend.open(config);
    const database = db;
    // Every call of a web app whose password is wrong: the first ones dial and are refused.
    const seen: Array<{ error: unknown; elapsedMs: number }> = [];
    for (let i = 0; i < 8; i += 1) seen.push(await rejection(database.execute('SELECT 1')));
    for (const { error, elapsedMs } of seen) {
      expect(String((error as Error).message)).not.toContain('wrong');
      expect(elapsedMs).toBeLessThan(3_000);
    }
    const threshold = (config.circuitBreaker as { failureThreshold: number }).failureThreshold;
    expect(seen.slice(0, threshold).map((o) => kindOf(o.error))).toEqual(Array(threshold).fill('ConnectionError'));
    expect((seen[0]!.error as ConnectionError).retryable).toBe(false);
    // Then the breaker is open, and waiting cannot fix credentials: calls fail at once, naming the cause.
    for (const { error, elapsedMs } of seen.slice(threshold)) {
      expect(kindOf(error)).toBe('CircuitOpenError');
      expect(elapsedMs).toBeLessThan(100);
      expect(kindOf((error as Error).cause)).toBe('ConnectionError');
    }
    proxy.resetCounters();
    for (let i = 0; i < 20; i += 1) {
      await rejection(database.execute('SELECT 1'));
      await sleep(150);
    }
    // 3 s of calls: only the probe dialled (100 ms, then backing off to 1 s).
    expect(proxy.connectionCount).toBeLessThanOrEqual(6);
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

