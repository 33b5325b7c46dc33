import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const LIB = resolve(import.meta.dirname, '../lib');

/**
 * lib's top folders, lowest first: each may import only its own folder and
 * those before it. `''` is lib/index.ts, the public face; the loader loads
 * it before the stack files that import it.
 */
const LAYERS = [
  'shell',
  'state',
  'core',
  'render',
  'constructs',
  'synth',
  'targets',
  'plan',
  'apply',
  'ops',
  'ui',
  '',
  'loader',
  'cli',
] as const;

const sources = readdirSync(LIB, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.ts'))
  .sort();
const text = new Map(sources.map((f) => [f, readFileSync(join(LIB, f), 'utf8')]));

/** Every relative import and re-export of a file, as paths below lib/ (type-only ones too: they are dependencies). */
function importsOf(file: string): string[] {
  const out: string[] = [];
  for (const m of text.get(file)!.matchAll(/(?:^(?:import|export)\s[^;]*?from\s+|import\()\s*'(\.{1,2}\/[^']+)'/gms)) {
    out.push(relative(LIB, resolve(dirname(join(LIB, file)), m[1]!)).replace(/\.js$/, '.ts'));
  }
  return out;
}

const graph = new Map(sources.map((f) => [f, importsOf(f).filter((d) => text.has(d))]));
const folderOf = (file: string) => (file.includes('/') ? file.slice(0, file.indexOf('/')) : '');

/** Strongly connected components of more than one file (Tarjan). */
function circles(): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next);
    next += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** Lines of lib/ outside `allowed` that match `pattern`, as `file: line`. */
function linesMatching(pattern: RegExp, allowed: (file: string) => boolean): string[] {
  return sources
    .filter((f) => !allowed(f))
    .flatMap((f) =>
      text
        .get(f)!
        .split('\n')
        .filter((line) => pattern.test(line))
        .map((line) => `${f}: ${line.trim()}`),
    );
}

describe('the layers of lib/', () => {
  it('GIVEN every import in lib/ WHEN followed THEN no file reaches itself again', () => {
    expect(circles()).toEqual([]);
  });

  it('GIVEN the layer order WHEN every import between top folders is checked THEN each points to a lower layer', () => {
    const rank = (folder: string) => LAYERS.indexOf(folder as (typeof LAYERS)[number]);
    const upward: string[] = [];
    for (const [file, deps] of graph) {
      const from = folderOf(file);
      for (const dep of deps) {
        const to = folderOf(dep);
        if (to !== from && !(rank(to) >= 0 && rank(to) < rank(from))) upward.push(`${file} -> ${dep}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('GIVEN the top folders of lib/ WHEN listed THEN each is a known layer with a README saying what it owns and may import', () => {
    const folders = readdirSync(LIB, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    expect(folders).toEqual(LAYERS.filter((l) => l !== '').sort());
    for (const folder of folders) {
      const readme = join(LIB, folder, 'README.md');
      expect(existsSync(readme), readme).toBe(true);
      expect(readFileSync(readme, 'utf8'), readme).toMatch(/^May import:/m);
    }
  });
});

describe('what only the targets layer does', () => {
  it('GIVEN lib/ outside targets WHEN searched THEN nothing asks whether a target is an automation node', () => {
    expect(linesMatching(/isAutomation|targets\/automation\//, (f) => f.startsWith('targets/'))).toEqual(
      // The asset loader names a shipped file's path in its documentation, nothing more.
      ['core/assets.ts: /** The text of a shipped file, by its path below `lib/` (`targets/automation/helper.py`). */'],
    );
  });

  it('GIVEN lib/ outside targets WHEN searched THEN nothing starts a process but git and Graphviz', () => {
    expect(linesMatching(/from 'node:child_process'|from 'execa'|loadExeca/, (f) => f.startsWith('targets/'))).toEqual([
      "cli/commands/graph.ts: import { spawnSync } from 'node:child_process';",
      "core/git.ts: import { execFileSync } from 'node:child_process';",
    ]);
  });
});

describe('the typed resource contract', () => {
  it('GIVEN lib/ WHEN searched for casts of resource specs THEN there are none outside the contract module', () => {
    expect(linesMatching(/spec as |as unknown as/, (f) => f === 'core/resource-spec.ts')).toEqual([
      // The root construct has no scope; constructs' own root does the same.
      "core/app.ts: super(undefined as unknown as Construct, '');",
    ]);
  });

  it('GIVEN lib/ WHEN searched for resource kinds spelled as strings THEN only the contract module spells them', () => {
    expect(
      linesMatching(
        /\b(?!e\.)\w+\.kind [!=]== '(job|sweep-point|container-image|code-bundle|python-env|conda-env|r-library)'|\bkind [!=]== '(sweep-point|container-image|code-bundle|python-env|conda-env|r-library)'/,
        (f) => f === 'core/resource-spec.ts',
      ),
    ).toEqual([]);
  });
});
