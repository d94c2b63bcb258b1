import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const runner = fileURLToPath(new URL('../src/run.mjs', import.meta.url));
const BACKENDS = ['postgres', 'mysql', 'sqlite'] as const;
const TABLES = [
  'Point select by primary key, concurrency 1',
  'Point select by primary key, concurrency 16',
  'Point select by primary key, concurrency 64',
  'Single-row insert, concurrency 1',
  'Single-row insert, concurrency 16',
  'Single-row insert, concurrency 64',
  'Mixed: 4 point selects to 1 single-row insert, concurrency 1',
  'Mixed: 4 point selects to 1 single-row insert, concurrency 64',
  'Bulk insert in one transaction',
  'entities through saveEntities',
  'pool saturation',
  'ms timeout',
] as const;

// The CI smoke test of issue #6: the quick mode must finish and print every table. No timing assertions.
describe('bench --quick', () => {
  let result: SpawnSyncReturns<string>;

  beforeAll(() => {
    result = spawnSync(process.execPath, ['--expose-gc', runner, '--quick'], { encoding: 'utf8', timeout: 150_000, env: process.env });
  }, 160_000);

  it('exits 0 within its time bound', () => {
    expect(result.error, result.stderr).toBeUndefined();
    expect(result.status, result.stdout + result.stderr).toBe(0);
  });

  it.each(BACKENDS)('prints every table for %s', (backend) => {
    expect(result.stdout).not.toContain(`## ${backend}: FAILED`);
    for (const table of TABLES) {
      expect(result.stdout).toMatch(new RegExp(`### ${backend}: [^\\n]*${table.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    }
  });

  it('prints the summary of where @dal is behind', () => {
    expect(result.stdout).toContain('## Where @dal is behind a peer');
  });
});
