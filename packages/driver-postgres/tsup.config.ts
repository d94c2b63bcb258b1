import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.config.base.js';

// The CJS build needs import.meta.url (to read pg's version) shimmed.
export default defineConfig({ ...packageBuild, shims: true });
