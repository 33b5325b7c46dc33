import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applyInputs } from '../../lib/apply/apply.js';
import { applyProgram } from '../../lib/apply/program.js';
import { applyScript } from '../../lib/targets/shell/apply-script.js';
import {
  ClusterProfile,
  CodeBundle,
  ContainerImage,
  Dataset,
  ImageBlock,
  Job,
  PythonEnv,
  Secret,
  Sweep,
  TextFile,
  Testing,
} from '../../lib/index.js';
import { computePlan } from '../../lib/plan/plan.js';
import { batchScripts, buildsToDescribe, expectedFiles, packageLockCommands } from '../../lib/plan/plan-stack.js';
import { parseRead } from '../../lib/plan/read-target.js';
import { readScript } from '../../lib/targets/shell/read-script.js';
import { pullUnits } from '../../lib/ops/pull.js';
import { viewScript } from '../../lib/targets/shell/pull.js';
import { inputsLine } from '../../lib/state/journal.js';
import { synthesizeStack, type StackSynthesis } from '../../lib/synth/synthesize.js';
import { connect, type TargetConnection } from '../../lib/targets/connection.js';
import { LocalTransport } from '../../lib/targets/transport.js';
import { lintScript } from '../helpers/shellcheck.js';

const made: string[] = [];
afterAll(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

const cluster = new ClusterProfile('hpc', {
  scheduler: 'slurm',
  ssh: { host: 'login.example' },
  maxArraySize: 2,
  partitions: { cpu: { maxTime: '02:00:00' } },
});

/** A project with one of every kind apply acts on: files, a login-built env, an image, a bundle, a dataset, a job with a secret, a sweep in two chunks. */
function synthesis(target: ClusterProfile): StackSynthesis {
  const dir = mkdtempSync(join(tmpdir(), 'hpcdk-backend-scripts-'));
  made.push(dir);
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', 'train.py'), 'print(1)\n');
  const who = {
    GIT_AUTHOR_NAME: 't',
    GIT_AUTHOR_EMAIL: 't@example.invalid',
    GIT_COMMITTER_NAME: 't',
    GIT_COMMITTER_EMAIL: 't@example.invalid',
  };
  for (const args of [
    ['init', '-q'],
    ['add', '.'],
    ['commit', '-qm', 'init'],
  ])
    execFileSync('git', args, { cwd: dir, env: { ...process.env, ...who } });
  const s = Testing.stack({ targets: [target] }, 'demo');
  new TextFile(s, 'config', { fileName: 'config.yaml', content: 'lr: 0.1\n' });
  const env = new PythonEnv(s, 'env', { requirements: ['numpy==1.26.4'], build: 'login' });
  const image = new ContainerImage(s, 'image', { from: 'python:3.12-slim', steps: [ImageBlock.run('true')] });
  const code = new CodeBundle(s, 'code', { paths: ['src'] });
  const data = new Dataset(s, 'data', { source: '/project/data.tar', destination: 'data' });
  const prep = new Job(s, 'prep', {
    run: ['python3 src/train.py'],
    environment: env,
    code,
    stage: [data],
    env: { TOKEN: Secret.fromEnv('HPCDK_TEST_TOKEN') },
  });
  new Sweep(s, 'grid', {
    grid: { lr: [0.1, 0.2, 0.3] },
    throttle: 2,
    image,
    run: [['echo', Sweep.param('lr')]],
  }).dependsOn(prep);
  return synthesizeStack(s, target, dir);
}

/** The target as an apply of `desired` left it: every file, build and job recorded, the jobs still running. */
function applied(desired: StackSynthesis) {
  const lines = desired.manifest.artifacts.map((a) => `file ${a.path} ${a.sha256} 1`);
  let id = 100;
  for (const r of desired.manifest.resources) {
    if (r.kind === 'job' || r.kind === 'sweep-point')
      lines.push(`job ${r.address} ${r.identity} ${id++} 1`, `${inputsLine(r.address, r.inputs).join(' ')} 1`);
    else lines.push(`built ${r.address} ${r.identity} 1`);
  }
  const files = desired.manifest.artifacts.map((a) => `${a.sha256}  ./${a.path}`).join('\n');
  const queue = Array.from({ length: id - 100 }, (_, i) => `${100 + i}|RUNNING|x`).join('\n');
  return parseRead(`@@files\n${files}\n@@journal\n${lines.join('\n')}\n@@queue\n${queue}\n@@end\n`, 'demo~x');
}

const opening = '#!/usr/bin/env bash\n';

describe.each([
  ['an SSH target running SLURM', cluster],
  ['the local target', ClusterProfile.local()],
])('every script the shell backend builds for %s', (_name, target) => {
  const conn = () => connect(target, { projectDir: '/p', transportFor: async () => new LocalTransport() });

  it('GIVEN a stack of every kind WHEN plan builds its read script THEN shellcheck accepts it', async () => {
    const s = synthesis(target);
    const script = readScript(await conn(), {
      stack: s.stack,
      expected: expectedFiles(s),
      scripts: batchScripts(s),
      packageLocks: packageLockCommands(s),
      builds: buildsToDescribe(s),
      runDirs: ['prep', 'grid'],
    });
    expect(lintScript(`${opening}${script}\n`, 'read.sh')).toBe('');
  });

  it('GIVEN the same stack and an empty target WHEN apply builds its script THEN shellcheck accepts it', async () => {
    const s = synthesis(target);
    const plan = computePlan(s, parseRead('@@files\n@@end\n', 'demo~x'));
    const inputs = { ...applyInputs(plan, s), secrets: [{ name: 'HPCDK_TEST_TOKEN', value: 'x' }] };
    const c = await conn();
    const script = applyScript(c, applyProgram(c, inputs, 'apply'));
    expect(script).toContain('@@submitted');
    expect(lintScript(`${opening}${script}\n`, 'apply.sh')).toBe('');
  });

  it('GIVEN the stack applied and running WHEN destroy builds its script THEN shellcheck accepts it', async () => {
    const s = synthesis(target);
    const plan = computePlan(s, applied(s), { destroy: true });
    expect(plan.resources.some((r) => r.action === 'cancel')).toBe(true);
    const c = await conn();
    const script = applyScript(c, applyProgram(c, applyInputs(plan, s), 'destroy'));
    expect(lintScript(`${opening}${script}\n`, 'destroy.sh')).toBe('');
  });

  it('GIVEN the stack WHEN pull builds its view script THEN shellcheck accepts it', async () => {
    const s = synthesis(target);
    const { units } = pullUnits(s.manifest.resources, []);
    const script = viewScript((await conn()).stackDir(s.stack), 'pull-1', units, true);
    expect(lintScript(`${opening}${script}\n`, 'view.sh')).toBe('');
  });
});

describe('a failed apply step always says what failed', () => {
  it('GIVEN a step that fails without a word WHEN the apply script runs on the local target THEN its stderr names the command and its exit code', async () => {
    const s = synthesis(ClusterProfile.local());
    const plan = computePlan(s, parseRead('@@files\n@@end\n', 'demo~x'));
    const conn = await connect(ClusterProfile.local(), { projectDir: made[made.length - 1]! });
    // A cancel that fails silently, as a `touch … 2>/dev/null` of a missing folder once did.
    const scheduler = Object.assign(Object.create(conn.scheduler), { cancelLines: () => 'false 2>/dev/null' });
    const silent: TargetConnection = Object.assign(Object.create(conn), { scheduler });
    const program = { ...applyProgram(silent, applyInputs(plan, s), 'apply'), cancels: ['7'] };
    const r = await new LocalTransport().run(applyScript(silent, program));
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('hpcdk: apply stopped (exit 1) at: false');
    // Stopped before anything was uploaded: cancels come first.
    expect(r.stdout).not.toContain('@@step upload');
  });
});
