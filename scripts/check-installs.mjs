#!/usr/bin/env node
// Installs the packages as users do, from the registry's point of view: every public package is
// packed with `pnpm pack`, linted (publint, @arethetypeswrong/cli), and installed from its tarball
// into scratch apps with npm and with pnpm (strict layout):
//   sqlite              @dal/core @dal/driver-sqlite better-sqlite3: a query runs from ESM and CJS,
//                       app.ts type-checks with moduleResolution node16 and bundler
//   postgres-without-pg @dal/core @dal/driver-postgres, pg not installed: DriverNotInstalledError naming pg
//   consumer            every public package: examples/consumer-check's type checks and export check
// then runs `changeset version` on a throwaway copy of the release files to show the version plan.
// After the packing, the linting, the npm apps, the pnpm apps and the release dry run run side by
// side (most of an install is waiting for the registry). Exits non-zero on any failure.
// Run after the build: `node scripts/check-installs.mjs [--keep]` (npm test runs it after the tests).
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

const root = join(import.meta.dirname, '..');
const consumerCheck = join(root, 'examples/consumer-check');
const PNPM = ['npx', '-y', 'pnpm@12.4.2'];
const TSC = join(root, 'node_modules/typescript/bin/tsc');
// Every install talks to the registry for third-party packages; none may hang the build.
const INSTALL_TIMEOUT_MS = 5 * 60_000;
const keep = process.argv.includes('--keep');
const started = Date.now();
const work = mkdtempSync(join(tmpdir(), 'dal-check-installs-'));
// Kept between runs so a second run installs from cache (--prefer-offline) instead of the registry.
// pnpm needs no such folder: its store (the one the workspace installs from) is already shared.
const npmCache = join(tmpdir(), 'dal-check-installs-npm-cache');
// Where pnpm falls back to compiling better-sqlite3, point node-gyp at Debian's Node headers.
const nodeGypEnv = existsSync('/usr/include/node/node.h') ? { npm_config_nodedir: '/usr' } : {};

let passed = 0;
let failed = 0;

/**
 * Run a program; resolves to whether it exited 0 (never rejects). Its output is printed, indented
 * and in one piece, only when it fails (or with `show`).
 */
function sh(command, args, { cwd = root, env = {}, show = false, timeout = INSTALL_TIMEOUT_MS } = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, timeout, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    let finished = false;
    // A child that fails to start reports 'error' and may report 'close' too: only the first counts.
    const finish = (ok, reason) => {
      if (finished) return;
      finished = true;
      if (!ok || show) {
        const lines = [output.trim().replace(/^/gm, '    ')];
        if (!ok) lines.push(`    (${[command, ...args].join(' ')} in ${cwd}: ${reason})`);
        console.log(lines.filter((line) => line.trim() !== '').join('\n'));
      }
      resolve(ok);
    };
    child.on('error', (error) => finish(false, error.message));
    child.on('close', (code, signal) => finish(code === 0, signal === null ? `exit ${code}` : `killed by ${signal}${signal === 'SIGTERM' ? ` after ${timeout / 1000} s` : ''}`));
  });
}

/** Record one check's outcome; `scope` prefixes the line, as the parts run side by side. */
function check(scope, title, ok) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? '✓' : '✗'} ${scope}: ${title}`);
  return ok;
}

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));
const writeJson = (path, value) => writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(0)} s`;

// ---------------------------------------------------------------------------------------------
// 1. Pack every public package with one recursive `pnpm pack` (it turns workspace:^ into the
//    real version range).

const publicPackages = readdirSync(join(root, 'packages'))
  .map((name) => join(root, 'packages', name, 'package.json'))
  .filter((file) => existsSync(file) && readJson(file).private !== true)
  .map((file) => readJson(file));

const tarballDir = join(work, 'tarballs');
mkdirSync(tarballDir);
/** Package name -> absolute path of its tarball (named as npm and pnpm name it). */
const tarballs = new Map();
{
  const since = Date.now();
  const filters = publicPackages.flatMap((pkg) => ['--filter', pkg.name]);
  const packed = await sh(PNPM[0], [...PNPM.slice(1), ...filters, '--recursive', 'pack', '--pack-destination', tarballDir]);
  for (const pkg of publicPackages) {
    const file = join(tarballDir, `${pkg.name.replace('@', '').replace('/', '-')}-${pkg.version}.tgz`);
    if (check('pack', pkg.name, packed && existsSync(file))) tarballs.set(pkg.name, file);
  }
  console.log(`  (packed ${publicPackages.length} public packages in ${seconds(since)})`);
}

