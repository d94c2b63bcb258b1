import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // import.meta.url in the CJS build (createRequire for lazy driver loading).
  shims: true,
  // Drivers are loaded lazily by DatabaseFactory and are never bundled into core.
  external: [/^@dal\/driver-/],
});
