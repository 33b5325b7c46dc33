import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Dataset, Job, Sweep, TextFile, Testing, isSweepPoint, renderParamsFile } from '../../lib/index.js';

/** Strings meant to break out of a script: quotes, substitutions, newlines, globs, leading dashes, unicode. */
const hostile = fc
  .oneof(
    { weight: 3, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        "'",
        '"',
        '$(touch pwned)',
        '`touch pwned`',
        'a\nb',
        '*',
        '-rf',
        '--help',
        '$HOME',
        '${PATH}',
        '\\',
        '名前 🚀',
        '; touch pwned',
        '&& touch pwned',
        "'\"'\"'",
        '!!',
        '~',
        '\t',
        '$((1+1))',
        '>pwned',
      ),
    },
  )
  .filter((s) => !s.includes('\0'));

const made: string[] = [];
afterAll(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});
/** A new folder under the system's temporary folder, removed when the suite ends. */
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

const SEP = '\u0001';

/** Runs a rendered script in a scratch folder; returns stdout, and whether any file named pwned appeared. */
function runScript(
  script: string,
  env: Record<string, string> = {},
  folders: string[] = [],
): { out: string; pwned: boolean } {
  const dir = tempDir('hpcdk-hostile-');
  mkdirSync(join(dir, 'scratch'));
  for (const f of folders) mkdirSync(join(dir, f), { recursive: true });
  const file = join(dir, 'script.sh');
  writeFileSync(file, script);
  const syntax = spawnSync('bash', ['-n', file], { encoding: 'utf8' });
  expect(syntax.status, syntax.stderr).toBe(0);
  const r = spawnSync('bash', [file], {
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: dir, TMPDIR: join(dir, 'scratch'), ...env },
  });
  expect(r.status, r.stderr).toBe(0);
  const pwned = spawnSync('find', [dir, '-name', 'pwned*'], { encoding: 'utf8' }).stdout.trim() !== '';
  return { out: r.stdout, pwned };
}

describe('hostile strings in every string prop', () => {
  it('reach jobs as literal values: env, argv words, workdir, datasets, files (property)', () => {
    fc.assert(
      fc.property(hostile, hostile, hostile, hostile, (envValue, argWord, dirName, fileContent) => {
        const stack = Testing.stack({}, 'fuzz');
        const workdir = `wd-${dirName.replace(/\//g, '_')}`;
        const file = new TextFile(stack, 'notes', { content: fileContent });
        new Job(stack, 'job', {
          env: { VALUE: envValue },
          workdir,
          run: [['printf', `%s${SEP}`, argWord], 'printf "%s\\001" "$VALUE"', 'printf "%s\\001" "$(basename "$PWD")"'],
        });
        const out = Testing.synth(stack);
        expect(out.file('notes/notes')).toBe(fileContent.replace(/\r\n?/g, '\n'));
        void file;
        const { out: printed, pwned } = runScript(out.file('job/job.sbatch'), {}, [workdir]);
        expect(pwned).toBe(false);
        expect(printed.split(SEP).slice(0, 3)).toEqual([argWord, envValue, workdir]);
      }),
      { numRuns: 40 },
    );
  });

  it('reach sweep points as literal parameter values (property)', () => {
    fc.assert(
      fc.property(fc.array(hostile, { minLength: 1, maxLength: 5 }), (values) => {
        const unique = [...new Set(values)];
        const stack = Testing.stack({}, 'fuzz');
        new Sweep(stack, 'sweep', { grid: { tag: unique }, run: ['printf "%s\\001" "$tag"'] });
        const out = Testing.synth(stack);
        const points = out.resources.filter(isSweepPoint).map((r, index) => ({
          index,
          identity: r.identity,
          address: r.address,
          key: r.spec.key,
          params: r.spec.params,
        }));
        const params = renderParamsFile('sweep', 'c', points);
        const dir = tempDir('hpcdk-params-');
        writeFileSync(join(dir, 'params.sh'), params);
        for (const p of points) {
          const { out: printed, pwned } = runScript(out.file('sweep/sweep.sbatch'), {
            HPCDK_PARAMS_FILE: join(dir, 'params.sh'),
            SLURM_ARRAY_TASK_ID: String(p.index),
          });
          expect(pwned).toBe(false);
          expect(printed.split(SEP)[0]).toBe(p.params.tag);
        }
      }),
      { numRuns: 25 },
    );
  });

  it('reach the staging script of a dataset as a literal source path (property)', () => {
    fc.assert(
      fc.property(hostile, (name) => {
        const stack = Testing.stack({}, 'fuzz');
        const dir = tempDir('hpcdk-src-');
        const source = join(dir, name.replace(/\//g, '_') || 'x');
        mkdirSync(source, { recursive: true });
        writeFileSync(join(source, 'data.txt'), 'ok');
        new Dataset(stack, 'data', { source, mode: 'copy', destination: 'in' });
        const stage = Testing.synth(stack).file('data/stage.sh');
        const scratch = tempDir('hpcdk-scratch-');
        const { pwned } = runScript(stage, { HPCDK_SCRATCH: scratch });
        expect(pwned).toBe(false);
        const copied = execFileSync('find', [scratch, '-name', 'data.txt'], { encoding: 'utf8' }).trim();
        expect(copied).not.toBe('');
      }),
      { numRuns: 25 },
    );
  });
});
