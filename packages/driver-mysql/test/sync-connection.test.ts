import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MYSQL_URL } from './helpers.js';

describe('MySQL sync connection edges', () => {
  it('a process exits on its own with a sync connection still open', () => {
    const started = performance.now();
    const child = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { DatabaseConfig } from '@dal/core';
         import { MysqlDatabase } from '@dal/driver-mysql';
         const db = new MysqlDatabase(DatabaseConfig.fromUrl(process.argv[1], { alias: 'exit_check' }));
         console.log(JSON.stringify(db.syncConnection().execute('SELECT 1 AS [one]')));`,
        MYSQL_URL,
      ],
      { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8', timeout: 15_000 },
    );
    expect(child.stderr).toBe('');
    expect(child.stdout.trim()).toBe('[{"one":1}]');
    expect(child.status).toBe(0);
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});
