import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'lib/index.ts', redis: 'lib/redis.ts' },
  format: ['cjs', 'esm'],
  dts: true,
  clean: true,
  target: 'node20',
  sourcemap: true,
  external: ['redis', 'express'],
});
