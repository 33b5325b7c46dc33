#!/usr/bin/env node
// The hpcdk command. The CLI is compiled to dist/ by `npm run build`
// (run automatically by `npm install` in this repository).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/lib/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('hpcdk: dist/ is missing; run `npm run build` in the hpcdk package first\n');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv);
