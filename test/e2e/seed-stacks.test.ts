import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterEnv, onCluster } from '../helpers/cluster.js';
import { cleanupProjects, copyRepo, hpcdk } from '../helpers/project.js';
import { waitFor } from '../helpers/wait.js';

afterAll(cleanupProjects);

/**
 * A shared profile for the loopback test cluster, added to a copy of this
 * repository as a user adds one for their cluster: the seed stacks keep
 * their own targets and are applied here with --target testcluster.
 */
function addTestClusterProfile(dir: string): string {
  const base = `/tmp/hpcdk-remote-e2e-${randomBytes(4).toString('hex')}`;
  writeFileSync(
    join(dir, 'stacks', 'zz-testcluster.ts'),
    `import { ClusterProfile } from 'hpcdk';
new ClusterProfile('testcluster', {
  scheduler: 'slurm',
  ssh: { host: 'hpcdk-test' },
  basePath: ${JSON.stringify(base)},
  partitions: { gpu: { maxTime: '2-00:00:00', cpusPerNode: 64, memPerNode: '500G', gpus: { a100: 4, l4: 2, t4: 2 }, gpuMemoryGb: { a100: 80, l4: 22, t4: 16 } } },
  jobDefaults: { partition: 'gpu', time: '00:10:00', gpus: { type: 'l4', count: 1 } },
  env: { TRAIN_CONFIG: 'examples/rsm/configs/mini.yaml' },
  scratchVar: 'SLURM_TMPDIR',
  modules: 'lmod',
  shellInit: ['/etc/profile.d/lmod.sh'],
});
`,
  );
  return base;
}

describe('the seed-modelled stacks on the SLURM test cluster', () => {
  it('rsm (seed 004): bundles the committed experiment, stages the corpus, trains to COMPLETED with checkpoints and a freeze; then no changes', async (ctx) => {
    const env = clusterEnv(ctx);
    const sshEnv = { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! };
    const dir = copyRepo('hpcdk-e2e-');
    const base = addTestClusterProfile(dir);
    // The corpus the stack prefetches, where the stack says it lives: $HOME/data/pg19.tar.gz.
    const corpus = `pg19-e2e-${randomBytes(3).toString('hex')}`;
    await onCluster(env, `mkdir -p "$HOME/data" /tmp/${corpus}/pg19 && echo "a book" > /tmp/${corpus}/pg19/book.txt && test ! -e "$HOME/data/pg19.tar.gz" && tar -czf "$HOME/data/pg19.tar.gz" -C /tmp/${corpus} pg19`);
    try {
      const plan = await hpcdk(dir, ['plan', 'rsm', '--target', 'testcluster'], sshEnv);
      expect(plan.exitCode, plan.stderr).toBe(0);
      expect(plan.stdout).toContain('# code will be created (new: will be built)');
      expect(plan.stdout).toContain('# train will be submitted (new)');

      const apply = await hpcdk(dir, ['apply', 'rsm', '--target', 'testcluster', '--yes'], sshEnv);
      expect(apply.exitCode, apply.stderr).toBe(0);
      await waitFor('rsm/train to complete', async () => {
        const r = await hpcdk(dir, ['status', 'rsm', '--target', 'testcluster', '--json'], sshEnv);
        const train = (JSON.parse(r.stdout) as { resources: Array<{ address: string; status: string }> }).resources.find((x) => x.address === 'train');
        if (train?.status === 'FAILED') throw new Error(`train failed:\n${(await hpcdk(dir, ['logs', 'rsm/train', '--target', 'testcluster', '--err'], sshEnv)).stdout}`);
        return train?.status === 'COMPLETED' ? true : undefined;
      }, 90_000);

      const out = (await hpcdk(dir, ['logs', 'rsm/train', '--target', 'testcluster'], sshEnv)).stdout;
      expect(out).toMatch(/hpcdk: staged .*pg19\.tar\.gz to .*\/data\/pg19/);
      expect(out).toMatch(/checkpoint .*\/checkpoints\/step_00000010\.json \(periodic\)/);
      expect(out).toMatch(/trained 10 steps on .*\/data\/pg19 with examples\/rsm\/configs\/mini\.yaml/);
      const err = (await hpcdk(dir, ['logs', 'rsm/train', '--target', 'testcluster', '--err'], sshEnv)).stdout;
      expect(err).toMatch(/hpcdk: code code at commit [0-9a-f]{40}/);
      expect(await onCluster(env, `ls ${base}/rsm/logs/train/frozen/`)).toMatch(/^\d+\.txt$/m);

      const again = await hpcdk(dir, ['plan', 'rsm', '--target', 'testcluster', '--detailed-exitcode'], sshEnv);
      expect(again.exitCode, again.stdout).toBe(0);
      expect(again.stdout).toContain('No changes.');
    } finally {
      await onCluster(env, `rm -rf "$HOME/data/pg19.tar.gz" /tmp/${corpus}`);
    }
  });

  it('hello: the quickstart stack runs on the test cluster too', async (ctx) => {
    const env = clusterEnv(ctx);
    const sshEnv = { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! };
    const dir = copyRepo('hpcdk-e2e-');
    addTestClusterProfile(dir);
    expect((await hpcdk(dir, ['apply', 'hello', '--target', 'testcluster', '--yes'], sshEnv)).exitCode).toBe(0);
    await waitFor('say-hello', async () => ((await hpcdk(dir, ['status', 'hello', '--target', 'testcluster', '--json'], sshEnv)).stdout.includes('"COMPLETED"') ? true : undefined), 60_000);
    expect((await hpcdk(dir, ['logs', 'hello/say-hello', '--target', 'testcluster'], sshEnv)).stdout).toMatch(/^hello from hpcdk\njob \d+ ran on /);
    expect((await hpcdk(dir, ['plan', 'hello', '--target', 'testcluster', '--detailed-exitcode'], sshEnv)).exitCode).toBe(0);
  });
});
