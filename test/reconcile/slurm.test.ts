import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterEnv, onCluster, ownKey, sessionsWithKey, testClusterProfile } from '../helpers/cluster.js';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';
import { waitFor } from '../helpers/wait.js';

afterAll(cleanupProjects);

function project(body: string): string {
  return makeProject({
    'stacks/demo.ts': `import { App, Stack, TextFile, Job, ClusterProfile, RuntimeRef } from 'hpcdk';
const cluster = ${testClusterProfile()};
const app = new App();
const s = new Stack(app, 'demo', { targets: [cluster] });
void RuntimeRef; void TextFile;
${body}
`,
  });
}

interface Row {
  address: string;
  status: string;
  jobId?: string;
  exitCode?: number;
}

function cli(env: Record<string, string>) {
  const sshEnv = { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! };
  return {
    run: (dir: string, args: string[]) => hpcdk(dir, args, sshEnv),
    status: async (dir: string): Promise<Row[]> => {
      const r = await hpcdk(dir, ['status', '--json'], sshEnv);
      expect(r.exitCode, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { resources: Row[] }).resources;
    },
  };
}

describe('plan and apply against the SLURM test cluster over SSH', () => {
  it('submits jobs with dependencies and GPUs, runs them to COMPLETED, and then has no changes', async (ctx) => {
    const env = clusterEnv(ctx);
    const { run, status } = cli(env);
    const dir = project(`
new TextFile(s, 'config', { fileName: 'config.yaml', content: 'lr: 0.1\\n' });
const prep = new Job(s, 'prep', { allocation: { time: '00:05:00' }, run: ['echo "prep in $SLURM_TMPDIR"'] });
new Job(s, 'train', {
  allocation: { partition: 'gpu', time: '00:10:00', gpus: { type: 'a100', count: 1 }, mem: '80G', cpusPerTask: 2 },
  env: { DATA: RuntimeRef.env('SLURM_TMPDIR').join('data') },
  run: ['cat files/config/config.yaml', 'echo "gpus=$CUDA_VISIBLE_DEVICES data=$DATA"'],
}).dependsOn(prep);
`);
    // Logins and sessions are counted by sshd itself, and scripts by the session shell, for this test's own key.
    const { config, fingerprint, scripts } = await ownKey(env, dir);
    const counted = (args: string[]) => hpcdk(dir, args, { HPCDK_SSH_CONFIG: config });
    const plan = await counted(['plan', '--detailed-exitcode']);
    expect(plan.exitCode, plan.stderr).toBe(2);
    expect(plan.stdout).toContain('Plan: 1 to add, 0 to change, 0 to destroy; 2 jobs to submit, 0 to cancel.');
    // One SSH connection, one session, one script for the whole plan.
    expect(sessionsWithKey(env, fingerprint)).toEqual({ logins: 1, sessions: 1 });
    expect(scripts()).toBe(1);

    const apply = await counted(['apply', '--yes']);
    expect(apply.exitCode, apply.stderr).toBe(0);
    // The plan's read and one script that does everything, over one connection and one session.
    expect(sessionsWithKey(env, fingerprint)).toEqual({ logins: 2, sessions: 2 });
    expect(scripts()).toBe(3);

    const rows = await waitFor(
      'jobs to complete',
      async () => {
        const r = await status(dir);
        return r.filter((x) => x.status === 'COMPLETED').length === 2 ? r : undefined;
      },
      60_000,
    );
    expect(rows.find((r) => r.address === 'train')).toMatchObject({ status: 'COMPLETED', exitCode: 0 });

    const logs = await run(dir, ['logs', 'train']);
    expect(logs.stdout).toMatch(/^lr: 0\.1\ngpus=\d data=\/.*\/data\n$/);
    expect(logs.stdout).not.toContain('$SLURM_TMPDIR');

    const again = await run(dir, ['plan', '--detailed-exitcode']);
    expect(again.exitCode, again.stdout).toBe(0);
    expect(again.stdout).toContain('No changes.');
  });

  it('shows a job cancelled by hand as drift and submits it again', async (ctx) => {
    const env = clusterEnv(ctx);
    const { run, status } = cli(env);
    // Held until an hour from now, so it is certainly pending when cancelled.
    const dir = project(
      `new Job(s, 'held', { allocation: { time: '00:05:00', extra: { begin: 'now+3600' } }, run: ['true'] });`,
    );
    expect((await run(dir, ['apply', '--yes'])).exitCode).toBe(0);
    const [row] = await status(dir);
    expect(row).toMatchObject({ status: 'PENDING' });
    await onCluster(env, `scancel ${row!.jobId}`);
    const plan = await waitFor('the cancel to show', async () => {
      const r = await run(dir, ['plan']);
      return r.stdout.includes('cancelled outside hpcdk') ? r : undefined;
    });
    expect(plan.stdout).toContain('Objects have changed outside hpcdk');
    expect(plan.stdout).toContain(`held: job ${row!.jobId} was cancelled outside hpcdk`);
    expect(plan.stdout).toMatch(/# held will be submitted \(last attempt CANCELLED/);
    await run(dir, ['destroy', '--yes']);
  });

  it('replaces a job that changed while pending: the old one is cancelled', async (ctx) => {
    const env = clusterEnv(ctx);
    const { run, status } = cli(env);
    const body = (cmd: string) =>
      `new Job(s, 'held', { allocation: { time: '00:05:00', extra: { begin: 'now+3600' } }, run: ['${cmd}'] });`;
    const dir = project(body('echo one'));
    await run(dir, ['apply', '--yes']);
    const [first] = await status(dir);
    writeFileSync(
      join(dir, 'stacks/demo.ts'),
      readFileSync(join(dir, 'stacks/demo.ts'), 'utf8').replace('echo one', 'echo two'),
    );
    const apply = await run(dir, ['apply', '--yes']);
    expect(apply.stdout).toContain(
      `# held will be replaced (cancelled, then submitted) (changed while pending (job ${first!.jobId}`,
    );
    const [second] = await status(dir);
    expect(second!.jobId).not.toBe(first!.jobId);
    expect(second!.status).toBe('PENDING');
    expect(await onCluster(env, `squeue -h -j ${first!.jobId} -o %T || true`)).not.toContain('PENDING');
    const destroy = await run(dir, ['destroy', '--yes']);
    expect(destroy.stdout).toContain('1 cancelled');
    expect(await onCluster(env, `squeue -h -j ${second!.jobId} -o %T || true`)).not.toContain('PENDING');
  });

  it('works through the system OpenSSH client too', async (ctx) => {
    const env = clusterEnv(ctx);
    const { run } = cli(env);
    const dir = project(`new TextFile(s, 'f', { content: 'x' });`);
    const r = await run(dir, ['apply', '--yes', '--openssh']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await run(dir, ['plan', '--openssh', '--detailed-exitcode'])).exitCode).toBe(0);
  });
});

