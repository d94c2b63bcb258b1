import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Worker and process connections run dist/sqlite-worker.js: turbo builds the package before testing it.
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
