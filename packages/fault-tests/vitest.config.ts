import { defineConfig } from 'vitest/config';

// Files restart shared servers and cut shared sessions: run them one at a time.
export default defineConfig({
  test: {
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
