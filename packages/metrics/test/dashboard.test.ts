import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, DatabaseConfig, PoolManager } from '@dal/core';
import { SqliteDatabase } from '@dal/driver-sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShardMap, ShardedDatabase } from '@dal/sharding';
import { registerShardingSource, serveDashboard, type Dashboard } from '../src/index.js';
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

  it('lists each registered sharded database: physical databases and logical shards with requests and errors, live through a move (screenshot)', async () => {
    const sharded = new ShardedDatabase(
      ShardMap.fromJSON({
        version: 1,
        logicalShards: 8,
        databases: { 'orders-a': { backend: 'sqlite', config: { database: tmp.file('orders-a.db') } }, 'orders-b': { backend: 'sqlite', config: { database: tmp.file('orders-b.db') } } },
        shards: { '0-3': 'orders-a', '4-7': 'orders-b' },
      }),
      { tables: [{ name: 'orders', keyColumn: 'tenant' }] },
    );
    const registration = registerShardingSource('orders', sharded);
    const browser = await launchChromium();
    try {
      expect(registerShardingSource('orders', sharded)).toBe(registration);
      expect(() => registerShardingSource('orders', { status: () => sharded.status() })).toThrow(ConfigError);
      await sharded.forEachShard((db) => db.execute('CREATE TABLE [orders] ([id] BIGINT PRIMARY KEY, [tenant] TEXT NOT NULL)'));
      for (let i = 0; i < 24; i++) await sharded.shard(`t${i}`).execute('INSERT INTO [orders] ([id], [tenant]) VALUES (?, ?)', [sharded.newId(`t${i}`), `t${i}`]);
      const failing = sharded.shardOf('t3');
      await expect(sharded.shard('t3').execute('SELECT * FROM [no_such_table]')).rejects.toThrow();
      const status = sharded.status();

      // JSON and Prometheus carry the status() numbers.
      const body = (await (await fetch(new URL('api/pools', page.url), { signal: AbortSignal.timeout(5_000) })).json()) as { shardings: Array<Record<string, unknown>> };
      expect(body.shardings.find((s) => s['name'] === 'orders')).toEqual(JSON.parse(JSON.stringify({ name: 'orders', ...status })));
      const { samples } = parseExposition(await (await fetch(new URL('metrics', page.url), { signal: AbortSignal.timeout(5_000) })).text());
      const shardRow = status.shards[failing]!;
      expect(sampleOf(samples, 'dal_shard_requests_total', { sharding: 'orders', shard: String(failing), database: shardRow.database })).toBe(shardRow.requests);
      expect(sampleOf(samples, 'dal_shard_errors_total', { sharding: 'orders', shard: String(failing), database: shardRow.database })).toBe(1);
      for (const d of status.databases) {
        expect(sampleOf(samples, 'dal_shard_database_requests_total', { sharding: 'orders', database: d.name, backend: 'sqlite' })).toBe(d.requests);
        expect(sampleOf(samples, 'dal_shard_database_errors_total', { sharding: 'orders', database: d.name })).toBe(d.errors);
        expect(sampleOf(samples, 'dal_shard_database_shards', { sharding: 'orders', database: d.name })).toBe(4);
      }
      expect(sampleOf(samples, 'dal_shard_map_version', { sharding: 'orders' })).toBe(1);
      expect(status.databases.reduce((sum, d) => sum + d.requests, 0)).toBe(2 + 24 + 1); // fan-out, inserts, the failure

      const tab = await browser.context.newPage();
      await tab.setViewportSize({ width: 1200, height: 900 });
      const errors: string[] = [];
      tab.on('pageerror', (e) => errors.push(e.message));
      await tab.goto(page.url);
      const panel = tab.locator('[data-sharding="orders"]');
      expect(await panel.locator('[data-field="summary"]').textContent({ timeout: 5_000 })).toBe('shard map version 1 · 8 logical shards on 2 databases');
      const dbA = panel.locator('.shard-databases tr[data-database="orders-a"]');
      expect(await dbA.locator('[data-field="shards"]').textContent()).toBe('0-3');
      expect(await dbA.locator('[data-field="requests"]').textContent()).toBe(String(status.databases[0]!.requests));
      const failingRow = panel.locator(`.shard-list tr[data-shard="${failing}"]`);
      expect(await failingRow.locator('[data-field="errors"]').textContent()).toBe('1');
      expect(await failingRow.getAttribute('class')).toContain('failing');
      expect(await panel.locator('.shard-list tbody tr').count()).toBe(8);

      // A move shows on the next poll: new version, the shard on its new database.
      await sharded.moveShard(0, 'orders-b');
      expect(await waitFor(async () => (await panel.locator('[data-field="summary"]').textContent()) === 'shard map version 2 · 8 logical shards on 2 databases')).toBe(true);
      expect(await panel.locator('.shard-list tr[data-shard="0"] [data-field="database"]').textContent()).toBe('orders-b');
      expect(await panel.locator('.shard-databases tr[data-database="orders-b"] [data-field="shards"]').textContent()).toBe('0, 4-7');
      expect(errors).toEqual([]);
      const picture = process.env['DAL_UPDATE_SCREENSHOT'] === '1' ? new URL('../docs/dashboard-sharding.png', import.meta.url).pathname : join(tmpdir(), `dal-dashboard-sharding-${process.pid}.png`);
      // The section stays, its panels are redrawn at every poll.
      expect((await tab.locator('#shardings').screenshot({ path: picture })).length).toBeGreaterThan(1_000);

      registration.unregister();
      const after = (await (await fetch(new URL('api/pools', page.url), { signal: AbortSignal.timeout(5_000) })).json()) as { shardings: unknown[] };
      expect(after.shardings).toEqual([]);
    } finally {
      registration.unregister();
      await browser.close();
      await sharded.close();
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
