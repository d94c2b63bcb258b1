import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.config.base.js';

export default defineConfig({
  ...packageBuild,
  // The sync connection's worker is its own entry: connectSync starts it as dist/sync-worker.js.
  entry: ['src/index.ts', 'src/sync-worker.ts'],
  dts: { entry: 'src/index.ts' },
  // import.meta.url (mysql2's version, the worker's location) also works in the CJS build.
  shims: true,
});
