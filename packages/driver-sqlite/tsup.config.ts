import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.config.base.js';

export default defineConfig({
  ...packageBuild,
  // The worker is its own entry: connections start it as dist/sqlite-worker.js.
  entry: ['src/index.ts', 'src/sqlite-worker.ts'],
  dts: { entry: 'src/index.ts' },
  // import.meta.url in the CJS build, used to find the worker.
  shims: true,
});
