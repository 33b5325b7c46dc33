import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterEnv, ownKey, sessionsWithKey, testClusterProfile } from '../helpers/cluster.js';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';

afterAll(cleanupProjects);

/** A project whose one stack targets the test cluster (profile source given), with an env and a job that load modules. */
function project(profile: string, modules: string[] = ['python/3.11.5', 'gcc']): string {
  return makeProject({
    'stacks/demo.ts': `import { App, ClusterProfile, Job, PythonEnv, Stack } from 'hpcdk';
const cluster = ${profile};
const app = new App();
const s = new Stack(app, 'demo', { targets: [cluster] });
const env = new PythonEnv(s, 'env', { interpreter: '/usr/bin/python3', modules: ${JSON.stringify(modules)} });
new Job(s, 'use', { environment: env, run: ['module load scipy-stack/2024a', 'python -V'] });
`,
  });
}

interface JsonCheck {
  id: string;
  status: string;
  detail: string;
  fix?: string;
}

const basePathOf = (dir: string) => /basePath: "([^"]+)"/.exec(readFileSync(join(dir, 'stacks/demo.ts'), 'utf8'))![1]!;

describe('hpcdk doctor against the SLURM test cluster', () => {
  it('GIVEN a stack whose modules exist WHEN doctor runs THEN every needed check passes in one round trip and it exits 0; --probe-job checks $SLURM_TMPDIR inside a job', async (ctx) => {
    const env = clusterEnv(ctx);
    const dir = project(testClusterProfile());
    const { config, fingerprint } = await ownKey(env, dir);
    const r = await hpcdk(dir, ['doctor'], { HPCDK_SSH_CONFIG: config });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    // One connection, one script: sshd counts the execs.
    expect(sessionsWithKey(env, fingerprint)).toEqual({ logins: 1, sessions: 1 });
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('Target testcluster (slurm)');
    expect(lines).toContain('✓ connection: ssh root@127.0.0.1:2222');
    expect(r.stdout).toMatch(
      /^✓ SLURM commands: sbatch, squeue, scancel, scontrol, sinfo \(slurm[-\w]* \d+\.\d+\.\d+\)$/m,
    );
    expect(lines).toContain('✓ partitions: debug, gpu (sinfo lists debug, gpu, long)');
    expect(lines).toContain('✓ shellInit: sourced /etc/profile.d/lmod.sh');
    expect(r.stdout).toMatch(/^✓ module system \(lmod\): Modules based on Lua: Version \d/m);
    expect(lines).toContain('✓ module gcc: available (named by demo/env, demo/use)');
    expect(lines).toContain('✓ module python/3.11.5: available (named by demo/env, demo/use)');
    expect(lines).toContain('✓ module scipy-stack/2024a: available (named by demo/use)');
    expect(lines).toContain(
      '- scratch $SLURM_TMPDIR: set inside jobs, not on the login node, so not checked from here (--probe-job runs a one-minute job that checks it)',
    );
    expect(lines).toContain(`✓ write access: created and removed a file in ${basePathOf(dir)}`);
    // This cluster has no accounting: a warning, with its explanation, not a failure.
    expect(lines).toContain('! accounting (sacct): sacct does not work (Slurm accounting storage is disabled)');
    expect(lines).toContain('✓ squeue --json: available');
    expect(r.stdout).toContain('\nTo fix:\n! accounting (sacct): optional:');
    expect(r.stdout.trimEnd().endsWith('Ready, 1 warning.')).toBe(true);
    // NO_COLOR (set by the helper) means plain text.
    expect(r.stdout).not.toContain('\u001b[');
    // The probe file and the base folder it made are gone again.
    expect(existsSync(basePathOf(dir))).toBe(false);

    const probed = await hpcdk(dir, ['doctor', '--probe-job', '--json'], { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! });
    expect(probed.exitCode, probed.stderr).toBe(0);
    const doc = JSON.parse(probed.stdout) as {
      format_version: string;
      ok: boolean;
      targets: Array<{ target: string; ok: boolean; checks: JsonCheck[] }>;
    };
    expect(doc).toMatchObject({ format_version: '1', ok: true, targets: [{ target: 'testcluster', ok: true }] });
    const scratch = doc.targets[0]!.checks.find((c) => c.id === 'scratch')!;
    expect(scratch.status).toBe('ok');
    // The TaskProlog's folder for that very job.
    const m = /^\$SLURM_TMPDIR=(\S+)\/scratch\/(\d+) in job (\d+), writable$/.exec(scratch.detail);
    expect(m, scratch.detail).not.toBeNull();
    expect(m![1]).toBe(env.HPCDK_CLUSTER_DIR);
    expect(m![2]).toBe(m![3]);
  }, 120_000);

  it('GIVEN a module that does not exist and containerRuntime apptainer, which is not installed WHEN doctor runs THEN it exits 1 and names both with their fixes', async (ctx) => {
    const env = clusterEnv(ctx);
    const dir = project(`${testClusterProfile()}.extend('testcluster', { containerRuntime: 'apptainer' })`, [
      'python/3.11.5',
      'nosuch/9.9',
    ]);
    const r = await hpcdk(dir, ['doctor'], { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! });
    expect(r.exitCode, r.stdout + r.stderr).toBe(1);
    const lines = r.stdout.split('\n');
    expect(lines).toContain('✗ module nosuch/9.9: not available on target testcluster (named by demo/env, demo/use)');
    expect(lines).toContain('✓ module python/3.11.5: available (named by demo/env, demo/use)');
    expect(lines).toContain(
      '✗ container runtime apptainer: apptainer --version failed (not installed); the target has podman, docker',
    );
    const fixes = r.stdout.slice(r.stdout.indexOf('\nTo fix:\n'));
    expect(fixes).toContain('✗ module nosuch/9.9: `module spider nosuch` on the target lists the versions that exist');
    expect(fixes).toContain('fix the name in demo/env, demo/use');
    expect(fixes).toContain(
      '✗ container runtime apptainer: install apptainer on the target (or load its module in shellInit), or set containerRuntime in the profile of target testcluster to what it has (podman, docker)',
    );
    expect(r.stdout.trimEnd().endsWith('2 problems, 1 warning.')).toBe(true);
  });

  it('GIVEN a host key the client has never seen WHEN doctor runs THEN the connection fails with how to accept it; --accept-new-host-key records it and the checks run; a changed key is refused even then', async (ctx) => {
    const env = clusterEnv(ctx);
    const dir = project(testClusterProfile());
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, '');
    const config = join(dir, 'ssh_config');
    writeFileSync(
      config,
      readFileSync(env.HPCDK_SSH_CONFIG!, 'utf8').replace(/UserKnownHostsFile .*/, `UserKnownHostsFile ${knownHosts}`),
    );
    const sshEnv = { HPCDK_SSH_CONFIG: config };

    for (const args of [['doctor'], ['doctor', '--openssh']]) {
      const refused = await hpcdk(dir, args, sshEnv);
      expect(refused.exitCode, refused.stderr).toBe(1);
      expect(refused.stdout).toMatch(
        /^✗ connection: .*(unknown host key for \[127\.0\.0\.1\]:2222|No ED25519 host key is known for \[127\.0\.0\.1\]:2222)/m,
      );
      expect(refused.stdout).toContain('- checks on the target: not run: no connection');
      expect(refused.stdout).toContain(
        `✗ connection: the host key of [127.0.0.1]:2222 is not in ${knownHosts} yet. Check its fingerprint against the cluster's documentation, then run again with --accept-new-host-key (hpcdk records it), or add it yourself: ssh-keyscan -p 2222 127.0.0.1 >> ${knownHosts}`,
      );
    }

    const accepted = await hpcdk(dir, ['doctor', '--accept-new-host-key'], sshEnv);
    expect(accepted.exitCode, accepted.stdout).toBe(0);
    expect(readFileSync(knownHosts, 'utf8')).toMatch(/^\[127\.0\.0\.1\]:2222 ssh-ed25519 /);

    // Another key for the same host: a man in the middle, as far as anyone can tell.
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'impostor')]);
    writeFileSync(
      knownHosts,
      `[127.0.0.1]:2222 ${readFileSync(join(dir, 'impostor.pub'), 'utf8').split(' ').slice(0, 2).join(' ')}\n`,
    );
    const changed = await hpcdk(dir, ['doctor', '--accept-new-host-key'], sshEnv);
    expect(changed.exitCode).toBe(1);
    expect(changed.stdout).toContain('has CHANGED');
    expect(changed.stdout).toContain(`remove the old key with ssh-keygen -R '[127.0.0.1]:2222' -f ${knownHosts}`);
    expect(changed.stdout).toContain('--accept-new-host-key never accepts a changed key');
  }, 90_000);
});

