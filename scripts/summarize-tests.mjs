#!/usr/bin/env node
// Adds up the JSON reports each package's vitest run wrote, and prints one closing line.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
let passed = 0;
let failed = 0;
let skipped = 0;
// The workspaces of pnpm-workspace.yaml: every folder of packages/ and examples/, and bench/.
const dirs = [
  ...['packages', 'examples'].flatMap((d) => (existsSync(join(root, d)) ? readdirSync(join(root, d)).map((name) => join(root, d, name)) : [])),
  join(root, 'bench'),
];
for (const dir of dirs) {
  const file = join(dir, '.vitest-report.json');
  if (!existsSync(file)) continue;
  const report = JSON.parse(readFileSync(file, 'utf8'));
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  skipped += report.numPendingTests + (report.numTodoTests ?? 0);
}
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
