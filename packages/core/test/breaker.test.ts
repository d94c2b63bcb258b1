import { afterEach, describe, expect, it } from 'vitest';
import { CircuitOpenError, ConnectionError, DalError } from '../src/index.js';
import { closeAllPools, settle, sleep, testDatabase } from './support/test-database.js';

// The pool's circuit breaker measures whether new connections can be opened (connection-gate.ts):
// failed connects open it, sessions broken in use never do, a background probe closes it, and
// callers wait for it within their acquisition timeout.
describe('pool: circuit breaker wiring', () => {
  afterEach(closeAllPools);

  /** A database whose server went away after the pool was built: every session dead, connects refused. */
  async function outage(options: Parameters<typeof testDatabase>[0]) {
    const t = testDatabase(options);
    await t.db.execute('SELECT 1');
    t.driver.failConnect('refused');
    t.driver.breakAll();
    await untilOpen(t);
    return t;
  }

  /** Calls that need a new connection (each with its retries) until the breaker opens. */
  async function untilOpen({ db, status }: ReturnType<typeof testDatabase>): Promise<void> {
    for (let i = 0; i < 10 && status().circuit!.state === 'closed'; i++) {
      // Bounded, so the call that opens it does not wait out the acquisition timeout here.
      const { error } = await settle(db.execute('SELECT 1', [], { signal: AbortSignal.timeout(1_500) }));
      expect(error).toBeInstanceOf(status().circuit!.state === 'closed' ? ConnectionError : DalError);
    }
    expect(status().circuit).toMatchObject({ state: 'open', opens: 1 });
  }

  it('failed connects open it; callers then wait up to the acquisition timeout and get CircuitOpenError with retryAfterMs', async () => {
    const { db, driver, status } = await outage({ connectionAcquisitionTimeoutMs: 1_000 });
    expect(status().circuit!.failures).toBeGreaterThanOrEqual(5);
    const attemptsBefore = driver.stats.connectAttempts;
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: 10 }, () => settle(db.execute('SELECT 1'))));
    const waited = performance.now() - started;
    for (const { error } of results) {
      expect(error).toBeInstanceOf(CircuitOpenError);
      expect(error).toMatchObject({ code: 'DAL_CIRCUIT_OPEN', retryable: false });
      expect(typeof (error as CircuitOpenError).retryAfterMs).toBe('number');
      expect((error as CircuitOpenError).retryAfterMs).toBeGreaterThanOrEqual(0);
      expect((error as Error).cause).toBeInstanceOf(ConnectionError); // the last refused connect
    }
    expect(waited).toBeGreaterThanOrEqual(900);
    expect(waited).toBeLessThan(8_000);
    // Ten callers for a second, and only the background probe dialled the server (backing off
    // from 100 ms to 1 s); a storm would be at least one attempt per caller.
    expect(driver.stats.connectAttempts - attemptsBefore).toBeLessThan(10);
    expect(status().metrics.acquisitionTimeouts).toBe(0); // an outage is not a busy pool
  }, 30_000);

  it('a background probe closes it once the server answers, and waiting callers are served', async () => {
    const { db, driver, status } = await outage({ connectionAcquisitionTimeoutMs: 5_000 });
    const waiting = Promise.all(Array.from({ length: 5 }, (_, i) => db.execute<{ value: number }>('SELECT ?', [i])));
    await sleep(300);
    driver.failConnect(false);
    const healedAt = performance.now();
    const rows = await waiting;
    expect(rows.map((r) => r[0]!.value)).toEqual([0, 1, 2, 3, 4]);
    // Probes back off up to recoveryTimeoutMs (1 s): served well within the acquisition timeout.
    expect(performance.now() - healedAt).toBeLessThan(4_500);
    expect(status().circuit!.state).toBe('closed');
    expect(driver.events.some((e) => e.type === 'ping')).toBe(true); // the probe pinged before closing it
  }, 30_000);

  it('idle connections are still handed out while it is open', async () => {
    const t = testDatabase({ poolMin: 2, poolMax: 2 });
    const { db, driver } = t;
    await db.execute('SELECT 1');
    const [survivor] = driver.connections;
    driver.failConnect('refused');
    driver.connections[1]!.break();
    // Hold the survivor so that calls need new connections, until the breaker opens.
    const conn = await db.connection();
    expect(conn.isReleased).toBe(false);
    await untilOpen(t);
    await conn.release();
    await expect(db.execute('SELECT 7')).resolves.toEqual([{ value: 7 }]);
    expect(survivor!.statements).toContain('SELECT 7');
  }, 30_000);

  it('sessions broken while in use never open it', async () => {
    const { db, driver, status } = testDatabase();
    for (let i = 0; i < 12; i++) {
      const { error } = await settle(db.execute('BREAK'));
      expect(error).toBeInstanceOf(ConnectionError);
    }
    driver.breakAll();
    await expect(db.execute('SELECT 1')).resolves.toEqual([{ value: 1 }]);
    expect(status().circuit).toMatchObject({ state: 'closed', failures: 0, opens: 0 });
    expect(driver.stats.opened).toBeGreaterThanOrEqual(12);
  }, 30_000);

  it('wrong credentials fail fast: no waiting, and once open, CircuitOpenError at once with the reason', async () => {
    const { db, driver } = testDatabase(); // default timeouts: a caller would wait 10 s for a reachable-but-down server
    driver.failConnect('auth');
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      const { error } = await settle(db.execute('SELECT 1'));
      expect(error).toBeInstanceOf(ConnectionError);
      expect(error).toMatchObject({ retryable: false });
      expect(performance.now() - started).toBeLessThan(2_000);
    }
    const started = performance.now();
    const { error } = await settle(db.execute('SELECT 1'));
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect((error as Error).cause).toMatchObject({ code: 'DAL_CONNECTION', retryable: false });
    expect((error as Error).message).toContain('password authentication failed');
    // Five attempts (not retried: waiting cannot fix credentials), then only probes.
    expect(driver.stats.connectAttempts).toBeLessThanOrEqual(8);
  }, 30_000);
});
