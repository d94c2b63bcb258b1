import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, DatabaseConfig, PoolManager } from '@dal/core';
import { SqliteDatabase } from '@dal/driver-sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveDashboard, type Dashboard } from '../src/index.js';
import { launchChromium, parseExposition, sampleOf, tempDir, waitFor } from './helpers.js';

// Markup in an alias must be shown as text, never run.
const ALIAS = '<img src=x onerror="window.__pwned=1">metrics_dash';
const tmp = tempDir('metrics-dashboard-');
let db: SqliteDatabase;
let slowDb: SqliteDatabase;
let page: Dashboard;

beforeAll(async () => {
  db = new SqliteDatabase(new DatabaseConfig({ database: tmp.file('dash.db'), alias: ALIAS, poolMin: 1, poolMax: 4 }));
  await db.withConnection((conn) => conn.execute('SELECT 1', [], { tags: { operation: 'ping' } }));
  page = await serveDashboard({ port: 0, refreshMs: 100 });
});

afterAll(async () => {
  await page?.close();
  await db?.close();
  await slowDb?.close();
  tmp.cleanup();
});

describe('serveDashboard', () => {
  it('serves the page with a strict content security policy and no inline script', async () => {
    expect(page.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const res = await fetch(page.url, { signal: AbortSignal.timeout(5_000) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await res.text();
    expect(html).toContain('<script src="app.js" defer></script>');
    expect(html).not.toMatch(/<script>/);
    expect(html).not.toContain('metrics_dash'); // pool data only travels as JSON
  });

  it('serves /api/pools with the numbers of PoolManager', async () => {
    const body = (await (await fetch(new URL('api/pools', page.url), { signal: AbortSignal.timeout(5_000) })).json()) as { pools: Array<Record<string, unknown>> };
    const status = PoolManager.getPoolStatus(db.config.hash())!;
    const mine = body.pools.find((p) => p['alias'] === ALIAS);
    expect(mine).toMatchObject({
      name: ALIAS,
      system: 'sqlite',
      utilisation: status.utilisation,
      acquisitions: status.metrics.acquisitions,
      acquisitionTimeouts: status.metrics.acquisitionTimeouts,
      scaling: { level: status.scaling.level, advice: status.scaling.advice },
      sizes: { max: 4, min: 1 },
    });
  });

  it('serves /metrics as Prometheus text and answers 404 and 405', async () => {
    const res = await fetch(new URL('metrics', page.url), { signal: AbortSignal.timeout(5_000) });
    expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    const { samples } = parseExposition(await res.text());
    expect(sampleOf(samples, 'dal_pool_connections_max', { pool: ALIAS })).toBe(4);
    expect((await fetch(new URL('nope', page.url), { signal: AbortSignal.timeout(5_000) })).status).toBe(404);
    expect((await fetch(page.url, { method: 'POST', signal: AbortSignal.timeout(5_000) })).status).toBe(405);
  });

  it('renders the alias as text in headless chromium (markup does not run)', async () => {
    const browser = await launchChromium();
    try {
      const tab = await browser.context.newPage();
      const errors: string[] = [];
      tab.on('pageerror', (e) => errors.push(e.message));
      tab.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      await tab.goto(page.url);
      const title = tab.locator('[data-field="alias"]', { hasText: 'metrics_dash' });
      expect(await title.textContent({ timeout: 5_000 })).toBe(ALIAS);
      const card = tab.locator('section.pool', { has: title });
      expect(await card.locator('[data-field="advice"]').textContent()).toBe(PoolManager.getPoolStatus(db.config.hash())!.scaling.advice);
      expect(await card.locator('[data-field="utilisation"]').textContent()).toBe('0.0 %');
      expect(await tab.locator('img').count()).toBe(0);
      expect(await tab.evaluate("typeof globalThis.__pwned")).toBe("undefined");
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('shows latency per operation (sortable), the last slow queries redacted, and errors by kind on charts with axes (screenshot)', async () => {
    // Every statement of this pool counts as slow: the slow-query panel is what is tested here.
    slowDb = new SqliteDatabase(new DatabaseConfig({ database: tmp.file('slow.db'), alias: 'metrics_dash_slow', slowQueryThresholdMs: 0.0001 }), { logger: {} });
    await slowDb.execute('CREATE TABLE [people] ([id] INTEGER PRIMARY KEY, [name] TEXT)');
    for (let i = 0; i < 3; i++) {
      await slowDb.execute("SELECT [id] FROM [people] WHERE [name] = 'literal-secret' AND [id] = ?", ['param-secret'], { tags: { operation: 'lookup' } });
    }
    for (let i = 0; i < 5; i++) await db.execute('SELECT 1', [], { tags: { operation: 'ping' } });
    const browser = await launchChromium();
    try {
      const tab = await browser.context.newPage();
      await tab.setViewportSize({ width: 1200, height: 900 });
      const errors: string[] = [];
      tab.on('pageerror', (e) => errors.push(e.message));
      await tab.goto(page.url);
      const mine = /metrics_dash$/; // ALIAS, not metrics_dash_slow
      const ping = tab.locator('#operations tr[data-operation="ping"]').filter({ has: tab.locator('[data-field="pool"]', { hasText: mine }) });
      const pingCount = PoolManager.getPoolStatus(db.config.hash())!.metrics.operations['ping']!.count;
      expect(await ping.locator('[data-field="count"]').textContent({ timeout: 5_000 })).toBe(String(pingCount));
      // SQLite's SELECT 1 takes well under 1 ms: the median is in the first bucket (0..1 ms). The tail
      // of five samples is whatever a busy machine made of one of them, but never below the median.
      const percentile = async (p: string): Promise<number> => Number(await ping.locator(`[data-field="${p}"]`).textContent());
      const [p50, p95, p99] = [await percentile('p50'), await percentile('p95'), await percentile('p99')];
      expect(p50).toBeLessThanOrEqual(1);
      expect(p95).toBeGreaterThanOrEqual(p50);
      expect(p99).toBeGreaterThanOrEqual(p95);

      // Sorting: count, descending then ascending (ping ran 6 times, lookup 3 times; CREATE TABLE is 'unknown').
      const counts = async (): Promise<number[]> => (await tab.locator('#operations tbody [data-field="count"]').allTextContents()).map(Number);
      await tab.click('#operations th[data-sort="count"]');
      const descending = await counts();
      expect(descending).toEqual([...descending].sort((x, y) => y - x));
      await tab.click('#operations th[data-sort="count"]');
      const ascending = await counts();
      expect(ascending).toEqual([...ascending].sort((x, y) => x - y));
      expect(await tab.locator('#operations th[data-sort="count"]').getAttribute('aria-sort')).toBe('ascending');

      const lookup = tab.locator('#slow tbody tr', { hasText: 'lookup' }).first();
      expect(await lookup.locator('[data-field="sql"]').textContent()).toBe('SELECT "id" FROM "people" WHERE "name" = ? AND "id" = ?');
      expect(await lookup.locator('[data-field="params"]').textContent()).toBe('[1 redacted]');
      expect(await lookup.locator('[data-field="tags"]').textContent()).toBe('operation=lookup');
      expect(await lookup.locator('[data-field="pool"]').textContent()).toBe('metrics_dash_slow');
      expect(await lookup.locator('[data-field="duration"]').textContent()).toMatch(/ ms$/);

      // An error after the page started shows in the errors-by-kind chart and legend.
      await expect(db.execute('SELECT * FROM [no_such_table]')).rejects.toThrow();
      const queryErrors = PoolManager.getPoolStatus(db.config.hash())!.metrics.errorsByCategory.query;
      expect(await waitFor(async () => (await tab.locator('#errors-legend [data-kind="query"]').textContent()) === `query ${queryErrors}`)).toBe(true);
      expect(await tab.locator('#errors-chart [data-axis="y-max"]').textContent()).toMatch(/\/s$/);
      expect(await tab.locator('#errors-chart [data-axis="x-end"]').textContent()).toBe('now');
      const waitChart = tab.locator('section.pool', { has: tab.locator('[data-field="alias"]', { hasText: mine }) }).locator('[data-chart="wait"]');
      expect(await waitChart.locator('[data-axis="y-max"]').textContent()).toMatch(/ ms$/);
      expect(await waitChart.locator('[data-axis="y-min"]').textContent()).toBe('0.00 ms');

      const text = (await tab.textContent('body')) ?? '';
      expect(text).not.toContain('literal-secret');
      expect(text).not.toContain('param-secret');
      expect(errors).toEqual([]);
      const picture = process.env['DAL_UPDATE_SCREENSHOT'] === '1' ? new URL('../docs/dashboard.png', import.meta.url).pathname : join(tmpdir(), `dal-dashboard-overview-${process.pid}.png`);
      expect((await tab.screenshot({ path: picture, fullPage: true })).length).toBeGreaterThan(1_000);
    } finally {
      await browser.close();
    }
  });

  it('rejects invalid options and a port in use with ConfigError', async () => {
    await expect(serveDashboard({ port: -1 })).rejects.toBeInstanceOf(ConfigError);
    await expect(serveDashboard({ refreshMs: 0 })).rejects.toBeInstanceOf(ConfigError);
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const error = await serveDashboard({ port }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).cause).toMatchObject({ code: 'EADDRINUSE' });
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});
