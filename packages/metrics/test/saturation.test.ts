import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { DatabaseConfig, PoolManager, PoolTimeoutError, scalingFor, type Connection, type PoolStatus } from '@dal/core';
import { PostgresDatabase } from '@dal/driver-postgres';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prometheusText, serveDashboard, type Dashboard } from '../src/index.js';
import { launchChromium, otelHarness, otelValue, parseExposition, PG_URL, sampleOf, waitFor } from './helpers.js';

const ALIAS = 'metrics_saturation';
const LEVELS = ['normal', 'mild', 'high', 'critical'];
let db: PostgresDatabase;
let page: Dashboard;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let tab: Page;
const otel = otelHarness();

function status(): PoolStatus {
  const s = PoolManager.getPoolStatus(db.config.hash());
  if (s === undefined) throw new Error('pool not open');
  return s;
}

/** `n` fast acquisitions, at most 5 at a time: successful attempts that lower the timeout rate. */
async function fastQueries(n: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 5 }, async () => {
      while (next < n) {
        next++;
        await db.withConnection((conn) => conn.execute('SELECT 1', [], { tags: { operation: 'ping' } }));
      }
    }),
  );
}

/** 50 concurrent callers each holding a connection for ~50 ms; returns how many timed out. */
async function burst(): Promise<number> {
  const results = await Promise.allSettled(
    Array.from({ length: 50 }, () => db.withConnection((conn) => conn.execute('SELECT pg_sleep(0.05)', [], { tags: { operation: 'sleep' } }))),
  );
  let timeouts = 0;
  for (const r of results) {
    if (r.status === 'rejected') {
      if (r.reason instanceof PoolTimeoutError) timeouts++;
      else throw r.reason;
    }
  }
  return timeouts;
}

/** The rendered text of one field of the pool's card. */
async function shown(field: string): Promise<string> {
  return (await tab.locator(`[data-pool="${ALIAS}"] [data-field="${field}"]`).textContent({ timeout: 5_000 })) ?? '';
}

/** PoolManager, the Prometheus text, the OTel export and the page agree on the pool's state. */
async function expectAllAgree(observedTimeouts: number, observedAttempts: number): Promise<string> {
  const s = status();
  const level = s.scaling.level;
  // Everything happened within the 5-minute window, so the windowed rate is the test's own count.
  expect(s.metrics.acquisitionTimeouts).toBe(observedTimeouts);
  expect(s.metrics.acquisitions + s.metrics.acquisitionTimeouts).toBe(observedAttempts);
  expect(s.scaling.timeoutRate).toBeCloseTo(observedTimeouts / observedAttempts, 12);
  expect(level).toBe(scalingFor(observedTimeouts / observedAttempts, s.scaling.windowMs).level);

  const { samples } = parseExposition(await prometheusText());
  const pool = { pool: ALIAS, db_system: 'postgresql' };
  expect(sampleOf(samples, 'dal_pool_timeouts_total', pool)).toBe(observedTimeouts);
  expect(sampleOf(samples, 'dal_pool_acquisitions_total', pool)).toBe(s.metrics.acquisitions);
  expect(sampleOf(samples, 'dal_pool_timeout_rate', pool)).toBeCloseTo(s.scaling.timeoutRate, 12);
  expect(sampleOf(samples, 'dal_pool_scaling_level', { ...pool, level, advice: s.scaling.advice })).toBe(LEVELS.indexOf(level));

  const metrics = await otel.collect();
  const attrs = { 'db.client.connection.pool.name': ALIAS, 'db.system.name': 'postgresql' };
  expect(otelValue(metrics, 'db.client.connection.timeouts', attrs)).toBe(observedTimeouts);
  expect(otelValue(metrics, 'dal.client.connection.acquisitions', attrs)).toBe(s.metrics.acquisitions);
  expect(otelValue(metrics, 'dal.client.connection.timeout_rate', attrs)).toBeCloseTo(s.scaling.timeoutRate, 12);
  expect(otelValue(metrics, 'dal.client.connection.scaling.level', { ...attrs, 'dal.scaling.level': level })).toBe(LEVELS.indexOf(level));

  expect(await waitFor(async () => (await shown('level')) === level, 5_000), `page shows ${level}`).toBe(true);
  expect(await shown('advice')).toBe(s.scaling.advice);
  expect(await waitFor(async () => (await shown('timeouts')) === `${observedTimeouts} / ${s.metrics.acquisitions}`, 5_000)).toBe(true);
  return level;
}

beforeAll(async () => {
  db = new PostgresDatabase(
    DatabaseConfig.fromUrl(PG_URL, { alias: ALIAS, poolMin: 5, poolMax: 5, connectionAcquisitionTimeoutMs: 60, env: 'test' }),
  );
  await db.withConnection((conn) => conn.execute('SELECT 1'));
  page = await serveDashboard({ port: 0, refreshMs: 200 });
  browser = await launchChromium();
  tab = await browser.context.newPage();
  await tab.goto(page.url);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await page?.close();
  await db?.close();
  await otel.shutdown();
});

describe('saturation: pool of 5, 50 concurrent sleepers, 60 ms acquisition timeout', () => {
  it('moves the advice from normal to critical, and Prometheus, OTel and the page follow', async () => {
    let timeouts = 0;
    // One warm-up acquisition in beforeAll.
    let attempts = 1;
    await fastQueries(6_000);
    attempts += 6_000;
    const seen = [await expectAllAgree(timeouts, attempts)];
    expect(seen).toEqual(['normal']);

    // Each burst times out ~40 of 50 callers: against 6 000 successes the rate climbs by
    // roughly 0.6 % per burst, crossing 0.1 %, 1 % and 5 % one after the other.
    for (let i = 0; i < 30 && seen.at(-1) !== 'critical'; i++) {
      const t = await burst();
      expect(t).toBeGreaterThan(0);
      timeouts += t;
      attempts += 50;
      const level = await expectAllAgree(timeouts, attempts);
      if (level !== seen.at(-1)) seen.push(level);
    }
    expect(seen).toEqual(LEVELS);
  }, 120_000);

  it('shows utilisation of the connections in use and keeps a timeout-rate history (screenshot)', async () => {
    const held: Connection[] = [];
    try {
      await PoolManager.refreshCapacity(db.config.hash());
      const capacity = status().capacity;
      expect(capacity?.serverMaxConnections).toBeGreaterThan(0);
      for (let i = 0; i < 3; i++) held.push(await db.connection());
      expect(await waitFor(async () => (await shown('utilisation')) === '60.0 %', 5_000)).toBe(true);
      expect(await shown('in-use')).toBe('3 / 5');
      expect(await shown('alias')).toBe(ALIAS);
      expect(await shown('errors')).toBe(`pool ${status().metrics.errorsByCategory.pool}`);
      expect(await waitFor(async () => (await shown('server')).endsWith(` / ${capacity!.serverMaxConnections}`), 5_000)).toBe(true);
      const points = await tab.locator(`[data-pool="${ALIAS}"] .chart.rate polyline`).getAttribute('points');
      expect((points ?? '').split(' ').length).toBeGreaterThan(5);
      // The README's picture is refreshed on request only, so a test run leaves the tree unchanged.
      const picture = process.env['DAL_UPDATE_SCREENSHOT'] === '1' ? new URL('../docs/dashboard-saturation.png', import.meta.url).pathname : join(tmpdir(), `dal-dashboard-${process.pid}.png`);
      expect((await tab.screenshot({ path: picture })).length).toBeGreaterThan(1_000);
    } finally {
      await Promise.all(held.map((c) => c.release()));
    }
  });
});
