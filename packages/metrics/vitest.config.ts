import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // The saturation and browser tests measure a shared process-wide PoolManager: run files one by one.
    fileParallelism: false,
  },
});
