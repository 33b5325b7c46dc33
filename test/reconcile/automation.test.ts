import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterEnv, onCluster, testClusterProfile } from '../helpers/cluster.js';
import { cleanupProjects, hpcdk, makeProject, REPO } from '../helpers/project.js';
import { waitFor } from '../helpers/wait.js';

afterAll(cleanupProjects);

const WRAPPER = join(REPO, 'test', 'cluster', 'automation-wrapper.sh');

/**
 * An automation node on the test cluster's sshd, with no restart: a key of
 * this test's own, restricted in authorized_keys as DRAC restricts robot keys
 * (`restrict`, `from=`, `command=` the wrapper, which logs every command to
 * a log of this test's own), and an ssh config whose `hpcdk-robot` alias uses it.
 */
async function automationNode(env: Record<string, string>, dir: string) {
  const key = join(dir, 'id_robot');
  const log = join(dir, 'wrapper.log');
  writeFileSync(log, '');
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  const pub = readFileSync(`${key}.pub`, 'utf8').trim();
  appendFileSync(
    join(env.HPCDK_CLUSTER_DIR!, 'keys', 'authorized_keys'),
    `restrict,from="127.0.0.1",command="/bin/bash ${WRAPPER} ${log}" ${pub}\n`,
  );
  const fingerprint = (await execa('ssh-keygen', ['-l', '-f', `${key}.pub`])).stdout.split(' ')[1]!;
  const config = join(dir, 'ssh_config_robot');
  writeFileSync(
    config,
    `Host hpcdk-robot
  HostName ${env.HPCDK_SSH_HOST}
  Port ${env.HPCDK_SSH_PORT}
  User ${env.HPCDK_SSH_USER}
  IdentityFile ${key}
  IdentitiesOnly yes
  UserKnownHostsFile ${env.HPCDK_SSH_KNOWN_HOSTS}
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel ERROR
`,
  );
  return {
    log,
    run: (args: string[], extra: Record<string, string> = {}) =>
      hpcdk(dir, args, { HPCDK_SSH_CONFIG: config, ...extra }),
    /** Sessions sshd started (exec and sftp alike: one `Starting session:` line each) for this key's logins. */
    roundTrips: (): number => {
      const ports = new Set<string>();
      let sessions = 0;
      for (const line of readFileSync(env.HPCDK_SSH_LOG!, 'utf8').split('\n')) {
        const accepted = /^Accepted publickey for \S+ from \S+ port (\d+) .*(SHA256:\S+)/.exec(line);
        if (accepted && accepted[2] === fingerprint) ports.add(accepted[1]!);
        const started = /^Starting session: .* for \S+ from \S+ port (\d+)/.exec(line);
        if (started && ports.has(started[1]!)) sessions += 1;
      }
      return sessions;
    },
  };
}

/** The round trips one command makes, counted by sshd. */
async function counted(
  node: Awaited<ReturnType<typeof automationNode>>,
  args: string[],
  extra: Record<string, string> = {},
) {
  const before = node.roundTrips();
  const result = await node.run(args, extra);
  return { ...result, roundTrips: node.roundTrips() - before };
}

/** The allow-list as the node's administrators wrote it (the wrapper's, independently of hpcdk's copy). */
const ALLOWED =
  /^(ls|cat|echo|mv|cp|rm|mkdir|python\S*|git\S*|tar|gzip|zip|rsync|scp|\S*\/sftp-server|sftp-server|squeue\S*|scancel\S*|sbatch\S*|scontrol\S*)$/;

/**
 * Every command the wrapper received: none refused, each allow-listed, and
 * each of the exact shape hpcdk sends, word for word, so no argument can have
 * held a space (the wrapper would have split it into more words).
 */