describe('SSH host keys', () => {
  function configWith(env: Record<string, string>, dir: string, knownHosts: string): string {
    const config = join(dir, 'ssh_config');
    writeFileSync(
      config,
      readFileSync(env.HPCDK_SSH_CONFIG!, 'utf8').replace(/UserKnownHostsFile .*/, `UserKnownHostsFile ${knownHosts}`),
    );
    return config;
  }

  it('refuses an unknown host key by default, and records it with --accept-new-host-key', async (ctx) => {
    const env = clusterEnv(ctx);
    const dir = project(`new TextFile(s, 'f', { content: 'x' });`);
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, '');
    const sshEnv = { HPCDK_SSH_CONFIG: configWith(env, dir, knownHosts) };
    const refused = await hpcdk(dir, ['plan'], sshEnv);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(
      /unknown host key for \[127\.0\.0\.1\]:\d+ \(ssh-ed25519 SHA256:[^)]+\): refusing to connect/,
    );
    const accepted = await hpcdk(dir, ['plan', '--accept-new-host-key'], sshEnv);
    expect(accepted.exitCode, accepted.stderr).toBe(0);
    expect(readFileSync(knownHosts, 'utf8')).toMatch(/^\[127\.0\.0\.1\]:\d+ ssh-ed25519 /);
    expect((await hpcdk(dir, ['plan'], sshEnv)).exitCode).toBe(0);
  });

  it('refuses a changed host key even with --accept-new-host-key', async (ctx) => {
    const env = clusterEnv(ctx);
    const dir = project(`new TextFile(s, 'f', { content: 'x' });`);
    const knownHosts = join(dir, 'known_hosts');
    copyFileSync(env.HPCDK_SSH_KNOWN_HOSTS!, knownHosts);
    const line = readFileSync(knownHosts, 'utf8').trim().split(' ');
    writeFileSync(
      knownHosts,
      `${line[0]} ${line[1]} AAAAC3NzaC1lZDI1NTE5AAAAIBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB\n`,
    );
    const r = await hpcdk(dir, ['plan', '--accept-new-host-key'], {
      HPCDK_SSH_CONFIG: configWith(env, dir, knownHosts),
    });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('has CHANGED');
  });
});

