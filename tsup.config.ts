import { defineConfig } from 'tsup';

/**
 * One CommonJS build, its entries sharing one chunk (so `/redis`,
 * `/prometheus` and the main entry share classes and state); the ESM entries are written after it
 * by scripts/esm-entries.mjs and re-export it, so a process that both
 * `require`s and `import`s the package runs one copy of it.
 */
export default defineConfig({
  entry: { index: 'lib/index.ts', redis: 'lib/redis.ts', prometheus: 'lib/prometheus.ts' },
  format: ['cjs'],
  splitting: true,
  dts: true,
  clean: true,
  target: 'node20',
  sourcemap: true,
  external: ['redis', 'express', 'prom-client'],
});