// ---------------------------------------------------------------------------------------------
// 2. Lint each tarball as published (publint --strict, attw): scripts/lint-tarballs.mjs, in its
//    own process so that its TypeScript work does not hold up this one's event loop.

async function lintTarballs() {
  const since = Date.now();
  const ok = await sh(process.execPath, [join(root, 'scripts/lint-tarballs.mjs'), ...tarballs.values()], { show: true });
  check('lint', `publint and attw on ${tarballs.size} tarballs (${seconds(since)})`, ok);
}

// ---------------------------------------------------------------------------------------------
// 3. Scratch apps, each installed with npm and with pnpm.

/** The versions the workspace itself tests with, for third-party packages the apps need. */
const consumerManifest = readJson(join(consumerCheck, 'package.json'));
const workspaceVersion = (name) =>
  consumerManifest.dependencies?.[name] ?? consumerManifest.devDependencies?.[name] ?? readJson(join(root, 'package.json')).devDependencies?.[name];

/** file: specs for @dal packages, others at the workspace's version. */
function dependencySpecs(names) {
  return Object.fromEntries(
    names.map((name) => {
      if (name.startsWith('@dal/')) {
        if (!tarballs.has(name)) throw new Error(`${name} was not packed`);
        return [name, `file:${tarballs.get(name)}`];
      }
      const version = workspaceVersion(name);
      if (version === undefined) throw new Error(`no workspace version for ${name}`);
      return [name, version];
    }),
  );
}

/**
 * Other @dal packages reached through dependencies come from their tarballs too, never from the
 * registry (where @dal/* is not this build, or not published yet).
 */
function tarballOverrides(except = {}) {
  return Object.fromEntries([...tarballs].filter(([name]) => !(name in except)).map(([name, file]) => [name, `file:${file}`]));
}

/**
 * better-sqlite3 downloads a prebuilt binary on install, or compiles (about 2 minutes per app)
 * when it cannot, as here where only the npm registry is reachable. The workspace has compiled the
 * same version for this Node already: place it where prebuild-install looks for a previous
 * download (its cache in the npm cache folder, which both managers' installs are pointed at), so
 * each install takes the path a user's install takes on a machine that can download. Without a
 * matching workspace copy, the installs compile.
 */
async function seedBetterSqlite3Prebuild() {
  const requireFromSqlite = createRequire(join(root, 'packages/driver-sqlite/package.json'));
  const manifestPath = requireFromSqlite.resolve('better-sqlite3/package.json');
  const dir = dirname(manifestPath);
  const manifest = readJson(manifestPath);
  const wanted = workspaceVersion('better-sqlite3');
  const binary = join(dir, 'build/Release/better_sqlite3.node');
  if (manifest.version !== wanted || !existsSync(binary)) {
    console.log(`  (no compiled better-sqlite3 ${wanted} in the workspace: the installs compile it)`);
    return;
  }
  // prebuild-install's own option reading and URL, so the cache entry is the one it looks for.
  const requireFromBetterSqlite3 = createRequire(manifestPath);
  const prebuildUtil = requireFromBetterSqlite3('prebuild-install/util');
  const url = prebuildUtil.getDownloadUrl({ ...requireFromBetterSqlite3('prebuild-install/rc')(manifest), pkg: manifest });
  const cached = prebuildUtil.cachedPrebuild(url).replace(prebuildUtil.npmCache(), npmCache);
  mkdirSync(dirname(cached), { recursive: true });
  if (await sh('tar', ['-czf', cached, '-C', dir, 'build/Release/better_sqlite3.node'])) {
    console.log(`  better-sqlite3 ${manifest.version}: the workspace's compiled binary stands in for the download (${basename(cached)})`);
  }
}

