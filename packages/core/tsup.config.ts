import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.config.base.js';

export default defineConfig({
  ...packageBuild,
  // `@dal/core/testing` (the in-memory test driver) is a second entry.
  entry: { index: 'src/index.ts', testing: 'src/testing/index.ts' },
  // Both entries share one copy of core's classes (errors, ...) in CommonJS too, so that an error
  // thrown by the test driver is `instanceof` the class the main entry exports.
  splitting: true,
  // import.meta.url in the CJS build (createRequire for lazy driver loading).
  shims: true,
  // Drivers are loaded lazily by DatabaseFactory and are never bundled into core.
  external: [/^@dal\/driver-/],
});
