import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clusterVariantEnv,
  onCluster,
  sshSessions,
  startClusterVariant,
  stopClusterVariant,
  type ClusterVariant,
} from '../helpers/cluster.js';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';
import { waitFor } from '../helpers/wait.js';

/*
 * The accounting variant of the test cluster (slurmdbd + mariadb, so sacct
 * works; MinJobAge=2, so finished jobs leave squeue within seconds), started
 * here next to the default cluster the other suites share.
 */
const CLUSTER_DIR = process.env.HPCDK_ACCOUNTING_CLUSTER_DIR ?? '/tmp/hpcdk-cluster-acct';
let cluster: ClusterVariant | undefined;

// A fresh machine apt-installs mariadb-server and slurmdbd first.
beforeAll(async () => {
  cluster = await startClusterVariant({ HPCDK_CLUSTER_ACCOUNTING: 'slurmdbd', HPCDK_CLUSTER_DIR: CLUSTER_DIR });
}, 600_000);

afterAll(async () => {
  cleanupProjects();
  await stopClusterVariant(cluster);
}, 120_000);

function project(env: Record<string, string>, body: string): string {
  const base = `/tmp/hpcdk-remote-${randomBytes(4).toString('hex')}`;
  return makeProject({
    'stacks/demo.ts': `import { App, Stack, Job, ClusterProfile } from 'hpcdk';
const cluster = new ClusterProfile('acctcluster', {
  scheduler: 'slurm',
  ssh: { host: ${JSON.stringify(env.HPCDK_SSH_ALIAS)} },
  basePath: ${JSON.stringify(base)},
  partitions: { debug: { maxTime: '01:00:00', cpusPerNode: 64, memPerNode: '500G' } },
  scratchVar: 'SLURM_TMPDIR',
  modules: 'lmod',
  shellInit: ['/etc/profile.d/lmod.sh'],
});
const app = new App();
const s = new Stack(app, 'demo', { targets: [cluster] });
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

/** Waits until slurmctld has purged the job (MinJobAge), so only sacct and exit records know it. */
async function leftSqueue(env: Record<string, string>, id: string): Promise<void> {
  await waitFor(
    `job ${id} to leave squeue`,
    async () => {
      const out = await onCluster(env, `squeue -h -t all -j ${id} -o %T 2>/dev/null || true`);
      return out.trim() === '' ? true : undefined;
    },
    120_000,
  );
}

/** Waits until sacct reports `state` for the job (slurmctld hands records to slurmdbd asynchronously). */
async function sacctState(env: Record<string, string>, id: string, state: string): Promise<string> {
  return waitFor(
    `sacct to report job ${id} ${state}`,
    async () => {
      const out = (await onCluster(env, `sacct -n -P -X -j ${id} -o JobID,State,ExitCode`)).trim();
      return out.startsWith(`${id}|${state}`) ? out : undefined;
    },
    30_000,
  );
}

describe('plan reads sacct on a cluster with slurmdbd', () => {
  it('the cluster is the accounting variant, with MinJobAge 2', async (ctx) => {
    const env = clusterVariantEnv(ctx, cluster);
    expect(env.HPCDK_ACCOUNTING).toBe('slurmdbd');
    const config = await onCluster(env, 'scontrol show config');
    expect(config).toMatch(/^AccountingStorageType\s+= accounting_storage\/slurmdbd$/m);
    expect(config).toMatch(/^MinJobAge\s+= 2 sec$/m);
  });

  it('reports a job cancelled by hand while pending as cancelled, from sacct, after it has left squeue', async (ctx) => {
    const env = clusterVariantEnv(ctx, cluster);
    const { run, status } = cli(env);
    // Held until an hour from now, so it is certainly pending when cancelled.
    const dir = project(
      env,
      `new Job(s, 'held', { allocation: { time: '00:05:00', extra: { begin: 'now+3600' } }, run: ['true'] });`,
    );
    const apply = await run(dir, ['apply', '--yes']);
    expect(apply.exitCode, apply.stderr).toBe(0);
    const [row] = await status(dir);
    expect(row).toMatchObject({ address: 'held', status: 'PENDING' });
    const id = row!.jobId!;

    await onCluster(env, `scancel ${id}`);
    await leftSqueue(env, id);
    // Never ran: no exit record; gone from squeue: only sacct knows what happened.
    expect(await sacctState(env, id, 'CANCELLED')).toMatch(new RegExp(`^${id}\\|CANCELLED`));

    const before = await sshSessions(env);
    const plan = await run(dir, ['plan', '--detailed-exitcode']);
    expect(plan.exitCode, plan.stderr).toBe(2);
    // Still one SSH exec for the whole plan: sacct is part of the batched read.
    expect(await sshSessions(env)).toBe(before + 1);
    expect(plan.stdout).toContain('Objects have changed outside hpcdk');
    expect(plan.stdout).toContain(`held: job ${id} was cancelled outside hpcdk`);
    expect(plan.stdout).toMatch(/# held will be submitted \(last attempt CANCELLED/);
    // Without sacct the read would only know that the job vanished.
    expect(plan.stdout).not.toContain('without an exit record');
    expect((await status(dir))[0]).toMatchObject({ address: 'held', jobId: id, status: 'CANCELLED' });
    await run(dir, ['destroy', '--yes']);
  }, 240_000);

  it('still shows a job that COMPLETED and left squeue as completed, with no changes to make', async (ctx) => {
    const env = clusterVariantEnv(ctx, cluster);
    const { run, status } = cli(env);
    const dir = project(env, `new Job(s, 'quick', { allocation: { time: '00:05:00' }, run: ['echo done'] });`);
    const apply = await run(dir, ['apply', '--yes']);
    expect(apply.exitCode, apply.stderr).toBe(0);
    const [row] = await status(dir);
    const id = row!.jobId!;

    await leftSqueue(env, id);
    expect(await sacctState(env, id, 'COMPLETED')).toBe(`${id}|COMPLETED|0:0`);

    const plan = await run(dir, ['plan', '--detailed-exitcode']);
    expect(plan.exitCode, plan.stdout + plan.stderr).toBe(0);
    expect(plan.stdout).toContain('No changes.');
    expect(plan.stdout).not.toContain('changed outside hpcdk');
    expect((await status(dir))[0]).toMatchObject({ address: 'quick', jobId: id, status: 'COMPLETED', exitCode: 0 });
    await run(dir, ['destroy', '--yes']);
  }, 240_000);
});