describe('hpcdk doctor on the local target', () => {
  it('GIVEN a stack on the local target WHEN doctor runs THEN bash, the local scheduler, scratch and write access pass and it exits 0', async () => {
    const dir = makeProject({
      'stacks/hello.ts': `import { App, Job, Stack } from 'hpcdk';
const app = new App();
const s = new Stack(app, 'hello');
new Job(s, 'say', { run: ['module load gcc', 'echo hi'] });
`,
    });
    const r = await hpcdk(dir, ['doctor']);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('Target local (local)');
    expect(lines).toContain('✓ connection: local');
    expect(r.stdout).toMatch(/^✓ shell tools and the local scheduler: bash \d+\.\d+, coreutils as \S+ on \S+$/m);
    expect(lines).toContain('- modules: stacks name modules (gcc); the local target loads none');
    expect(lines).toContain(
      '✓ scratch $TMPDIR: the local runner gives every job a private folder as $TMPDIR and $SLURM_TMPDIR',
    );
    expect(lines).toContain(`✓ write access: created and removed a file in ${join(dir, '.hpcdk/local')}`);
    // SLURM-only checks are not shown for a laptop.
    expect(r.stdout).not.toContain('sacct');
    expect(r.stdout.trimEnd().endsWith('Ready.')).toBe(true);
    expect(existsSync(join(dir, '.hpcdk'))).toBe(false);
  });
});
