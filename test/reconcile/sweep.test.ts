import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterEnv, onCluster, testClusterProfile } from '../helpers/cluster.js';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';
import { waitFor } from '../helpers/wait.js';

afterAll(cleanupProjects);

interface Row {
  address: string;
  kind: string;
  status: string;
  jobId?: string;
}

const source = (
  target: string,
  seeds: string,
  prelude = '',
) => `import { App, Stack, Job, Sweep, ClusterProfile } from 'hpcdk';
void ClusterProfile;
${prelude}
const app = new App();
const s = new Stack(app, 'demo'${target ? `, { targets: [${target}] }` : ''});
const sweep = new Sweep(s, 'ppo', {
  grid: { lr: [0.001, 0.01], seed: [${seeds}] },
  throttle: 2,
  allocation: { time: '00:05:00' },
  run: [['echo', 'lr', Sweep.param('lr'), 'seed', Sweep.param('seed')], 'echo "point=$HPCDK_POINT task=$SLURM_ARRAY_TASK_ID"'],
});
new Job(s, 'report', { allocation: { time: '00:05:00' }, run: ['echo reported'] }).dependsOn(sweep);
`;

async function rows(dir: string, env: Record<string, string> = {}): Promise<Row[]> {
  const r = await hpcdk(dir, ['status', '--json'], env);
  expect(r.exitCode, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { resources: Row[] }).resources;
}

async function allDone(dir: string, env: Record<string, string> = {}): Promise<Row[]> {
  return waitFor(
    'every job to complete',
    async () => {
      const r = await rows(dir, env);
      return r.every((x) => x.status === 'COMPLETED') ? r : undefined;
    },
    60_000,
  );
}

describe('sweeps on the local target', () => {
  it('runs each point as an array task with its own parameters, then submits only new points', async () => {
    const dir = makeProject({ 'stacks/demo.ts': source('', '1, 2') });
    const plan = await hpcdk(dir, ['plan']);
    expect(plan.stdout).toContain('# ppo: 4 of 4 points will be submitted');
    expect(plan.stdout).toContain('Plan: 0 to add, 0 to change, 0 to destroy; 5 jobs to submit, 0 to cancel.');
    const apply = await hpcdk(dir, ['apply', '--yes']);
    expect(apply.exitCode, apply.stderr).toBe(0);
    expect(apply.stderr).toMatch(/submitted ppo \(job \d+, 4 array tasks\)/);
    const done = await allDone(dir);
    expect(done.filter((r) => r.kind === 'sweep-point').map((r) => r.jobId)).toEqual(['1_0', '1_1', '1_2', '1_3']);
    const logs = readFileSync(join(dir, '.hpcdk/local/demo/logs/ppo/demo.ppo-1_2.out'), 'utf8');
    expect(logs).toBe('lr 0.01 seed 1\npoint=lr=0.01,seed=1 task=2\n');
    expect((await hpcdk(dir, ['logs', 'ppo/lr=0.01,seed=1'])).stdout).toBe(logs);

    writeFileSync(join(dir, 'stacks/demo.ts'), source('', '1, 2, 3'));
    const more = await hpcdk(dir, ['plan', '--json']);
    const resources = JSON.parse(more.stdout).plans[0].resources as Array<{ address: string; action: string }>;
    expect(resources.filter((r) => r.action === 'submit').map((r) => r.address)).toEqual([
      'ppo/lr=0.001,seed=3',
      'ppo/lr=0.01,seed=3',
      'report',
    ]);
    const human = await hpcdk(dir, ['plan']);
    expect(human.stdout).toContain('# ppo: 2 of 6 points will be submitted');
    await hpcdk(dir, ['apply', '--yes']);
    const after = await allDone(dir);
    expect(after.find((r) => r.address === 'ppo/lr=0.001,seed=1')?.jobId).toBe('1_0');
    expect(after.find((r) => r.address === 'ppo/lr=0.001,seed=3')?.jobId).toBe('3_0');
    expect((await hpcdk(dir, ['plan', '--detailed-exitcode'])).exitCode).toBe(0);
  });
});

describe('sweeps on the SLURM test cluster', () => {
  it('splits points into arrays of at most MaxArraySize, throttled, and the dependent job waits for all of them', async (ctx) => {
    const env = clusterEnv(ctx);
    const sshEnv = { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! };
    const profile = testClusterProfile().replace("scheduler: 'slurm',", "scheduler: 'slurm',\n  maxArraySize: 3,");
    const dir = makeProject({ 'stacks/demo.ts': source('cluster', '1, 2, 3', `const cluster = ${profile};`) });
    const apply = await hpcdk(dir, ['apply', '--yes'], sshEnv);
    expect(apply.exitCode, apply.stderr).toBe(0);
    // 6 points in chunks of 3: two arrays.
    expect(apply.stderr.match(/submitted ppo \(job \d+, 3 array tasks\)/g)).toHaveLength(2);
    const done = await allDone(dir, sshEnv);
    expect(new Set(done.filter((r) => r.kind === 'sweep-point').map((r) => r.jobId!.split('_')[0])).size).toBe(2);
    expect((await hpcdk(dir, ['logs', 'report'], sshEnv)).stdout).toBe('reported\n');
    expect((await hpcdk(dir, ['plan', '--detailed-exitcode'], sshEnv)).exitCode).toBe(0);
    const remote = await onCluster(env, 'cat /tmp/hpcdk-remote-*/demo/logs/ppo/*.out | sort | head -1');
    expect(remote).toContain('lr 0.001 seed 1');
  });

  it('runs sbatch --test-only on new scripts inside the read, and names the construct it refuses', async (ctx) => {
    const env = clusterEnv(ctx);
    const sshEnv = { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! };
    // The profile declares no partitions, so synth cannot know; the scheduler can.
    const profile = testClusterProfile().replace(/partitions: \{[\s\S]*?\n {2}\},\n/, '');
    const dir = makeProject({
      'stacks/demo.ts': `import { App, Stack, Job, ClusterProfile } from 'hpcdk';
const cluster = ${profile};
const app = new App();
const s = new Stack(app, 'demo', { targets: [cluster] });
new Job(s, 'misplaced', { allocation: { partition: 'bigmem', time: '00:05:00' }, run: ['true'] });
`,
    });
    const plan = await hpcdk(dir, ['plan'], sshEnv);
    expect(plan.exitCode).toBe(1);
    expect(plan.stderr).toContain('[demo/misplaced] the scheduler refused misplaced/job.sbatch (sbatch --test-only)');
    expect(plan.stderr).toContain('invalid partition');
  });
});
