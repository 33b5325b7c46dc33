import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterEnv, onCluster, testClusterProfile } from '../helpers/cluster.js';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';
import { waitFor } from '../helpers/wait.js';

afterAll(cleanupProjects);

interface Row {
  address: string;
  status: string;
  jobId?: string;
}

async function row(dir: string, address: string, env: Record<string, string> = {}): Promise<Row | undefined> {
  const r = await hpcdk(dir, ['status', '--json'], env);
  expect(r.exitCode, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { resources: Row[] }).resources.find((x) => x.address === address);
}

const stack = (
  target: string,
  body: string,
) => `import { App, Stack, Job, Sweep, Scratch, RuntimeRef, ClusterProfile } from 'hpcdk';
void ClusterProfile; void Sweep; void Scratch; void RuntimeRef;
const app = new App();
const s = new Stack(app, 'out', { targets: [${target}] });
${body}
`;

describe('outputs on node-local disk, on the local target', () => {
  it('are copied back per array task, with a run record per task, and a failed copy fails the job naming what was left', async () => {
    // GIVEN a sweep that writes its outputs to scratch, and a job whose destination cannot be written
    const dir = makeProject({
      'stacks/out.ts': stack(
        'ClusterProfile.local()',
        `
new Sweep(s, 'grid', {
  grid: { x: [1, 2, 3] },
  outputs: [{ from: Scratch.path('out'), to: 'results/grid' }],
  run: ['mkdir -p "$HPCDK_SCRATCH/out" && echo "x is $x" > "$HPCDK_SCRATCH/out/result.txt"'],
});
new Job(s, 'blocked', {
  outputs: [{ from: Scratch.path('out'), to: 'results/blocked' }],
  run: ['mkdir -p "$HPCDK_SCRATCH/out" && echo data > "$HPCDK_SCRATCH/out/result.txt"', 'mkdir -p "$HPCDK_STACK_DIR/results" && touch "$HPCDK_STACK_DIR/results/blocked"'],
});`,
      ),
    });
    // WHEN it is rendered, applied and has run
    expect((await hpcdk(dir, ['synth'])).exitCode).toBe(0);
    expect((await hpcdk(dir, ['apply', '--yes'])).exitCode).toBe(0);
    const stackDir = join(dir, '.hpcdk/local/out');
    await waitFor('the jobs to end', async () => {
      const r = await hpcdk(dir, ['status', '--json']);
      const rows = (JSON.parse(r.stdout) as { resources: Row[] }).resources;
      return rows.every((x) => x.status === 'COMPLETED' || x.status === 'FAILED') ? rows : undefined;
    });

    // THEN each task's outputs are in a folder of its own
    for (const x of [1, 2, 3])
      expect(readFileSync(join(stackDir, `results/grid/x=${x}/result.txt`), 'utf8')).toBe(`x is ${x}\n`);
    // AND each task has its run record, with its point, params, identity and the script's hash
    const manifest = JSON.parse(readFileSync(join(dir, 'snapshots/out/local/manifest.json'), 'utf8')) as {
      artifacts: Array<{ path: string; sha256: string }>;
      resources: Array<{ address: string; identity: string }>;
    };
    const records = readdirSync(join(stackDir, 'logs/grid'))
      .filter((f) => f.endsWith('.run.json'))
      .map((f) => JSON.parse(readFileSync(join(stackDir, 'logs/grid', f), 'utf8')));
    expect(records.map((r) => r.point).sort()).toEqual(['x=1', 'x=2', 'x=3']);
    for (const r of records) {
      expect(r).toMatchObject({
        stack: 'out',
        address: 'grid',
        state: 'ended',
        exitCode: 0,
        restartCount: 0,
        params: { x: Number(r.point.slice(2)) },
      });
      expect(r.identity).toBe(manifest.resources.find((m) => m.address === `grid/${r.point}`)!.identity);
      expect(r.scriptSha256).toBe(manifest.artifacts.find((a) => a.path === 'grid/sweep.sbatch')!.sha256);
      expect(new Date(r.end).getTime()).toBeGreaterThanOrEqual(new Date(r.start).getTime());
    }
    // AND status shows a task's run in full, from its record, as JSON and for people
    const detail = JSON.parse((await hpcdk(dir, ['status', 'grid', '--task', '2', '--json'])).stdout);
    const task2 = records.find((r) => r.arrayTaskId === '2')!;
    expect(detail).toMatchObject({
      address: `grid/${task2.point}`,
      status: 'COMPLETED',
      run: task2,
      scriptMatchesSnapshot: true,
    });
    const human = (await hpcdk(dir, ['status', `grid/${task2.point}`])).stdout;
    expect(human).toContain(`params       ${JSON.stringify(task2.params)}`);
    expect(human).toMatch(/script {7}sha256 [0-9a-f]{64} \(as in the snapshot\)/);
    const table = (await hpcdk(dir, ['status', '--json'])).stdout;
    expect(
      (JSON.parse(table) as { resources: Array<{ address: string; run?: { point: string } }> }).resources
        .filter((r) => r.run)
        .map((r) => r.address)
        .sort(),
    ).toEqual(['blocked', 'grid/x=1', 'grid/x=2', 'grid/x=3']);
    // AND the job whose outputs could not be copied failed, saying what was not copied
    expect((await row(dir, 'blocked'))!.status).toBe('FAILED');
    const err = readdirSync(join(stackDir, 'logs/blocked')).find((f) => f.endsWith('.err'))!;
    expect(readFileSync(join(stackDir, 'logs/blocked', err), 'utf8')).toMatch(
      /stage-out \(exit\) failed; not copied: .*\/out -> .*\/results\/blocked/,
    );
    const record = JSON.parse(
      readFileSync(
        join(
          stackDir,
          'logs/blocked',
          readdirSync(join(stackDir, 'logs/blocked')).find((f) => f.endsWith('.run.json'))!,
        ),
        'utf8',
      ),
    );
    expect(record).toMatchObject({ state: 'ended', exitCode: 1 });
  });

  it.each([
    [
      'a destination inside node-local scratch',
      `{ from: Scratch.path('a'), to: Scratch.path('b') }`,
      '[out/j] outputs[0].to: is inside node-local scratch',
    ],
    [
      'a destination spelled with the scratch variable',
      `{ from: Scratch.path('a'), to: '$SLURM_TMPDIR/b' }`,
      '[out/j] outputs[0].to: is inside node-local scratch',
    ],
    [
      'a retention below 1',
      `{ from: Scratch.path('c'), to: 'x', keep: 0 }`,
      '[out/j] outputs[0].keep: must keep at least 1 (got 0)',
    ],
    [
      'a source outside scratch',
      `{ from: RuntimeRef.env('HOME').join('x'), to: 'x' }`,
      "[out/j] outputs[0].from: must be a path under node-local scratch: Scratch.path('…')",
    ],
  ])('refuses %s, and writes nothing', async (_, output, message) => {
    const dir = makeProject({
      'stacks/out.ts': stack('ClusterProfile.local()', `new Job(s, 'j', { outputs: [${output}], run: ['true'] });`),
    });
    const r = await hpcdk(dir, ['synth']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(message);
    expect(existsSync(join(dir, 'snapshots'))).toBe(false);
  });
});

describe('outputs on the SLURM test cluster', () => {
  it('are copied back when the warning signal arrives, while the job runs on', async (ctx) => {
    const env = clusterEnv(ctx);
    const sshEnv = { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! };
    const profile = testClusterProfile();
    const base = /basePath: "([^"]+)"/.exec(profile)![1]!;
    const dir = makeProject({
      'stacks/out.ts': stack(
        profile,
        `new Job(s, 'train', {
  allocation: { time: '00:10:00' },
  outputs: [{ from: Scratch.path('job_output'), to: 'results/train' }],
  run: ['mkdir -p "$HPCDK_SCRATCH/job_output" && echo "$SLURM_TMPDIR" > "$HPCDK_SCRATCH/job_output/where.txt" && echo written', 'sleep 300'],
});`,
      ),
    });
    expect((await hpcdk(dir, ['apply', '--yes'], sshEnv)).exitCode).toBe(0);
    const job = await waitFor(
      'the job to write its output',
      async () => {
        const r = await row(dir, 'train', sshEnv);
        if (r?.status !== 'RUNNING') return undefined;
        const out = await onCluster(env, `cat ${base}/out/logs/train/*.out 2>/dev/null || true`);
        return out.includes('written') ? r : undefined;
      },
      60_000,
    );
    // WHEN the batch shell gets the warning signal (as before a time limit or a preemption)
    await onCluster(env, `scancel -b --signal=USR2 ${job.jobId}`);
    // THEN the output is at the destination while the job still runs
    const copied = await waitFor(
      'the output to be copied back',
      async () => {
        const text = await onCluster(env, `cat ${base}/out/results/train/where.txt 2>/dev/null || true`);
        return text.trim() !== '' ? text.trim() : undefined;
      },
      30_000,
    );
    expect(copied).toMatch(new RegExp(`/${job.jobId}$`));
    expect((await row(dir, 'train', sshEnv))!.status).toBe('RUNNING');
    const running = JSON.parse(await onCluster(env, `cat ${base}/out/logs/train/${job.jobId}.run.json`));
    expect(running).toMatchObject({ state: 'running', jobId: job.jobId, exitCode: null, end: null });
    // AND when the job is cancelled, the EXIT trap copies again and records the end
    await onCluster(env, `scancel ${job.jobId}`);
    const ended = await waitFor(
      'the run record to say the job ended',
      async () => {
        const r = JSON.parse(await onCluster(env, `cat ${base}/out/logs/train/${job.jobId}.run.json`));
        return r.state === 'ended' ? r : undefined;
      },
      30_000,
    );
    expect(ended.exitCode).toBe(143);
    expect(ended.host).toBeTruthy();
  });

  it('a requeued job resumes from its newest checkpoint, keeping only the newest two', async (ctx) => {
    const env = clusterEnv(ctx);
    const sshEnv = { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! };
    const profile = testClusterProfile();
    const base = /basePath: "([^"]+)"/.exec(profile)![1]!;
    const dir = makeProject({
      'stacks/out.ts': stack(
        profile,
        `new Job(s, 'train', {
  allocation: { time: '00:10:00' },
  checkpoint: { hook: 'echo saving' },
  outputs: [{ from: Scratch.path('checkpoints'), to: 'checkpoints', keep: 2, resumeVar: 'RESUME_FROM', everyMinutes: 1 }],
  run: ['echo "restart=$HPCDK_RESTART_COUNT resume=\${RESUME_FROM:-none}"', 'mkdir -p "$HPCDK_SCRATCH/checkpoints" && for i in 1 2 3; do echo "$HPCDK_RESTART_COUNT" > "$HPCDK_SCRATCH/checkpoints/step-$HPCDK_RESTART_COUNT-$i"; sleep 1; done && echo saved', 'sleep 300'],
});`,
      ),
    });
    expect((await hpcdk(dir, ['apply', '--yes'], sshEnv)).exitCode).toBe(0);
    let firstRun = '';
    const job = await waitFor(
      'the first run to save checkpoints',
      async () => {
        const r = await row(dir, 'train', sshEnv);
        firstRun = await onCluster(env, `cat ${base}/out/logs/train/*.out 2>/dev/null || true`);
        return r?.status === 'RUNNING' && firstRun.includes('saved') ? r : undefined;
      },
      60_000,
    );
    expect(firstRun).toContain('restart=0 resume=none');
    // WHEN the checkpoint signal arrives: the hook runs, checkpoints are copied, the job requeues itself
    await onCluster(env, `scancel -b --signal=USR2 ${job.jobId}`);
    // THEN the next run is told the newest checkpoint kept at the destination
    const resumed = await waitFor(
      'the requeued run to start',
      async () => {
        const out = await onCluster(env, `cat ${base}/out/logs/train/*.out 2>/dev/null || true`);
        return /restart=1 resume=/.test(out) ? out : undefined;
      },
      240_000,
    );
    expect(resumed).toMatch(new RegExp(`restart=1 resume=${base}/out/checkpoints/step-0-3(\\n|$)`));
    // AND only the newest two checkpoints were kept
    expect((await onCluster(env, `ls ${base}/out/checkpoints`)).trim().split('\n')).toEqual(['step-0-2', 'step-0-3']);
    const record = JSON.parse(await onCluster(env, `cat ${base}/out/logs/train/${job.jobId}.run.json`));
    expect(record).toMatchObject({ restartCount: 1, state: 'running' });
    await onCluster(env, `scancel ${job.jobId}`);
  }, 300_000);
});
