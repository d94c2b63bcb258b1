import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Each file uses the shared servers and process-wide pools: run them one by one.
    fileParallelism: false,
  },
});
