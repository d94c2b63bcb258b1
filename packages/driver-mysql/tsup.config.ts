import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.config.base.js';

// import.meta.url (used to read mysql2's version) also works in the CJS build.
export default defineConfig({ ...packageBuild, shims: true });
