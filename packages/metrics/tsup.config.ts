import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.config.base.js';

export default defineConfig({
  ...packageBuild,
  // import.meta.url in the CJS build: registerOtelTracing loads @opentelemetry/api relative to this package.
  shims: true,
});
