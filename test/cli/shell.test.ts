import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AllocationSchema } from '../../lib/core/allocation.js';
import { RuntimeRef } from '../../lib/shell/index.js';
import { renderSessionRc, renderSessionScript, srunOptions, type SessionSpec } from '../../lib/ops/shell-session.js';
import { clusterEnv, testClusterProfile } from '../helpers/cluster.js';
import { cleanupProjects, hpcdk, makeProject, REPO } from '../helpers/project.js';
import { lintScript } from '../helpers/shellcheck.js';

let work: string;
let wheels: string;

/** One tiny package built into a wheel offline, so the environment has something only it can import. */
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hpcdk-shell-'));
  wheels = join(work, 'wheels');
  const src = join(work, 'src');
  mkdirSync(join(src, 'shellpkg'), { recursive: true });
  writeFileSync(
    join(src, 'pyproject.toml'),
    '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "shellpkg"\nversion = "1.0.0"\n',
  );
  writeFileSync(join(src, 'shellpkg', '__init__.py'), '__version__ = "1.0.0"\n');
  await execa(
    '/usr/bin/python3',
    ['-m', 'pip', 'wheel', '--no-index', '--no-build-isolation', '--no-deps', '--quiet', '-w', wheels, src],
    { env: { PIP_DISABLE_PIP_VERSION_CHECK: '1' } },
  );
}, 60_000);

afterAll(() => {
  cleanupProjects();
  if (!process.env.HPCDK_TEST_KEEP) rmSync(work, { recursive: true, force: true });
});

/** A stack with a login-built PythonEnv from the fixture wheel, and a GPU job whose allocation a session may borrow. */
function project(targets: string): string {
  return makeProject({
    'stacks/demo.ts': `import { App, ClusterProfile, Job, PythonEnv, Stack } from 'hpcdk';
const app = new App();
const s = new Stack(app, 'demo', { targets: [${targets}] });
const env = new PythonEnv(s, 'train-env', {
  interpreter: '/usr/bin/python3', tool: 'virtualenv', noDownload: true, noIndex: true, modules: ['python/3.11.5'],
  findLinks: [${JSON.stringify(wheels)}], requirements: ['shellpkg==1.0.0'],
});
new Job(s, 'train', { environment: env, allocation: { partition: 'gpu', time: '00:10:00', gpus: { type: 't4', count: 1 } }, run: ['python -V'] });
void ClusterProfile;
`,
  });
}

const PRINT =
  "import os, sys, shellpkg; print(sys.prefix, shellpkg.__version__, os.environ.get('SLURM_JOB_ID', '-'), os.environ.get('HPCDK_SCRATCH'))";

/**
 * Runs `hpcdk ARGS` on a terminal (util-linux `script` gives it one), typing
 * each line once the output so far matches its pattern; returns the output
 * and the exit code.
 */
function onTerminal(
  dir: string,
  args: string[],
  env: Record<string, string>,
  steps: Array<{ after: RegExp; type: string }>,
): Promise<{ output: string; exitCode: number }> {
  const command = ['node', join(REPO, 'bin', 'hpcdk.js'), ...args]
    .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
    .join(' ');
  const child = spawn('script', ['-qefc', command, '/dev/null'], {
    cwd: dir,
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  let next = 0;
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString('utf8');
    while (next < steps.length && steps[next]!.after.test(output)) child.stdin.write(`${steps[next++]!.type}\n`);
  });
  return new Promise((resolve) => {
    child.on('exit', (code) => {
      clearTimeout(timer);
      child.stdin.end();
      resolve({ output, exitCode: code ?? -1 });
    });
  });
}

