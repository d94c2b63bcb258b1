// Loads every @dal package this app depends on through import() and require(), and checks both
// module systems expose the same names. Run in the workspace (built output) and, by
// scripts/check-installs.mjs, in scratch apps that installed the packed tarballs.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { COMMANDS, ESM_ONLY } from './esm-only.mjs';

const require = createRequire(import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const packages = Object.keys(manifest.dependencies).filter((name) => name.startsWith('@dal/'));
let failed = 0;
for (const name of packages) {
  if (COMMANDS[name] !== undefined) {
    const bin = fileURLToPath(new URL(`./node_modules/.bin/${COMMANDS[name]}`, import.meta.url));
    const help = spawnSync(bin, ['--help'], { encoding: 'utf8', timeout: 30_000 });
    if (help.status === 0 && help.stdout.includes(COMMANDS[name])) {
      console.log(`✓ ${name}: the ${COMMANDS[name]} command answers --help`);
    } else {
      failed++;
      console.error(`✗ ${name}: \`${COMMANDS[name]} --help\` exited ${help.status ?? help.signal}: ${help.stderr}`);
    }
    continue;
  }
  const esm = Object.keys(await import(name)).filter((k) => k !== 'default').sort();
  if (ESM_ONLY[name] !== undefined) {
    if (esm.length === 0) {
      failed++;
      console.error(`✗ ${name}: no ESM exports`);
    } else {
      console.log(`✓ ${name}: ${esm.length} exports (ESM only: ${ESM_ONLY[name]})`);
    }
    continue;
  }
  const cjs = Object.keys(require(name)).filter((k) => k !== 'default' && k !== '__esModule').sort();
  if (esm.length === 0 || JSON.stringify(esm) !== JSON.stringify(cjs)) {
    failed++;
    console.error(`✗ ${name}: ESM [${esm.join(', ')}] vs CJS [${cjs.join(', ')}]`);
  } else {
    console.log(`✓ ${name}: ${esm.length} exports, same from ESM and CJS`);
  }
}
console.log(`${packages.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 && packages.length > 0 ? 0 : 1);
