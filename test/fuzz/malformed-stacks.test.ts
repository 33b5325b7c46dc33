import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupProjects, makeProject } from '../helpers/project.js';
import { projectWith, synthRefuses, synthesizedBase } from './cli.js';

/**
 * Stack files that are wrong as files, not as props: each makes `hpcdk synth`
 * exit 1 with its file and line (or the construct path) and write nothing.
 * Each runs beside the others, in a project holding a good stack and its
 * snapshots.
 */

const stack = (name: string, body: string) =>
  [
    "import { App, Job, Stack } from 'hpcdk';",
    `const s = new Stack(new App(), '${name}');`,
    body,
    'void Job;',
    '',
  ].join('\n');

interface Malformed {
  readonly what: string;
  readonly files: Record<string, string>;
  readonly stderr: RegExp;
  /** Without "type": "module" in package.json. */
  readonly commonJs?: boolean;
}

const CASES: readonly Malformed[] = [
  {
    what: 'a syntax error',
    files: { 'stacks/broken.ts': 'const a: number = 1;\nconst b = {;\nvoid a; void b;\n' },
    stderr: /stacks\/broken\.ts:2:\d+: does not compile: Expected identifier but found ";"/,
  },
  {
    what: 'a stack file that throws',
    files: { 'stacks/throws.ts': "const x: number = 1;\n\nif (x === 1) {\n  throw new Error('no data folder');\n}\n" },
    stderr: /stacks\/throws\.ts:4:9: Error: no data folder/,
  },
  {
    what: 'an import of a missing file',
    files: { 'stacks/missing.ts': "import { shared } from './nope.js';\nvoid shared;\n" },
    stderr: /stacks\/missing\.ts: Error: Cannot find module '.*\/stacks\/nope\.js' imported from .*stacks\/missing\.ts/,
  },
  {
    what: 'two stacks with the same name',
    files: { 'stacks/dup.ts': stack('good', "new Job(s, 'other', { run: [['true']] });") },
    stderr: /stacks\/good\.ts: stack good is also declared in stacks\/dup\.ts; stack names must be unique/,
  },
  {
    what: 'a construct id with a slash',
    files: { 'stacks/slashed.ts': stack('slashed', "new Job(s, 'train/v2', { run: [['true']] });") },
    stderr: /\[slashed\/train--v2\] id: a construct id may not contain \/ or a newline .*\(got "train\/v2"\)/,
  },
  {
    what: 'a circular dependsOn',
    files: {
      'stacks/cyclic.ts': stack(
        'cyclic',
        [
          "const a = new Job(s, 'a', { run: [['true']] });",
          "const b = new Job(s, 'b', { run: [['true']] });",
          'a.dependsOn(b);',
          'b.dependsOn(a);',
        ].join('\n'),
      ),
    },
    stderr: /\[cyclic\/(a|b)\] dependsOn: dependency cycle: (a -> b -> a|b -> a -> b)/,
  },
  {
    what: 'a top-level await without "type": "module"',
    files: {
      'stacks/tla.ts': stack('tla', "const run = await Promise.resolve([['true']]);\nnew Job(s, 'a', { run });"),
    },
    stderr:
      /stacks\/tla\.ts:3:\d+: does not compile: Top-level await is currently not supported with the "cjs" output format/,
    commonJs: true,
  },
];

let base = '';
let tried = 0;
let refused = 0;

beforeAll(async () => {
  base = await synthesizedBase();
});

afterAll(() => {
  console.log(
    `malformed stack files: ${tried} tried, ${tried - refused} failures (${refused} exit 1 with the file and line or the construct path, nothing written)`,
  );
  cleanupProjects();
});

describe.concurrent('hpcdk synth on malformed stack files', () => {
  for (const c of CASES) {
    it(`${c.what}: exit 1 naming where, nothing written`, async () => {
      tried += 1;
      const dir = projectWith(c.files, base);
      if (c.commonJs) writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'user-project', private: true }));
      await synthRefuses(dir, [c.stderr]);
      refused += 1;
    });
  }

  it('a project whose stack files declare no stack: exit 1 naming them, no snapshots/ folder', async () => {
    tried += 1;
    const empty = makeProject({ 'stacks/shared.ts': 'export const LR = 0.001;\n' }, 'hpcdk-fault-');
    await synthRefuses(empty, [
      'no stack to synthesize: stacks/shared.ts declares none (a stack file makes an App and adds a Stack to it); nothing was written',
    ]);
    expect(existsSync(join(empty, 'snapshots'))).toBe(false);
    refused += 1;
  });
});