const managers = {
  npm(app, { withoutPeers }) {
    writeJson(join(app.dir, 'package.json'), { ...app.manifest, overrides: tarballOverrides(app.manifest.dependencies) });
    // npm refuses an override of a direct dependency that differs from it, and needs none: the
    // direct tarball satisfies the others' ranges. npm installs required peers itself;
    // --legacy-peer-deps is how an npm user leaves them out.
    const args = ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', '--cache', npmCache];
    if (withoutPeers) args.push('--legacy-peer-deps');
    return sh('npm', args, { cwd: app.dir, env: { npm_config_cache: npmCache } });
  },
  pnpm(app, { withoutPeers }) {
    writeJson(join(app.dir, 'package.json'), app.manifest);
    // pnpm 12 reads overrides and build permissions from pnpm-workspace.yaml; autoInstallPeers
    // (on by default) is what a pnpm user turns off to leave peers out. Unlike npm, pnpm does not
    // let a direct file: dependency satisfy another package's ^0.1.0, so every @dal one is overridden.
    const overrides = Object.entries(tarballOverrides()).map(([name, spec]) => `  '${name}': '${spec}'`);
    const yaml = ['packages: []', 'allowBuilds:', '  better-sqlite3: true', '  esbuild: true', `autoInstallPeers: ${!withoutPeers}`, 'overrides:', ...overrides, ''];
    writeFileSync(join(app.dir, 'pnpm-workspace.yaml'), yaml.join('\n'));
    return sh(PNPM[0], [...PNPM.slice(1), 'install', '--prefer-offline', '--reporter=append-only'], { cwd: app.dir, env: { npm_config_cache: npmCache, ...nodeGypEnv } });
  },
};

/** A scratch app: sources copied from examples/consumer-check, a package.json written here. */
function scratchApp(manager, name, sources, manifest) {
  const dir = join(work, manager, name);
  mkdirSync(dir, { recursive: true });
  for (const source of sources) cpSync(join(consumerCheck, source), join(dir, basename(source)), { recursive: true });
  return { dir, manifest: { name: `dal-install-check-${name}`, private: true, type: 'module', ...manifest } };
}

/** Install `app` with `manager`, reporting how long it took; whether it worked. */
async function install(manager, app, what, options) {
  const since = Date.now();
  const ok = await managers[manager](app, options);
  return check(manager, `install ${what} (${seconds(since)})`, ok);
}

/**
 * tsc over `files` as a user's project would compile them, for one module resolution. The
 * installed .d.ts files are checked too (skipLibCheck off: a type they import from a package the
 * app does not have is an error), TypeScript's own lib files are not (a quarter of the time).
 */
function typecheck(dir, files, resolution) {
  const modes = { node16: ['--module', 'node16', '--moduleResolution', 'node16'], bundler: ['--module', 'esnext', '--moduleResolution', 'bundler'] };
  return sh(process.execPath, [TSC, '--noEmit', '--strict', '--target', 'es2022', '--types', 'node', '--skipLibCheck', 'false', '--skipDefaultLibCheck', ...modes[resolution], ...files], { cwd: dir });
}

async function sqliteApp(manager) {
  const app = scratchApp(manager, 'sqlite', ['apps/sqlite/query.mjs', 'apps/sqlite/query.cjs', 'apps/sqlite/app.ts'], {
    dependencies: dependencySpecs(['@dal/core', '@dal/driver-sqlite', 'better-sqlite3']),
    devDependencies: dependencySpecs(['@types/node']),
  });
  if (!(await install(manager, app, '@dal/core @dal/driver-sqlite better-sqlite3', { withoutPeers: false }))) return;
  check(manager, 'sqlite app runs a query from ESM', await sh('node', ['query.mjs'], { cwd: app.dir, timeout: 30_000 }));
  check(manager, 'sqlite app runs a query from CommonJS', await sh('node', ['query.cjs'], { cwd: app.dir, timeout: 30_000 }));
  for (const resolution of ['node16', 'bundler']) check(manager, `sqlite app type-checks with moduleResolution ${resolution}`, await typecheck(app.dir, ['app.ts'], resolution));
}

async function postgresWithoutPgApp(manager) {
  const app = scratchApp(manager, 'postgres-without-pg', ['apps/postgres-without-pg/missing-pg.mjs', 'apps/postgres-without-pg/missing-pg.cjs'], {
    dependencies: dependencySpecs(['@dal/core', '@dal/driver-postgres']),
  });
  if (!(await install(manager, app, '@dal/core @dal/driver-postgres without peers', { withoutPeers: true }))) return;
  check(manager, 'no pg gives DriverNotInstalledError naming pg (ESM)', await sh('node', ['missing-pg.mjs'], { cwd: app.dir, timeout: 30_000, show: true }));
  check(manager, 'no pg gives DriverNotInstalledError naming pg (CommonJS)', await sh('node', ['missing-pg.cjs'], { cwd: app.dir, timeout: 30_000, show: true }));
}