function expectOnlyAllowedCommands(log: string): string[] {
  const lines = readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
  expect(lines.length).toBeGreaterThan(0);
  for (const line of lines) {
    expect(line, 'refused by the wrapper').not.toMatch(/^REFUSED /);
    const words = line.split(' ');
    expect(words[0], line).toMatch(ALLOWED);
    expect(line, line).not.toMatch(/\s{2}|\t|['"`$;&|<>(){}\\]|sacct/);
    if (words[0]!.endsWith('sftp-server')) expect(words, line).toHaveLength(1);
    else
      expect(line).toMatch(
        /^python3 \/\S+\/\.hpcdk\/helper-[0-9a-f]{16}\.py (read|apply|unlock) \/\S+\/\.hpcdk\/requests\/[a-z0-9_-]+-[0-9a-f]{12}\.json$/,
      );
  }
  return lines;
}

function robotProfile(automation = true): { source: string; base: string } {
  const source = testClusterProfile().replace(
    "ssh: { host: 'hpcdk-test' },",
    `ssh: { host: 'hpcdk-robot' },${automation ? '\n  automation: true,' : ''}`,
  );
  return { source, base: /basePath: "([^"]+)"/.exec(source)![1]! };
}

function project(body: string, profile = robotProfile()): { dir: string; base: string } {
  const dir = makeProject({
    'stacks/demo.ts': `import { App, Stack, TextFile, Job, Sweep, PythonEnv, ClusterProfile, Secret } from 'hpcdk';
const cluster = ${profile.source};
const app = new App();
const s = new Stack(app, 'demo', { targets: [cluster] });
void TextFile; void Job; void Sweep; void PythonEnv; void Secret;
${body}
`,
  });
  return { dir, base: profile.base };
}

interface Row {
  address: string;
  status: string;
  jobId?: string;
  exitCode?: number;
  run?: Record<string, unknown>;
}

const HELD = "allocation: { time: '00:05:00', extra: { begin: 'now+3600' } }";

/** A stack of `files` text files, `jobs` held jobs and a held sweep of `points` points. */
function sized(files: number, jobs: number, points: number): string {
  const lines = [];
  for (let i = 0; i < files; i += 1) lines.push(`new TextFile(s, 'f${i}', { content: 'file ${i}\\n' });`);
  for (let i = 0; i < jobs; i += 1) lines.push(`new Job(s, 'j${i}', { ${HELD}, run: ['true'] });`);
  if (points > 0)
    lines.push(
      `new Sweep(s, 'sw', { grid: { p: [${Array.from({ length: points }, (_, i) => i).join(', ')}] }, ${HELD}, run: ['true'] });`,
    );
  return lines.join('\n');
}

describe('automation mode against an automation node (forced-command wrapper, no shell)', () => {
  it('plans, applies files, dependent jobs and a sweep, reports status and logs, and destroys, in allow-listed commands only', async (ctx) => {
    const env = clusterEnv(ctx);
    const { dir, base } = project(`
new TextFile(s, 'config', { fileName: 'config.yaml', content: 'lr: 0.1\\n' });
new TextFile(s, 'notes', { content: 'run from a robot\\n' });
const prep = new Job(s, 'prep', { allocation: { time: '00:05:00' }, run: ['echo "prep in $SLURM_TMPDIR"'] });
new Sweep(s, 'grid', { grid: { x: [1, 2, 3] }, allocation: { time: '00:05:00' }, run: [['echo', 'x', Sweep.param('x')]] }).dependsOn(prep);
new Job(s, 'train', {
  allocation: { time: '00:05:00' },
  env: { TOKEN: Secret.fromEnv('HPCDK_ROBOT_TOKEN') },
  run: ['cat files/config/config.yaml', 'echo "token of \${#TOKEN} characters"', 'echo trained'],
}).dependsOn(prep);
`);
    const node = await automationNode(env, dir);

    const plan = await counted(node, ['plan', '--detailed-exitcode']);
    expect(plan.exitCode, plan.stderr).toBe(2);
    expect(plan.stdout).toContain('Plan: 2 to add, 0 to change, 0 to destroy; 5 jobs to submit, 0 to cancel.');
    // One sftp session (the helper, first time only, and the request), one command.
    expect(plan.roundTrips).toBe(2);

    const apply = await counted(node, ['apply', '--yes'], { HPCDK_ROBOT_TOKEN: 's3cret' });
    expect(apply.exitCode, apply.stderr).toBe(0);
    // The secret went up as a file only its owner can read, in a folder only its owner can enter.
    expect(
      await onCluster(env, `stat -c %a ${base}/demo/.hpcdk/secrets ${base}/demo/.hpcdk/secrets/HPCDK_ROBOT_TOKEN`),
    ).toBe('700\n600');
    expect(apply.stderr).toMatch(/submitted prep \(job \d+\)/);
    expect(apply.stderr).toMatch(/submitted grid \(job \d+, 3 array tasks\)/);
    expect(apply.stdout).toContain(
      'Apply complete! demo on testcluster: 2 added, 0 changed, 0 destroyed; 5 jobs submitted, 0 cancelled.',
    );
    // The plan's two, then one command: the files went up over the plan's sftp session.
    expect(apply.roundTrips).toBe(3);

    const rows = await waitFor(
      'every job to complete',
      async () => {
        const r = await node.run(['status', '--json']);
        expect(r.exitCode, r.stderr).toBe(0);
        const all = (JSON.parse(r.stdout) as { resources: Row[] }).resources;
        const jobs = all.filter((x) => x.jobId !== undefined);
        return jobs.length === 5 && jobs.every((x) => x.status === 'COMPLETED') ? all : undefined;
      },
      90_000,
    );
    expect(rows.find((r) => r.address === 'train')).toMatchObject({ status: 'COMPLETED', exitCode: 0 });
    expect(rows.find((r) => r.address === 'grid/x=2')).toMatchObject({
      status: 'COMPLETED',
      jobId: expect.stringMatching(/^\d+_1$/),
    });
    // The run records come with the same read: the helper prints them as the read script does.
    expect(rows.find((r) => r.address === 'train')!.run).toMatchObject({
      address: 'train',
      state: 'ended',
      exitCode: 0,
    });
    expect(rows.find((r) => r.address === 'grid/x=2')!.run).toMatchObject({
      address: 'grid',
      point: 'x=2',
      params: { x: 2 },
      state: 'ended',
    });
    expect(rows.find((r) => r.address === 'config')).toMatchObject({ status: 'deployed' });

    const status = await counted(node, ['status']);
    expect(status.roundTrips).toBe(2);
    const logs = await counted(node, ['logs', 'train']);
    expect(logs.stdout).toBe('lr: 0.1\ntoken of 6 characters\ntrained\n');
    // The journal and the log, read over one sftp session: no command at all.
    expect(logs.roundTrips).toBe(1);
    expect((await node.run(['logs', 'grid/x=2'])).stdout).toBe('x 2\n');

    const again = await counted(node, ['plan', '--detailed-exitcode']);
    expect(again.exitCode, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toContain('No changes.');

    const destroy = await counted(node, ['destroy', '--yes']);
    expect(destroy.exitCode, destroy.stderr).toBe(0);
    expect(destroy.roundTrips).toBeLessThanOrEqual(5);
    expect(await onCluster(env, `find ${base}/demo/files -type f | wc -l`)).toBe('0');

    // Helper runs: a read per plan and status, an apply per apply and destroy; logs ran none.
    const modes = expectOnlyAllowedCommands(node.log)
      .filter((c) => c.startsWith('python3 '))
      .map((c) => c.split(' ')[2]);
    expect(modes.slice(0, 3)).toEqual(['read', 'read', 'apply']);
    expect(modes.slice(-2)).toEqual(['read', 'apply']);
    expect(modes.filter((m) => m === 'apply')).toHaveLength(2);
  });

  it('makes as many round trips for 30 resources as for 3', async (ctx) => {
    const env = clusterEnv(ctx);
    const figures: Record<string, { plan: number; apply: number; destroy: number }> = {};
    for (const [name, body] of [
      ['3', sized(2, 1, 0)],
      ['30', sized(20, 2, 8)],
    ] as const) {
      const { dir } = project(body);
      const node = await automationNode(env, dir);
      const plan = await counted(node, ['plan', '--json']);
      expect(plan.exitCode, plan.stderr).toBe(0);
      expect((JSON.parse(plan.stdout) as { plans: Array<{ resources: unknown[] }> }).plans[0]!.resources).toHaveLength(
        Number(name),
      );
      const apply = await counted(node, ['apply', '--yes']);
      expect(apply.exitCode, apply.stderr).toBe(0);
      const destroy = await counted(node, ['destroy', '--yes']);
      expect(destroy.exitCode, destroy.stderr).toBe(0);
      expect(destroy.stdout).toMatch(/Destroy complete!.* \d+ cancelled\./);
      figures[name] = { plan: plan.roundTrips, apply: apply.roundTrips, destroy: destroy.roundTrips };
      expectOnlyAllowedCommands(node.log);
    }
    expect(figures['3']).toEqual({ plan: 2, apply: 3, destroy: 3 });
    expect(figures['30']).toEqual(figures['3']);
  });

  it('refuses at plan a login-node environment build, naming it, with nothing written to the target', async (ctx) => {
    const env = clusterEnv(ctx);
    const env_ = (
      build: string,
    ) => `const py = new PythonEnv(s, 'py', { interpreter: '/usr/bin/python3', requirements: ['alpha==1.0.0'], build: '${build}' });
new Job(s, 'use', { environment: py, allocation: { time: '00:05:00' }, run: ['true'] });`;
    const { dir, base } = project(env_('login'));
    const node = await automationNode(env, dir);
    for (const command of [['plan'], ['apply', '--yes']]) {
      const r = await node.run(command);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain(
        "[py] python-env cannot be built on an automation node: build it in the job (build: 'job') or apply once from an interactive session",
      );
    }
    expect(await onCluster(env, `test -e ${base} && echo written || echo nothing`)).toBe('nothing');
    // Only the journal was looked for, over sftp: no command ran.
    expect(expectOnlyAllowedCommands(node.log).every((c) => c.endsWith('/sftp-server'))).toBe(true);

    // Built in the job instead, the same environment plans (and would apply) there.
    writeFileSync(
      join(dir, 'stacks/demo.ts'),
      readFileSync(join(dir, 'stacks/demo.ts'), 'utf8').replace("build: 'login'", "build: 'job'"),
    );
    const plan = await node.run(['plan', '--detailed-exitcode']);
    expect(plan.exitCode, plan.stderr).toBe(2);
    expectOnlyAllowedCommands(node.log);
  });

  it('runs sbatch --test-only in the read and names the construct whose script the scheduler refuses', async (ctx) => {
    const env = clusterEnv(ctx);
    const profile = robotProfile();
    const { dir } = project(
      `new Job(s, 'misplaced', { allocation: { partition: 'bigmem', time: '00:05:00' }, run: ['true'] });`,
      {
        ...profile,
        // No partitions declared, so synth cannot know; the scheduler can.
        source: profile.source.replace(/partitions: \{[\s\S]*?\n {2}\},\n/, ''),
      },
    );
    const node = await automationNode(env, dir);
    const plan = await node.run(['plan']);
    expect(plan.exitCode).toBe(1);
    expect(plan.stderr).toContain('[demo/misplaced] the scheduler refused misplaced/job.sbatch (sbatch --test-only)');
    expect(plan.stderr).toContain('invalid partition');
    expectOnlyAllowedCommands(node.log);
  });

  it('is chosen by --automation too, works through the system OpenSSH client, and force-unlocks', async (ctx) => {
    const env = clusterEnv(ctx);
    const { dir, base } = project(
      `new TextFile(s, 'f', { content: 'x' });\nnew Job(s, 'held', { ${HELD}, run: ['true'] });`,
      robotProfile(false),
    );
    const node = await automationNode(env, dir);
    // Without the mode, hpcdk sends a bash command line, which the wrapper refuses.
    const shell = await node.run(['plan']);
    expect(shell.exitCode).toBe(1);
    expect(shell.stderr).toContain(`automation node: command not allowed: bash --norc -c 'while IFS= read`);
    writeFileSync(node.log, '');

    const apply = await counted(node, ['apply', '--yes', '--automation', '--openssh']);
    expect(apply.exitCode, apply.stderr).toBe(0);
    // Through OpenSSH each sftp batch is its own session: plan 2, then the upload and the apply.
    expect(apply.roundTrips).toBe(4);
    const plan = await node.run(['plan', '--automation', '--openssh', '--detailed-exitcode']);
    expect(plan.exitCode, plan.stdout + plan.stderr).toBe(0);

    await onCluster(
      env,
      `mkdir ${base}/demo/.hpcdk/lock && echo 'ci@gone op=apply host=elsewhere pid=1 since=1' > ${base}/demo/.hpcdk/lock/owner`,
    );
    const unlock = await node.run(['force-unlock', 'demo', '--automation']);
    expect(unlock.exitCode, unlock.stderr).toBe(0);
    expect(unlock.stdout).toContain(
      'Removed the lock on demo (testcluster) held by ci@gone op=apply host=elsewhere pid=1 since=1.',
    );
    expect(await onCluster(env, `test -e ${base}/demo/.hpcdk/lock && echo locked || echo free`)).toBe('free');

    const destroy = await node.run(['destroy', '--yes', '--automation', '--openssh']);
    expect(destroy.exitCode, destroy.stderr).toBe(0);
    expect(destroy.stdout).toContain('1 cancelled');
    expectOnlyAllowedCommands(node.log);
  });
});
