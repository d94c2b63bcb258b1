import type { Options } from 'tsup';

/** How every @dal package builds: ESM + CJS + d.ts from src/index.ts, for Node 20. */
export const packageBuild: Options = {
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
};
