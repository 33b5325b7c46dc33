import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let found: { readonly name: string; readonly version: string } | undefined;

/**
 * hpcdk's own package.json: the nearest one above this module named hpcdk.
 * Looked up, not addressed by a fixed relative path, because this code runs
 * from lib/ (tests), dist/lib/ and the bundle in dist/bundle/.
 */
export function hpcdkPackage(): { readonly name: string; readonly version: string } {
  if (found) return found;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const path = join(dir, 'package.json');
    if (existsSync(path)) {
      const pkg = JSON.parse(readFileSync(path, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'hpcdk') return (found = { name: pkg.name, version: pkg.version ?? '0.0.0' });
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('hpcdk: cannot find its own package.json');
    dir = parent;
  }
}
