import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.config.base.js';

export default defineConfig({
  ...packageBuild,
  // import.meta.url in the CJS build (createRequire for lazy driver loading).
  shims: true,
  // Drivers are loaded lazily by DatabaseFactory and are never bundled into core.
  external: [/^@dal\/driver-/],
});
