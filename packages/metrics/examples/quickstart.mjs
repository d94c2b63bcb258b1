// Quickstart: open a SQLite pool, run a few statements, print the pool status and the dashboard URL.
// Run after `pnpm --filter @dal/metrics build`: node examples/quickstart.mjs [--once]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseConfig, PoolManager } from '@dal/core';
import { SqliteDatabase } from '@dal/driver-sqlite';
import { prometheusText, serveDashboard } from '@dal/metrics';

const file = join(mkdtempSync(join(tmpdir(), 'dal-quickstart-')), 'app.db');
const db = new SqliteDatabase(new DatabaseConfig({ database: file, alias: 'quickstart', poolMax: 4 }));
for (let i = 0; i < 20; i++) {
  await db.withConnection((conn) => conn.execute('SELECT ? AS [n]', [i], { tags: { operation: 'count_up' } }));
}

const status = PoolManager.getPoolStatus(db.config.hash());
console.log(`pool ${status.alias}: ${status.sizes.inUse}/${status.sizes.max} in use, ${status.metrics.acquisitions} acquisitions`);
console.log(`scaling: ${status.scaling.level} (${status.scaling.advice}), timeout rate ${(status.scaling.timeoutRate * 100).toFixed(2)} %`);

const page = await serveDashboard({ port: 0 });
console.log(`dashboard: ${page.url}`);
console.log(`metrics:   ${page.url}metrics (${(await prometheusText()).split('\n').length} lines)`);

if (process.argv.includes('--once')) {
  await page.close();
  await db.close();
} else {
  process.once('SIGINT', async () => {
    await page.close();
    await db.close();
  });
}
