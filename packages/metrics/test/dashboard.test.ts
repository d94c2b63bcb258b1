import { createServer } from 'node:net';
import { ConfigError, DatabaseConfig, PoolManager } from '@dal/core';
import { SqliteDatabase } from '@dal/driver-sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveDashboard, type Dashboard } from '../src/index.js';
import { launchChromium, parseExposition, sampleOf, tempDir } from './helpers.js';

// Markup in an alias must be shown as text, never run.
const ALIAS = '<img src=x onerror="window.__pwned=1">metrics_dash';
const tmp = tempDir('metrics-dashboard-');
let db: SqliteDatabase;
let page: Dashboard;

beforeAll(async () => {
  db = new SqliteDatabase(new DatabaseConfig({ database: tmp.file('dash.db'), alias: ALIAS, poolMin: 1, poolMax: 4 }));
  await db.withConnection((conn) => conn.execute('SELECT 1', [], { tags: { operation: 'ping' } }));
  page = await serveDashboard({ port: 0, refreshMs: 100 });
});

afterAll(async () => {
  await page?.close();
  await db?.close();
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
