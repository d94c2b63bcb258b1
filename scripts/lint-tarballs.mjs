#!/usr/bin/env node
// Lints packed packages as they would be published: `publint --strict` (warnings fail too) and
// @arethetypeswrong's checks, both through their libraries in this one process (one TypeScript
// load for every package instead of one per `attw` run). ESM_ONLY packages get attw's esm-only
// profile, which asks for no CommonJS entry; every other package the strict one. On a problem
// the attw CLI prints its table for that package. Exits 1 when any tarball has a problem.
//   node scripts/lint-tarballs.mjs <package.tgz>...      (scripts/check-installs.mjs runs it)
import { spawnSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { COMMANDS, ESM_ONLY } from '../examples/consumer-check/esm-only.mjs';

const root = join(import.meta.dirname, '..');
/** Resolutions each attw profile (the CLI's `--profile`) leaves out. */
const ATTW_PROFILES = { strict: [], 'esm-only': ['node10', 'node16-cjs'] };
// @arethetypeswrong/core is the CLI's dependency, which pnpm does not hoist: resolve it from there.
const attwCli = realpathSync(join(root, 'node_modules/@arethetypeswrong/cli/package.json'));
const attw = await import(pathToFileURL(createRequire(attwCli).resolve('@arethetypeswrong/core')).href);

const tarballs = process.argv.slice(2);
let failed = 0;
for (const tarball of tarballs) {
  const data = readFileSync(tarball);
  const { messages, pkg } = await publint({ pack: { tarball: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) }, strict: true });
  const name = pkg.name;
  const lintProblems = messages.filter((message) => message.type !== 'suggestion');
  for (const message of lintProblems) console.log(`    ${formatMessage(message, pkg)}`);
  report(`publint --strict ${name}`, lintProblems.length === 0);

  if (COMMANDS[name] !== undefined) {
    report(`attw skipped for ${name}: a command (bin ${COMMANDS[name]}), no library or types`, true);
    continue;
  }
  const profile = ESM_ONLY[name] === undefined ? 'strict' : 'esm-only';
  const analysis = await attw.checkPackage(attw.createPackageFromTarballData(new Uint8Array(data)));
  const typeProblems = analysis.types === false ? [{ kind: 'NoTypes' }] : analysis.problems.filter((problem) => !ATTW_PROFILES[profile].includes(problem.resolutionKind));
  if (typeProblems.length > 0) {
    const cli = spawnSync(join(root, 'node_modules/.bin/attw'), [tarball, '--profile', profile, '--format', 'table-flipped', '--no-color'], { encoding: 'utf8' });
    console.log(`${cli.stdout}${cli.stderr}`.trim().replace(/^/gm, '    '));
  }
  report(`attw --profile ${profile} ${name}${typeProblems.length > 0 ? ` (${[...new Set(typeProblems.map((p) => p.kind))].join(', ')})` : ''}`, typeProblems.length === 0);
}
process.exit(failed === 0 && tarballs.length > 0 ? 0 : 1);

function report(title, ok) {
  if (!ok) failed++;
  console.log(`${ok ? '✓' : '✗'} ${title}`);
}
