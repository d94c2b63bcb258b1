import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.config.base.js';

// A command, not a library: one ESM entry that keeps its `#!/usr/bin/env node` line, no types.
export default defineConfig({ ...packageBuild, entry: ['src/bin.ts'], format: ['esm'], dts: false });
