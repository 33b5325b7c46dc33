import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Programs in other languages (Python, R, bash) that hpcdk ships as files of
 * their own under `lib/`, next to the TypeScript that uses them, so each can
 * be read, linted and parsed by its own tools. They are read at run time
 * from the package: the same path from the sources (tests, tsx) and from the
 * bundle in `dist/`, since both sit inside the package root.
 */

let packageRoot: string | undefined;
const cache = new Map<string, string>();

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && existsSync(join(dir, 'lib'))) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'hpcdk') return dir;
      } catch {
        // Not a package manifest we can read: keep looking upward.
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('hpcdk: cannot find the hpcdk package root to read its shipped scripts');
    dir = parent;
  }
}

/** The text of a shipped file, by its path below `lib/` (`targets/automation/helper.py`). */
export function readAsset(pathBelowLib: string): string {
  const known = cache.get(pathBelowLib);
  if (known !== undefined) return known;
  packageRoot ??= findPackageRoot();
  const text = readFileSync(join(packageRoot, 'lib', pathBelowLib), 'utf8');
  cache.set(pathBelowLib, text);
  return text;
}
