// Loads every package's built output through import() and require(), and checks both
// module systems expose the same names.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const packages = ['@dal/core', '@dal/resilience', '@dal/sql-translate', '@dal/driver-postgres', '@dal/driver-mysql', '@dal/driver-sqlite'];
// ESM only, because vitest (whose tests it registers) cannot be required from CommonJS.
const esmOnly = ['@dal/conformance'];
let failed = 0;
let checked = 0;
for (const name of packages) {
  const esm = Object.keys(await import(name)).filter((k) => k !== 'default').sort();
  const cjs = Object.keys(require(name)).filter((k) => k !== 'default' && k !== '__esModule').sort();
  checked++;
  if (esm.length === 0 || JSON.stringify(esm) !== JSON.stringify(cjs)) {
    failed++;
    console.error(`✗ ${name}: ESM [${esm.join(', ')}] vs CJS [${cjs.join(', ')}]`);
  } else {
    console.log(`✓ ${name}: ${esm.length} exports, same from ESM and CJS`);
  }
}
for (const name of esmOnly) {
  checked++;
  const esm = Object.keys(await import(name));
  if (esm.length === 0) {
    failed++;
    console.error(`✗ ${name}: no ESM exports`);
  } else {
    console.log(`✓ ${name}: ${esm.length} exports (ESM only)`);
  }
}
console.log(`${checked - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
