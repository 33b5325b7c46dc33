import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClusterProfile, Job, PythonEnv, Testing } from '../../lib/index.js';
import {
  collectModules,
  connectionCheck,
  evaluate,
  parseProbes,
  renderDoctorScript,
  type DoctorSpec,
  type ProbeResult,
} from '../../lib/ops/doctor.js';
import { RuntimeRef } from '../../lib/shell/index.js';
import { synthesizeStack } from '../../lib/synth/synthesize.js';
import { LocalTransport } from '../../lib/targets/transport.js';
import { lintScript } from '../helpers/shellcheck.js';

const cluster = new ClusterProfile('narval', {
  scheduler: 'slurm',
  ssh: { host: 'narval' },
  partitions: { cpu: { maxTime: '1-00:00:00' }, gpu: { maxTime: '1-00:00:00' } },
  modules: 'lmod',
  shellInit: ["/opt/it's here/lmod.sh"],
  scratchVar: 'SLURM_TMPDIR',
  containerRuntime: 'apptainer',
});

function spec(overrides: Partial<DoctorSpec> = {}): DoctorSpec {
  return {
    profile: cluster,
    basePath: RuntimeRef.env('HOME').join('.hpcdk'),
    modules: [
      { name: 'python/3.11.5', namedBy: ['exp/env'] },
      { name: 'nosuch/1.0', namedBy: ['exp/env', 'exp/train'] },
    ],
    imagesUsed: false,
    ...overrides,
  };
}

/** The probe answers of a healthy SLURM login node, as the script prints them. */
function healthy(): Map<string, ProbeResult> {
  return new Map<string, ProbeResult>([
    ['basics', { code: 0, output: 'bash 5.2\nuser alice\nhost login1' }],
    [
      'commands',
      {
        code: 0,
        output:
          'sbatch /usr/bin/sbatch\nsqueue /usr/bin/squeue\nscancel /usr/bin/scancel\nscontrol /usr/bin/scontrol\nsinfo /usr/bin/sinfo\nsrun /usr/bin/srun',
      },
    ],
    ['squeue-version', { code: 0, output: 'slurm 23.02.7' }],
    ['sinfo-version', { code: 0, output: 'slurm 23.02.7' }],
    ['partitions', { code: 0, output: 'cpu\ngpu\nlarge' }],
    ['shell-init', { code: 0, output: 'sourced' }],
    ['module-system', { code: 0, output: 'function\nModules based on Lua: Version 8.7.32' }],
    ['module.0', { code: 0, output: '' }],
    ['module.1', { code: 1, output: '' }],
    ['runtime', { code: 127, output: 'bash: line 3: apptainer: command not found' }],
    ['runtimes', { code: 0, output: 'podman' }],
    ['write', { code: 0, output: 'base /home/alice/.hpcdk' }],
    ['sacct', { code: 1, output: 'Slurm accounting storage is disabled' }],
    ['sacct-json', { code: 1, output: 'Slurm accounting storage is disabled' }],
    ['squeue-json', { code: 0, output: 'json' }],
  ]);
}

const byId = (checks: ReturnType<typeof evaluate>) => new Map(checks.map((c) => [c.id, c]));

