import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.config.base.js';

export default defineConfig({
  ...packageBuild,
  // with-test-servers is a command (node dist/with-test-servers.js npm test), not an import.
  entry: ['src/index.ts', 'src/with-test-servers.ts'],
});