describe('session scripts', () => {
  const spec: SessionSpec = {
    stack: 'demo',
    target: 'narval',
    address: 'train-env',
    what: 'environment',
    stackDir: RuntimeRef.env('HOME').join('.hpcdk', 'demo'),
    scratchVar: 'SLURM_TMPDIR',
    env: [['GREETING', "it's $5"]],
    prologue: [
      'set +u',
      '# shellcheck source=/dev/null',
      'source "${HPCDK_STACK_DIR}/envs/train-env/bin/activate"',
      'set -u',
    ],
    requires: { builtIdentity: 'abc123', files: ['train-env/bootstrap.sh'] },
    srun: ['--time=1'],
  };

  it('GIVEN a job allocation WHEN turned into srun options THEN the session keeps its resources as one task on one node, without output files or mail', () => {
    const allocation = AllocationSchema.parse({
      partition: 'gpu',
      time: '02:00:00',
      nodes: 4,
      ntasksPerNode: 8,
      cpusPerTask: 6,
      mem: '64G',
      gpus: { type: 'a100', count: 2 },
      mail: { user: 'a@b.org' },
      extra: { 'exclusive-user': 'x' },
    });
    expect(srunOptions('demo.shell', allocation)).toEqual([
      '--job-name=demo.shell',
      '--cpus-per-task=6',
      '--exclusive-user=x',
      '--gres=gpu:a100:2',
      '--mem=64G',
      '--partition=gpu',
      '--time=02:00:00',
      '--nodes=1',
      '--ntasks=1',
    ]);
  });

  it('GIVEN an environment or an image, interactive or with a command WHEN rendered THEN bash and shellcheck accept every script, and values are quoted', () => {
    const image = {
      ...spec,
      what: 'image',
      wrap: (step: string) => `hpcdk_image_run '${step.replace(/'/g, `'\\''`)}'`,
    };
    for (const s of [
      spec,
      { ...spec, command: ['python', '-c', "print('$HOME')"] },
      image,
      { ...image, command: ['cat', '/etc/os-release'] },
    ]) {
      expect(lintScript(`#!/usr/bin/env bash\n${renderSessionScript(s)}`)).toBe('');
      expect(lintScript(`#!/usr/bin/env bash\n${renderSessionRc(s)}`)).toBe('');
    }
    expect(renderSessionRc({ ...spec, command: ['python', '-c', "print('$HOME')"] })).toContain(
      `exec python -c 'print('\\''$HOME'\\'')'`,
    );
    expect(renderSessionRc(spec)).toContain(`export GREETING='it'\\''s $5'`);
    expect(renderSessionScript(spec)).toContain('srun --pty --time=1 bash --rcfile "$hpcdk_rc" -i');
    expect(renderSessionScript({ ...spec, command: ['true'] })).toContain('srun --time=1 bash "$hpcdk_rc"');
  });
});

