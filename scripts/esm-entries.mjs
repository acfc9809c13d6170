#!/usr/bin/env node
/**
 * Writes the package's ESM entry points after the CommonJS build: each
 * re-exports its CommonJS entry (`export *`; Node finds the names with its
 * CommonJS export lexer), so `import` and `require` in one process load one
 * implementation — one set of classes (`instanceof` holds across them) and
 * one state. Types: each `.d.mts` re-exports the entry's `.d.ts`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const ENTRIES = ['index', 'redis', 'prometheus'];

for (const entry of ENTRIES) {
  readFileSync(join(DIST, `${entry}.js`)); // the CommonJS build must be there
  const note = `// The ESM entry re-exports the CommonJS build: one implementation however the package is loaded.\n`;
  writeFileSync(join(DIST, `${entry}.mjs`), `${note}export * from './${entry}.js';\n`);
  writeFileSync(join(DIST, `${entry}.d.mts`), `${note}export * from './${entry}.js';\n`);
}
