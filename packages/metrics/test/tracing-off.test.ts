import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// Issue 21: "nothing is loaded when tracing is off". An app on core and a driver, in a fresh
// process (vitest's own module graph would blur the answer), runs a query with @opentelemetry/api
// installed next to it; every module its loaders resolve is logged and must include no OpenTelemetry one.
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const logs = mkdtempSync(join(tmpdir(), 'metrics-tracing-off-'));
afterAll(() => rmSync(logs, { recursive: true, force: true }));

/** Run a fixture app under module-log.mjs; the OpenTelemetry modules it loaded. */
function otelModulesLoaded(app: string, ...args: string[]): string[] {
  const log = join(logs, `${app}${args.join('')}.log`);
  const result = spawnSync(process.execPath, ['--import', './module-log.mjs', app, ...args], {
    cwd: fixtures,
    env: { ...process.env, DAL_MODULE_LOG: log },
    encoding: 'utf8',
    timeout: 20_000,
  });
  expect(result.status, `${result.stdout}${result.stderr}${result.error?.message ?? ''}`).toBe(0);
  const loaded = readFileSync(log, 'utf8').split('\n');
  // The log works: it saw the driver load.
  expect(loaded.some((file) => file.includes('driver-sqlite'))).toBe(true);
  return [...new Set(loaded.filter((file) => file.includes('@opentelemetry')))];
}

describe('with tracing never registered', () => {
  it.each(['sqlite-app.mjs', 'sqlite-app.cjs'])('%s loads no OpenTelemetry module while it runs a query', (app) => {
    expect(otelModulesLoaded(app)).toEqual([]);
  });

  it.each(['sqlite-app.mjs', 'sqlite-app.cjs'])('%s with --load-otel: the log sees OpenTelemetry loaded by import and by require', (app) => {
    const loaded = otelModulesLoaded(app, '--load-otel');
    // ESM loader entries are file: URLs, require()'s cache holds paths: both ways are watched.
    expect(loaded.filter((file) => file.startsWith('file:')).length).toBeGreaterThan(0);
    expect(loaded.filter((file) => file.startsWith('/')).length).toBeGreaterThan(0);
  });
});
