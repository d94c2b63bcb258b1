import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const script = fileURLToPath(new URL('../src/tracing-off.mjs', import.meta.url));

// Smoke test of the tracing-off bench (issue 21): it must run every mode and print its row. No timing assertions.
it('tracing-off.mjs measures each mode in its own process and prints a row for each', () => {
  const result = spawnSync(process.execPath, ['--expose-gc', script, '--rounds', '1', '--ms', '50', '--concurrency', '4'], { encoding: 'utf8', timeout: 90_000 });
  expect(result.status, `${result.stdout}${result.stderr}${result.error?.message ?? ''}`).toBe(0);
  for (const mode of ['never', 'unregistered', 'registered']) expect(result.stdout).toMatch(new RegExp(`^\\| ${mode} \\| [\\d,]+ \\| \\d+\\.\\d{3} \\| \\d+\\.\\d{3} \\|$`, 'm'));
}, 100_000);
