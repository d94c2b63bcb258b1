import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.config.base.js';

export default defineConfig({
  ...packageBuild,
  // ESM only: vitest, which the suite registers tests with, cannot be required from CommonJS.
  format: ['esm'],
  external: ['vitest'],
});