describe('the doctor probe script', () => {
  it('GIVEN a SLURM profile with modules, a container runtime and --probe-job WHEN rendered THEN bash and shellcheck accept it, and every value is quoted', () => {
    const script = renderDoctorScript(spec({ probeJob: ['--job-name=hpcdk-doctor', '--time=1'] }));
    expect(lintScript(`#!/usr/bin/env bash\n${script}`)).toBe('');
    expect(script).toContain(`for f in '/opt/it'\\''s here/lmod.sh'; do`);
    expect(script).toContain('module is-avail nosuch/1.0 2>/dev/null || module -t avail nosuch/1.0');
    expect(script).toContain('timeout 120 srun --job-name=hpcdk-doctor --time=1 bash -c');
    expect(script).toContain('b="${HOME}/.hpcdk"');
    // One probe per question, and an end marker: the parser tells a cut-short answer from a finished one.
    expect(script.match(/^hpcdk_emit /gm)).toHaveLength(16);
    expect(script.trimEnd().endsWith("echo '@@end'")).toBe(true);
  });

  it('GIVEN the local target and a hostile base path WHEN the script runs in bash THEN it probes that very folder, leaves nothing behind and runs nothing from the path', async () => {
    const work = mkdtempSync(join(tmpdir(), 'hpcdk-doctor-'));
    const base = join(work, "new $(touch pwned) 'dir'", 'deeper');
    const profile = ClusterProfile.local({ basePath: base });
    const local = spec({ profile, basePath: base, modules: [] });
    const r = await new LocalTransport().run(`cd ${JSON.stringify(work)}\n${renderDoctorScript(local)}`);
    const results = parseProbes(r.stdout);
    expect(results, r.stderr).toBeDefined();
    const checks = byId(evaluate(local, results!));
    expect(checks.get('write-access')).toMatchObject({ status: 'ok', detail: `created and removed a file in ${base}` });
    expect(checks.get('basics')).toMatchObject({ status: 'ok', title: 'shell tools and the local scheduler' });
    expect(checks.get('scratch')).toMatchObject({ status: 'ok' });
    // The folders it made to probe are gone again, and the substitution never ran.
    expect(existsSync(join(work, "new $(touch pwned) 'dir'"))).toBe(false);
    expect(existsSync(join(work, 'pwned'))).toBe(false);
  });
});

