#!/usr/bin/env node
// The hpcdk command. The CLI is bundled into dist/bundle/ by `npm run build`
// (run automatically by `npm install` in this repository): one file per
// command and a few shared chunks load far faster than hundreds of modules.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/bundle/cli/main.mjs', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('hpcdk: dist/ is missing; run `npm run build` in the hpcdk package first\n');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv);