/** examples/consumer-check, with every public package from its tarball instead of the workspace. */
async function consumerApp(manager) {
  const app = scratchApp(manager, 'consumer', ['src', 'check-exports.mjs', 'esm-only.mjs', 'tsconfig.json', 'tsconfig.cjs.json'], {
    dependencies: { ...consumerManifest.dependencies, ...dependencySpecs([...tarballs.keys()]) },
    devDependencies: dependencySpecs(['@types/node']),
  });
  // The example extends the workspace's base config: give the copy its own.
  cpSync(join(root, 'tsconfig.base.json'), join(app.dir, 'tsconfig.base.json'));
  for (const file of ['tsconfig.json', 'tsconfig.cjs.json']) {
    const config = readJson(join(app.dir, file));
    writeJson(join(app.dir, file), { ...config, extends: './tsconfig.base.json' });
  }
  if (!(await install(manager, app, 'every public package', { withoutPeers: false }))) return;
  const tsc = (args) => sh(process.execPath, [TSC, '--noEmit', ...args], { cwd: app.dir });
  check(manager, 'consumer type-checks as ESM, moduleResolution node16', await tsc(['-p', 'tsconfig.json']));
  check(manager, 'consumer type-checks as CommonJS, moduleResolution node16', await tsc(['-p', 'tsconfig.cjs.json']));
  check(manager, 'consumer type-checks with moduleResolution bundler', await tsc(['-p', 'tsconfig.json', '--module', 'esnext', '--moduleResolution', 'bundler']));
  check(manager, 'every package loads from ESM and CommonJS with the same exports', await sh('node', ['check-exports.mjs'], { cwd: app.dir, timeout: 60_000 }));
}

/** One manager's apps, one after the other (each install reuses what the previous one cached). */
async function scratchApps(manager) {
  const since = Date.now();
  await sqliteApp(manager);
  await postgresWithoutPgApp(manager);
  await consumerApp(manager);
  console.log(`  (${manager} apps: ${seconds(since)})`);
}

// ---------------------------------------------------------------------------------------------
// 4. Release dry run: `changeset version` on a throwaway copy of exactly what it reads and
//    writes (the manifests, changelogs and .changeset/), never on this tree; nothing is published.

async function releaseDryRun() {
  const copy = join(work, 'release');
  const workspaceDirs = ['packages', 'examples'].flatMap((d) => readdirSync(join(root, d)).map((n) => join(d, n))).concat('bench');
  for (const file of ['package.json', 'pnpm-workspace.yaml', '.changeset', ...workspaceDirs.flatMap((d) => [join(d, 'package.json'), join(d, 'CHANGELOG.md')])]) {
    if (existsSync(join(root, file))) cpSync(join(root, file), join(copy, file), { recursive: true });
  }
  // The changelog generator named in .changeset/config.json resolves from the copy.
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'), 'dir');
  const ok = await sh(process.execPath, [join(root, 'node_modules/@changesets/cli/bin.js'), 'version'], { cwd: copy, timeout: 120_000 });
  if (ok) {
    const plan = workspaceDirs
      .filter((d) => existsSync(join(root, d, 'package.json')))
      .map((d) => [readJson(join(root, d, 'package.json')), readJson(join(copy, d, 'package.json'))])
      .filter(([before, after]) => before.version !== after.version)
      .map(([before, after]) => `    ${after.name}: ${before.version} -> ${after.version}`);
    console.log(plan.length > 0 ? `  version plan (not published):\n${plan.join('\n')}` : '  no pending changesets: nothing would be released');
  }
  check('release', 'changeset version on a throwaway copy shows the version plan', ok);
}

if (tarballs.size === publicPackages.length) {
  await seedBetterSqlite3Prebuild();
  await Promise.all([lintTarballs(), scratchApps('npm'), scratchApps('pnpm'), releaseDryRun()]);
}

if (keep) console.log(`\nscratch apps kept in ${work}`);
else rmSync(work, { recursive: true, force: true });
console.log(`\ninstall checks took ${seconds(started)}: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