describe('SSH connections', () => {
  it('go through a ProxyJump host', async (ctx) => {
    const env = clusterEnv(ctx);
    const dir = project(`new TextFile(s, 'f', { content: 'via a jump host' });`);
    // The loopback sshd plays both the jump host and the target.
    const base = readFileSync(env.HPCDK_SSH_CONFIG!, 'utf8');
    const config = join(dir, 'ssh_config');
    writeFileSync(
      config,
      `${base.replace('Host hpcdk-test', 'Host jump')}\nHost hpcdk-test\n  HostName 127.0.0.1\n  Port ${env.HPCDK_SSH_PORT}\n  User root\n  IdentityFile ${env.HPCDK_SSH_KEY}\n  UserKnownHostsFile ${env.HPCDK_SSH_KNOWN_HOSTS}\n  ProxyJump jump\n`,
    );
    const { fingerprint } = await ownKey(env, dir);
    writeFileSync(
      config,
      readFileSync(config, 'utf8').replace(/IdentityFile .*/g, `IdentityFile ${join(dir, 'id_counting')}`),
    );
    const r = await hpcdk(dir, ['plan'], { HPCDK_SSH_CONFIG: config });
    expect(r.exitCode, r.stderr).toBe(0);
    // Two logins (the jump host, then the target through it) but one exec: the jump only forwards.
    expect(sessionsWithKey(env, fingerprint)).toEqual({ logins: 2, sessions: 1 });
  });

  it('authenticate with the ssh-agent when no identity file is configured', async (ctx) => {
    const env = clusterEnv(ctx);
    const dir = project(`new TextFile(s, 'f', { content: 'via the agent' });`);
    const agent = execFileSync('ssh-agent', ['-s'], { encoding: 'utf8' });
    const sock = /SSH_AUTH_SOCK=([^;]+);/.exec(agent)![1]!;
    const pid = /SSH_AGENT_PID=(\d+);/.exec(agent)![1]!;
    try {
      execFileSync('ssh-add', [env.HPCDK_SSH_KEY!], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      const config = join(dir, 'ssh_config');
      writeFileSync(
        config,
        readFileSync(env.HPCDK_SSH_CONFIG!, 'utf8')
          .replace(/\s*IdentityFile .*/, '')
          .replace(/\s*IdentitiesOnly .*/, ''),
      );
      // HOME points nowhere, so no default key file can be found: only the agent can log in.
      const r = await hpcdk(dir, ['plan'], { HPCDK_SSH_CONFIG: config, SSH_AUTH_SOCK: sock, HOME: dir });
      expect(r.exitCode, r.stderr).toBe(0);
      const without = await hpcdk(dir, ['plan'], { HPCDK_SSH_CONFIG: config, SSH_AUTH_SOCK: '', HOME: dir });
      expect(without.exitCode).toBe(1);
      expect(without.stderr).toMatch(/authentication/i);
    } finally {
      process.kill(Number(pid));
    }
  });
});