describe('reading the answers', () => {
  it('GIVEN output without the end marker WHEN parsed THEN it is no answer, not a pass', () => {
    expect(parseProbes(`@@probe basics 0 ${Buffer.from('bash 5.2').toString('base64')}\n`)).toBeUndefined();
    const done = parseProbes(
      `noise\n@@probe basics 0 ${Buffer.from('bash 5.2\n').toString('base64')}\n@@probe write 1 \n@@end\n`,
    );
    expect(done).toEqual(
      new Map([
        ['basics', { code: 0, output: 'bash 5.2' }],
        ['write', { code: 1, output: '' }],
      ]),
    );
  });

  it('GIVEN a missing module, a runtime that is not installed and no accounting WHEN evaluated THEN the first two fail with their fixes and accounting only warns', () => {
    const checks = byId(evaluate(spec(), healthy()));
    expect(checks.get('slurm-commands')).toMatchObject({
      status: 'ok',
      detail: 'sbatch, squeue, scancel, scontrol, sinfo (slurm 23.02.7)',
    });
    expect(checks.get('partitions')).toMatchObject({ status: 'ok' });
    expect(checks.get('module:python/3.11.5')).toMatchObject({ status: 'ok', detail: 'available (named by exp/env)' });
    const missing = checks.get('module:nosuch/1.0')!;
    expect(missing.status).toBe('fail');
    expect(missing.detail).toBe('not available on target narval (named by exp/env, exp/train)');
    expect(missing.fix).toContain('module spider nosuch');
    expect(missing.fix).toContain('fix the name in exp/env, exp/train');
    const runtime = checks.get('container-runtime')!;
    expect(runtime).toMatchObject({ status: 'fail', title: 'container runtime apptainer' });
    expect(runtime.detail).toBe('apptainer --version failed (not installed); the target has podman');
    expect(runtime.fix).toContain('set containerRuntime in the profile of target narval to what it has (podman)');
    expect(checks.get('accounting')).toMatchObject({
      status: 'warn',
      detail: 'sacct does not work (Slurm accounting storage is disabled)',
    });
    expect(checks.get('sacct-json')).toMatchObject({ status: 'skip' });
    expect(checks.get('squeue-json')).toMatchObject({ status: 'ok' });
    // The scratch variable lives in jobs: without a probe job it is said to be unchecked, not passed.
    expect(checks.get('scratch')).toMatchObject({ status: 'skip' });
    expect(checks.get('scratch')!.detail).toContain('--probe-job');
    expect([...checks.values()].filter((c) => c.status === 'fail').map((c) => c.id)).toEqual([
      'module:nosuch/1.0',
      'container-runtime',
    ]);
  });

  it('GIVEN a partition the cluster does not have and a module command that is missing WHEN evaluated THEN both fail, and modules are not checked against a broken module system', () => {
    const results = healthy();
    results.set('partitions', { code: 0, output: 'cpu\nlarge' });
    results.set('module-system', { code: 1, output: '' });
    const checks = byId(evaluate(spec(), results));
    expect(checks.get('partitions')).toMatchObject({
      status: 'fail',
      detail: 'the profile declares gpu, which sinfo does not list (it lists cpu, large)',
    });
    expect(checks.get('module-system')!.fix).toContain('/etc/profile.d/lmod.sh');
    expect(checks.get('module:python/3.11.5')).toMatchObject({ status: 'skip' });
  });

  it('GIVEN probe jobs that ran, timed out, or found no scratch WHEN evaluated THEN the scratch check says which', () => {
    const withJob = spec({ probeJob: ['--time=1'] });
    const scratch = (answer: ProbeResult) =>
      byId(evaluate(withJob, new Map([...healthy(), ['probe-job', answer]]))).get('scratch')!;
    expect(scratch({ code: 0, output: 'job 42\nvalue /local/42\nwritable' })).toMatchObject({
      status: 'ok',
      detail: '$SLURM_TMPDIR=/local/42 in job 42, writable',
    });
    expect(scratch({ code: 124, output: 'srun: job 43 queued and waiting for resources' })).toMatchObject({
      status: 'fail',
      detail: 'the probe job did not run within 120 s',
    });
    const unset = scratch({ code: 0, output: 'job 44\nvalue ' });
    expect(unset).toMatchObject({ status: 'fail', detail: '$SLURM_TMPDIR is not set inside job 44' });
    expect(unset.fix).toContain('set scratchVar');
    expect(scratch({ code: 1, output: 'srun: error: invalid partition specified: cpu' }).detail).toBe(
      'the probe job failed: srun: error: invalid partition specified: cpu',
    );
  });

  it('GIVEN connect failures WHEN classified THEN an unknown key, a changed key and a refused login each get their own fix', () => {
    const host = { hostName: 'narval.example.org', port: 22, knownHostsFile: '/home/alice/.ssh/known_hosts' };
    expect(connectionCheck('ssh alice@narval:22', undefined)).toMatchObject({
      status: 'ok',
      detail: 'ssh alice@narval:22',
    });
    const unknown = connectionCheck(
      '',
      'unknown host key for narval.example.org (ssh-ed25519 SHA256:abc): refusing to connect',
      host,
    );
    expect(unknown.status).toBe('fail');
    expect(unknown.fix).toContain('--accept-new-host-key');
    expect(unknown.fix).toContain('ssh-keyscan narval.example.org >> /home/alice/.ssh/known_hosts');
    const changed = connectionCheck(
      '',
      'the host key of narval.example.org has CHANGED (ssh-ed25519 SHA256:abc)',
      host,
    );
    expect(changed.fix).toContain("ssh-keygen -R 'narval.example.org' -f /home/alice/.ssh/known_hosts");
    expect(changed.fix).toContain('--accept-new-host-key never accepts a changed key');
    expect(connectionCheck('', 'Host key verification failed.', { ...host, port: 2222 }).fix).toContain(
      'ssh-keyscan -p 2222 narval.example.org',
    );
    expect(connectionCheck('', 'All configured authentication methods failed').fix).toContain('ControlMaster');
  });
});

describe('the modules stacks name', () => {
  it('GIVEN environments with modules and a job step that loads one by hand WHEN collected THEN each module is listed once with every construct that names it', () => {
    const stack = Testing.stack({ targets: [cluster] }, 'exp');
    const env = new PythonEnv(stack, 'env', { modules: ['python/3.11.5', 'gcc'] });
    new Job(stack, 'train', { environment: env, run: ['module load opencv/4.10.0 "$X" && python train.py'] });
    const modules = collectModules([{ stack, synthesis: synthesizeStack(stack, cluster) }]);
    expect(modules).toEqual([
      { name: 'gcc', namedBy: ['exp/env', 'exp/train'] },
      { name: 'opencv/4.10.0', namedBy: ['exp/train'] },
      { name: 'python/3.11.5', namedBy: ['exp/env', 'exp/train'] },
    ]);
  });
});
