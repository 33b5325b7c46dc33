import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupProjects } from '../helpers/project.js';
import { projectWith, synthRefuses, synthesizedBase } from './cli.js';

/**
 * The CLI side of the hostile-input suite: `hpcdk synth` on projects whose
 * stacks hold hostile values must exit 1, name each construct path and
 * field, and write nothing (no snapshots/ folder, or the old one byte for
 * byte). Several hostile stacks share one run: each must be named. The runs
 * go side by side, each in a project of its own.
 */

const CANARY = mkdtempSync(join(tmpdir(), 'hpcdk-cli-canary-'));
/** A substitution, a directive injection, a NUL: three values every template below must refuse. */
const VALUES = [`$(touch ${CANARY}/PWNED_cli)`, 'x\n#SBATCH --qos=high', 'a\0b'];
/** For props whose schema takes any one-line or any string: only line breaks and NULs are refused. */
const LINE_VALUES = ['x\r#SBATCH --qos=high', 'a\nb', 'a\0b'];
const NUL_VALUES = ['a\0b', '\0', `x\0$(touch ${CANARY}/PWNED_nul)`];

/** The id the constructs library keeps: `/` and newlines become `--`. */
const sanitized = (v: string) => v.replace(/[/\n]/g, '--');

interface Template {
  readonly name: string;
  /** The stack body, given the value as a JS literal; `s` is the stack `hostile-<name>`. */
  readonly body: (literal: string) => string;
  /** What stderr must hold for value `v`. */
  readonly names: (v: string) => string;
  readonly values?: readonly string[];
}

const TEMPLATES: readonly Template[] = [
  {
    name: 'mem',
    body: (v) => `new Job(s, 'job', { run: [['true']], allocation: { mem: ${v} } });`,
    names: () => '[hostile-mem/job] allocation.mem:',
  },
  {
    name: 'extra',
    body: (v) => `new Job(s, 'job', { run: [['true']], allocation: { extra: { exclusive: ${v} } } });`,
    names: () => '[hostile-extra/job] allocation.extra.exclusive:',
  },
  {
    name: 'envname',
    body: (v) => `new Job(s, 'job', { run: [['true']], env: { [${v}]: 'x' } });`,
    names: () => '[hostile-envname/job] env.',
  },
  {
    name: 'envvalue',
    body: (v) => `new Job(s, 'job', { run: [['true']], env: { FUZZ: ${v} } });`,
    names: () => '[hostile-envvalue/job] env.FUZZ: must not contain a NUL',
    values: NUL_VALUES,
  },
  {
    name: 'stdout',
    body: (v) => `new Job(s, 'job', { run: [['true']], stdout: ${v} });`,
    names: () => '[hostile-stdout/job] stdout:',
  },
  {
    name: 'jobid',
    body: (v) => `new Job(s, ${v}, { run: [['true']] });`,
    names: (v) => `[hostile-jobid/${sanitized(v)}] id:`,
  },
  {
    name: 'data',
    body: (v) => `new Dataset(s, 'data', { source: '/data', destination: ${v} });`,
    names: () => '[hostile-data/data] destination:',
  },
  {
    name: 'modules',
    body: (v) => `new PythonEnv(s, 'env', { modules: [${v}] });`,
    names: () => '[hostile-modules/env] modules[0]:',
  },
  {
    name: 'imageenv',
    body: (v) => `new ContainerImage(s, 'img', { from: 'python:3.11-slim', env: { FUZZ: ${v} } });`,
    names: () => '[hostile-imageenv/img] env.FUZZ:',
    values: LINE_VALUES,
  },
  {
    name: 'filename',
    body: (v) => `new TextFile(s, 'notes', { content: 'x', fileName: ${v} });`,
    names: () => '[hostile-filename/notes] fileName:',
  },
  {
    name: 'grid',
    body: (v) => `new Sweep(s, 'sweep', { run: [['true']], grid: { [${v}]: [1] } });`,
    names: () => '[hostile-grid/sweep] grid.',
  },
  {
    name: 'stackname',
    body: (v) => `new Job(new Stack(app, ${v}), 'job', { run: [['true']] });`,
    names: (v) => `[${sanitized(v)}] id:`,
  },
];

function stackFile(name: string, body: string): string {
  return [
    "import { App, ContainerImage, Dataset, Job, PythonEnv, Stack, Sweep, TextFile } from 'hpcdk';",
    'const app = new App();',
    `const s = new Stack(app, '${name}');`,
    body,
    'void [ContainerImage, Dataset, Job, PythonEnv, Sweep, TextFile, s];',
    '',
  ].join('\n');
}

/** The hostile stack files for the i-th value of every template. */
function hostileFiles(i: number): Record<string, string> {
  const files: Record<string, string> = {};
  for (const t of TEMPLATES)
    files[`stacks/hostile-${t.name}.ts`] = stackFile(
      `hostile-${t.name}`,
      t.body(JSON.stringify((t.values ?? VALUES)[i]!)),
    );
  return files;
}

/** A profile whose job default would become a directive line. */
function hostileProfile(v: string): string {
  return [
    "import { App, ClusterProfile, Job, Stack } from 'hpcdk';",
    `const cluster = new ClusterProfile('fuzzcluster', { scheduler: 'slurm', ssh: { host: 'login' }, jobDefaults: { account: ${JSON.stringify(v)} } });`,
    "new Job(new Stack(new App(), 'hostile-profile', { targets: [cluster] }), 'job', { run: [['true']] });",
    '',
  ].join('\n');
}

let base = '';
let tried = 0;
let refused = 0;
let runs = 0;

/** One run over `cases` stacks, which must all be named; counts them. */
async function refuses(dir: string, names: readonly string[], cases: number): Promise<void> {
  tried += cases;
  runs += 1;
  await synthRefuses(dir, [...names, 'Nothing was written.']);
  expect(readdirSync(CANARY)).toEqual([]);
  refused += cases;
}

beforeAll(async () => {
  base = await synthesizedBase();
});

afterAll(() => {
  console.log(
    `hostile input through hpcdk synth: ${tried} hostile stacks tried in ${runs} runs, ${tried - refused} failures (${refused} refused with their path and field, exit 1, nothing written)`,
  );
  cleanupProjects();
  rmSync(CANARY, { recursive: true, force: true });
});

describe.concurrent('hpcdk synth on hostile stacks', () => {
  it('exits 1 naming every hostile construct and field, and creates no snapshots/ folder', async () => {
    const dir = projectWith(hostileFiles(0));
    await refuses(
      dir,
      TEMPLATES.map((t) => t.names((t.values ?? VALUES)[0]!)),
      TEMPLATES.length,
    );
    expect(existsSync(join(dir, 'snapshots'))).toBe(false);
  });

  for (const i of [1, 2]) {
    it(`leaves the snapshots of an earlier synth byte for byte (value set ${i})`, async () => {
      await refuses(
        projectWith(hostileFiles(i), base),
        TEMPLATES.map((t) => t.names((t.values ?? VALUES)[i]!)),
        TEMPLATES.length,
      );
    });
  }

  it('exits 1 naming the profile field of a hostile job default and its file and line, writing nothing', async () => {
    await refuses(
      projectWith({ 'stacks/hostile-profile.ts': hostileProfile(VALUES[1]!) }, base),
      ['stacks/hostile-profile.ts:2:', '[target:fuzzcluster] jobDefaults.account:'],
      1,
    );
  });
});
