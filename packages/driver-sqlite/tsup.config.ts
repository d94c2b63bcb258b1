import { defineConfig } from 'tsup';

export default defineConfig({
  // The worker is its own entry: connections start it as dist/sqlite-worker.js.
  entry: ['src/index.ts', 'src/sqlite-worker.ts'],
  format: ['esm', 'cjs'],
  dts: { entry: 'src/index.ts' },
  sourcemap: true,
  clean: true,
  // import.meta.url in the CJS build, used to find the worker.
  shims: true,
  target: 'node20',
});
