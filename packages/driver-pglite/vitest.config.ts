import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Starting PGlite (WASM PostgreSQL) takes a second or two per instance.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
