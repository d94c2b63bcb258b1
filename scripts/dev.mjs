#!/usr/bin/env node
// The two commands of the README, with nothing but Node 20 installed:
//   npm run quickstart  -> install, build, run examples/quickstart on embedded SQLite
//   npm test            -> install, build, make sure PostgreSQL and MariaDB answer, run every test,
//                          then the install checks (scripts/check-installs.mjs)
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const PNPM = ['-y', 'pnpm@12.4.2'];

function run(command, args, env = {}) {
  console.log(`\n$ ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (result.status !== 0) {
    console.error(`\n✗ ${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
    process.exit(result.status ?? 1);
  }
}

function pnpm(...args) {
  // better-sqlite3 compiles from source where no prebuilt binary can be downloaded; point
  // node-gyp at the headers Debian's nodejs package installs, when they are there.
  const env = existsSync('/usr/include/node/node.h') ? { npm_config_nodedir: '/usr' } : {};
  run('npx', [...PNPM, ...args], env);
}

const task = process.argv[2];
if (task !== 'quickstart' && task !== 'test') {
  console.error('usage: node scripts/dev.mjs quickstart|test');
  process.exit(2);
}

pnpm('install', '--frozen-lockfile');
pnpm('exec', 'turbo', 'run', 'build', '--output-logs=errors-only');

if (task === 'quickstart') {
  // Extra arguments go to the quickstart: npm run quickstart -- --backend pglite
  run('node', ['examples/quickstart/dist/index.js', ...process.argv.slice(3)]);
} else {
  for (const dir of ['packages', 'examples'].flatMap((d) => (existsSync(join(root, d)) ? readdirSync(join(root, d)).map((n) => join(root, d, n)) : []))) {
    rmSync(join(dir, '.vitest-report.json'), { force: true });
  }
  run('node', ['scripts/ensure-servers.mjs']);
  pnpm('exec', 'turbo', 'run', 'typecheck', '--output-logs=errors-only');
  // One package at a time: the timing tests (timeouts within 100 ms) need a quiet machine.
  const tests = spawnSync('npx', [...PNPM, 'exec', 'turbo', 'run', 'test', '--concurrency=1', '--continue', '--output-logs=full'], {
    cwd: root,
    stdio: 'inherit',
  });
  run('node', ['examples/quickstart/dist/index.js']);
  // The quickstart on a plugin backend too: the embedded PostgreSQL of @dal/driver-pglite.
  run('node', ['examples/quickstart/dist/index.js', '--backend', 'pglite']);
  // The packages as users install them (packed tarballs into npm and pnpm apps, publint, attw,
  // a changeset dry run): after the tests, whatever they gave, and failing npm test if it fails.
  // DAL_SKIP_INSTALL_CHECKS=1 leaves them out (they need the npm registry).
  let installsOk = true;
  if (process.env.DAL_SKIP_INSTALL_CHECKS === '1') console.log('\n(install checks skipped: DAL_SKIP_INSTALL_CHECKS=1)');
  else installsOk = spawnSync('node', ['scripts/check-installs.mjs'], { cwd: root, stdio: 'inherit' }).status === 0;
  run('node', ['scripts/summarize-tests.mjs']);
  if (!installsOk) console.error('✗ install checks failed (scripts/check-installs.mjs, above)');
  process.exit(tests.status !== 0 ? (tests.status ?? 1) : installsOk ? 0 : 1);
}
