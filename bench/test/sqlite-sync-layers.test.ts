import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const script = fileURLToPath(new URL('../src/sqlite-sync-layers.mjs', import.meta.url));

// Smoke test of the sync-connection layers bench: it must run every layer and print its row. No timing assertions.
it('sqlite-sync-layers.mjs measures each layer of the sync connection and prints a row for each', () => {
  const result = spawnSync(process.execPath, ['--expose-gc', script, '--rounds', '1', '--ms', '50', '--concurrency', '4'], { encoding: 'utf8', timeout: 90_000 });
  expect(result.status, `${result.stdout}${result.stderr}${result.error?.message ?? ''}`).toBe(0);
  const layers = ['better-sqlite3 (raw)', 'raw, timed', 'raw, timed, rounding check', 'driver reader, timed', '@dal syncConnection()'];
  for (const layer of layers) {
    const escaped = layer.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(result.stdout).toMatch(new RegExp(`^\\| ${escaped} \\| [\\d,]+ \\| \\d+\\.\\d{3} \\| \\d+\\.\\d{2} \\|$`, 'm'));
  }
}, 100_000);
