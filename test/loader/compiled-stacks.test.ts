import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';

afterAll(cleanupProjects);

/** A stack file that prints the module it runs from: the compiled copy or the source itself. */
const STACK = (name: string, extra = '') => `import { App, Stack, TextFile } from 'hpcdk';
${extra}
const where = String(new Error('where').stack).split('\\n')[1] ?? '';
process.stderr.write(\`loaded ${name} from \${where.includes('/.cache/hpcdk/') ? 'the cache' : 'source'}\\n\`);
const app = new App();
new TextFile(new Stack(app, '${name}'), 'f', { content: 'x' });
`;

interface CacheIndex {
  readonly build?: string;
  readonly outputs?: Record<string, string>;
}

/** The project's cache folder: node_modules/.cache/hpcdk/<project key>/stacks. */
function cacheDir(dir: string): string | undefined {
  const root = join(dir, 'node_modules', '.cache', 'hpcdk');
  if (!existsSync(root)) return undefined;
  const keys = readdirSync(root);
  expect(keys).toHaveLength(1);
  return join(root, keys[0]!, 'stacks');
}

function cacheIndex(dir: string): CacheIndex | undefined {
  const folder = cacheDir(dir);
  return folder && existsSync(join(folder, 'index.json'))
    ? (JSON.parse(readFileSync(join(folder, 'index.json'), 'utf8')) as CacheIndex)
    : undefined;
}

function builds(dir: string): string[] {
  const folder = cacheDir(dir);
  return folder && existsSync(folder) ? readdirSync(folder).filter((n) => n.startsWith('build-')) : [];
}

describe('compiled stack files', () => {
  it('GIVEN a project WHEN loaded twice THEN the second load runs the compiled modules, until a source changes', async () => {
    const dir = makeProject({ 'stacks/a.ts': STACK('alpha') });
    // WHEN loaded the first time THEN it is compiled, and the compiled module runs
    const first = await hpcdk(dir, ['ls']);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stderr).toContain('loaded alpha from the cache');
    const build = cacheIndex(dir)?.build;
    expect(build).toMatch(/^build-/);

    // WHEN loaded again THEN the same build runs
    const second = await hpcdk(dir, ['ls']);
    expect(second.stdout).toBe(first.stdout);
    expect(second.stderr).toContain('loaded alpha from the cache');
    expect(cacheIndex(dir)?.build).toBe(build);

    // WHEN the stack file changes THEN it is compiled anew, and the change is seen
    writeFileSync(join(dir, 'stacks/a.ts'), STACK('beta'));
    const third = await hpcdk(dir, ['ls']);
    expect(third.stdout).toContain('beta');
    expect(third.stdout).not.toContain('alpha');
    expect(cacheIndex(dir)?.build).not.toBe(build);
  });

  it('GIVEN a module two stack files import WHEN loaded from the cache THEN it runs once, as it does from source', async () => {
    const shared = `export const profileRuns = ((globalThis as Record<string, number>).sharedRuns = ((globalThis as Record<string, number>).sharedRuns ?? 0) + 1);
process.stderr.write('shared module ran\\n');
`;
    const user = (name: string) => STACK(name, `import './lib/shared.js';`);
    const dir = makeProject({
      'stacks/a.ts': user('alpha'),
      'stacks/b.ts': user('beta'),
      'stacks/lib/shared.ts': shared,
    });
    for (const env of [{}, { HPCDK_STACK_CACHE: '0' }] as Array<Record<string, string>>) {
      const r = await hpcdk(dir, ['ls'], env);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toContain('alpha');
      expect(r.stdout).toContain('beta');
      expect(r.stderr.match(/shared module ran/g)).toHaveLength(1);
    }
  });

  it('GIVEN a stack file that uses import.meta WHEN loaded THEN tsx loads it from source, and the cache remembers to stand aside', async () => {
    const dir = makeProject({ 'stacks/a.ts': STACK('alpha', `const here = import.meta.url;\nvoid here;`) });
    const r = await hpcdk(dir, ['ls']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('loaded alpha from source');
    expect(cacheIndex(dir)).toBeDefined();
    expect(cacheIndex(dir)?.build).toBeUndefined();
  });

  it('GIVEN a cached project whose stack file now throws WHEN loaded THEN the error names the source line, and the cache is as it was', async () => {
    const dir = makeProject({ 'stacks/a.ts': STACK('alpha') });
    expect((await hpcdk(dir, ['ls'])).exitCode).toBe(0);
    const before = readFileSync(join(cacheDir(dir)!, 'index.json'), 'utf8');
    writeFileSync(
      join(dir, 'stacks/a.ts'),
      `import { App } from 'hpcdk';\nnew App();\nthrow new Error('broken on purpose');\n`,
    );
    const r = await hpcdk(dir, ['ls']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('stacks/a.ts:3:');
    expect(r.stderr).toContain('broken on purpose');
    expect(readFileSync(join(cacheDir(dir)!, 'index.json'), 'utf8')).toBe(before);
    expect(builds(dir)).toEqual([cacheIndex(dir)!.build]);
  });

  it('GIVEN a new project whose stack file throws WHEN loaded THEN no build is left behind', async () => {
    const dir = makeProject({
      'stacks/a.ts': `import { App } from 'hpcdk';\nnew App();\nthrow new Error('broken on purpose');\n`,
    });
    const r = await hpcdk(dir, ['ls']);
    expect(r.exitCode).toBe(1);
    expect(builds(dir)).toEqual([]);
    expect(cacheIndex(dir)).toBeUndefined();
  });

  it('GIVEN HPCDK_STACK_CACHE=0 WHEN loaded THEN nothing is compiled', async () => {
    const dir = makeProject({ 'stacks/a.ts': STACK('alpha') });
    const r = await hpcdk(dir, ['ls'], { HPCDK_STACK_CACHE: '0' });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('loaded alpha from source');
    expect(cacheDir(dir)).toBeUndefined();
  });
});