describe('hpcdk shell on the SLURM test cluster', () => {
  it('GIVEN a PythonEnv built on the login node WHEN hpcdk shell runs a command in it THEN it runs inside a SLURM allocation with the env active; before apply it says to apply first', async (ctx) => {
    const env = clusterEnv(ctx);
    const sshEnv = { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! };
    const dir = project(testClusterProfile());

    const early = await hpcdk(dir, ['shell', 'train-env', '--', 'python', '-c', PRINT], sshEnv);
    expect(early.exitCode).toBe(1);
    expect(early.stderr).toContain(
      'Error: environment train-env of stack demo is not deployed on target testcluster: run hpcdk apply first (hpcdk apply demo --target testcluster)',
    );

    const apply = await hpcdk(dir, ['apply', '--yes'], sshEnv);
    expect(apply.exitCode, apply.stderr + apply.stdout).toBe(0);

    const r = await hpcdk(dir, ['shell', 'train-env', '--', 'python', '-c', PRINT], sshEnv);
    expect(r.exitCode, r.stderr).toBe(0);
    const m = /^(\S+) 1\.0\.0 (\d+) (\S+)\n$/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    expect(m![1]).toMatch(/^\/tmp\/hpcdk-remote-[0-9a-f]+\/demo\/envs\/train-env$/);
    // Inside an allocation: a job id, and the TaskProlog's node-local folder of that job as the scratch.
    expect(m![3]).toBe(`${env.HPCDK_CLUSTER_DIR}/scratch/${m![2]}`);

    // The command's exit code is the session's.
    expect((await hpcdk(dir, ['shell', 'train-env', '--', 'bash', '-c', 'exit 7'], sshEnv)).exitCode).toBe(7);

    // --like takes a job's allocation (partition, GPUs); --time sets the session's limit.
    const like = await hpcdk(
      dir,
      [
        'shell',
        'train-env',
        '--like',
        'train',
        '--time',
        '00:02:00',
        '--',
        'bash',
        '-c',
        'echo "$SLURM_JOB_PARTITION gpus=$CUDA_VISIBLE_DEVICES limit=$(squeue -h -j "$SLURM_JOB_ID" -o %l) python=$HPCDK_MODULE_PYTHON"',
      ],
      sshEnv,
    );
    expect(like.exitCode, like.stderr).toBe(0);
    expect(like.stdout).toMatch(/^gpu gpus=\d+ limit=2:00 python=3\.11\.5\n$/);
  }, 150_000);

  it('GIVEN the applied environment WHEN hpcdk shell opens an interactive session THEN it is a shell on a compute node through ssh -t and srun --pty, with the env active', async (ctx) => {
    const env = clusterEnv(ctx);
    const sshEnv = { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! };
    const dir = project(testClusterProfile());
    const apply = await hpcdk(dir, ['apply', '--yes'], sshEnv);
    expect(apply.exitCode, apply.stderr + apply.stdout).toBe(0);
    const session = await onTerminal(dir, ['shell', 'train-env', '--time', '00:05:00'], sshEnv, [
      { after: /\(train-env\)/, type: 'echo "JOB=$SLURM_JOB_ID TTY=$(tty) VENV=$VIRTUAL_ENV"' },
      { after: /JOB=\d+ TTY=\/dev\/pts/, type: 'exit 3' },
    ]);
    expect(session.output).toMatch(
      /JOB=\d+ TTY=\/dev\/pts\/\d+ VENV=\/tmp\/hpcdk-remote-[0-9a-f]+\/demo\/envs\/train-env/,
    );
    expect(session.exitCode, session.output).toBe(3);
  }, 150_000);

  it('GIVEN an automation target WHEN hpcdk shell is asked for THEN it refuses and says why', async () => {
    const dir = project(`${testClusterProfile()}.extend('robot', { automation: true })`);
    const r = await hpcdk(dir, ['shell', 'train-env', '--', 'true']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(
      'Error: hpcdk shell is refused on target robot: it is reached as an automation node (automation: true).',
    );
    expect(r.stderr).toContain('without a terminal, and interactive logins need MFA');
    expect(r.stderr).toContain('ControlMaster');
    expect(r.stderr).toContain('--openssh');
    // The flag asks the same of any profile.
    const flagged = await hpcdk(project(testClusterProfile()), ['shell', 'train-env', '--automation', '--', 'true']);
    expect(flagged.exitCode).toBe(1);
    expect(flagged.stderr).toContain(
      'Error: hpcdk shell is refused on target testcluster: it is reached as an automation node (--automation).',
    );
  });
});

describe('hpcdk shell on the local target', () => {
  it('GIVEN a PythonEnv applied to the local target WHEN hpcdk shell runs a command or a terminal session THEN it runs in a local bash with the env active and a private scratch folder, removed afterwards', async () => {
    const dir = project('ClusterProfile.local()');
    const apply = await hpcdk(dir, ['apply', '--yes']);
    expect(apply.exitCode, apply.stderr + apply.stdout).toBe(0);
    const r = await hpcdk(dir, ['shell', 'train-env', '--', 'python', '-c', PRINT]);
    expect(r.exitCode, r.stderr).toBe(0);
    const m = /^(\S+) 1\.0\.0 - (\S+)\n$/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    expect(m![1]).toBe(join(dir, '.hpcdk/local/demo/envs/train-env'));
    expect(existsSync(m![2]!)).toBe(false);

    const session = await onTerminal(dir, ['shell', 'train-env'], {}, [
      { after: /\(train-env\)/, type: 'echo "VENV=$VIRTUAL_ENV AT=$PWD"; exit 4' },
    ]);
    expect(session.output).toContain(
      `VENV=${join(dir, '.hpcdk/local/demo/envs/train-env')} AT=${join(dir, '.hpcdk/local/demo')}`,
    );
    expect(session.exitCode, session.output).toBe(4);
  }, 90_000);

  it('GIVEN addresses that are not environments WHEN hpcdk shell is asked for them THEN it says what they are and which it can open', async () => {
    const dir = project('ClusterProfile.local()');
    const job = await hpcdk(dir, ['shell', 'train', '--', 'true']);
    expect(job.exitCode).toBe(1);
    expect(job.stderr).toContain(
      'Error: train is a job: hpcdk shell opens an environment or an image (environments and images: train-env)',
    );
    const none = await hpcdk(dir, ['shell', 'nothing', '--', 'true']);
    expect(none.stderr).toContain('Error: no construct at nothing (environments and images: train-env)');
    const tty = await hpcdk(dir, ['shell', 'train-env']);
    expect(tty.stderr).toContain(
      'Error: an interactive session needs a terminal; to run one command: hpcdk shell train-env -- COMMAND…',
    );
  });
});
