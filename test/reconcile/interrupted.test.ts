import { execa } from 'execa';
import { sha256 } from '../../lib/core/digest.js';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterEnv, onCluster, testClusterProfile } from '../helpers/cluster.js';
import { buildToolSource } from '../helpers/build-tool.js';
import { REPO, cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';
import { waitFor } from '../helpers/wait.js';

afterAll(cleanupProjects);

/** A stack whose apply takes a while: a slow build, then three jobs, one depending on another. */
const source = (
  profile: string,
) => `import { App, Stack, HpcConstruct, Job, z, ClusterProfile, type Construct } from 'hpcdk';
void ClusterProfile;
${buildToolSource('echo building; sleep 3; echo built')}
const cluster = ${profile};
const app = new App();
const s = new Stack(app, 'demo', { targets: [cluster] });
new Tool(s, 'tool');
const a = new Job(s, 'a', { allocation: { time: '00:05:00' }, run: ['echo a'] });
new Job(s, 'b', { allocation: { time: '00:05:00' }, run: ['echo b'] }).dependsOn(a);
new Job(s, 'c', { allocation: { time: '00:05:00' }, run: ['echo c'] });
`;

describe('an apply killed part way', () => {
  it('converges when run again: nothing lost, no job submitted twice, the lock released or taken over', async (ctx) => {
    const env = clusterEnv(ctx);
    const sshEnv = { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! };
    const profile = testClusterProfile();
    const dir = makeProject({ 'stacks/demo.ts': source(profile) });
    // This project's jobs carry hpcdk/demo~<hash of its stack folder>/ in their comment (other test files use the cluster too).
    const base = /basePath: "([^"]+)"/.exec(profile)![1]!;
    const prefix = `hpcdk/demo~${sha256(`${base}/demo`).slice(0, 8)}/`;
    for (const killAfterMs of [500, 1500, 3200]) {
      // A fresh stack state each round: destroy what the last round made.
      await hpcdk(dir, ['destroy', '--yes'], sshEnv);
      // Job ids only grow: this round's jobs are the ones above the highest id so far.
      const floor = Number((await onCluster(env, 'squeue -h -t all -o %A | sort -n | tail -n 1')).trim() || '0');
      const child = execa('node', [`${REPO}/bin/hpcdk.js`, 'apply', '--yes'], {
        cwd: dir,
        env: { ...sshEnv, NO_COLOR: '1' },
        reject: false,
      });
      await new Promise((r) => setTimeout(r, killAfterMs));
      child.kill('SIGKILL');
      await child;
      // Run again until it goes through: a script still running on the target holds the lock until it ends.
      const again = await waitFor(
        'a re-run to succeed',
        async () => {
          const r = await hpcdk(dir, ['apply', '--yes'], sshEnv);
          if (r.exitCode === 0) return r;
          expect(r.stderr).toMatch(/locked by|changed since this plan/);
          return undefined;
        },
        60_000,
      );
      expect(again.exitCode).toBe(0);
      const plan = await hpcdk(dir, ['plan', '--json'], sshEnv);
      const resources = JSON.parse(plan.stdout).plans[0].resources as Array<{ address: string; action: string }>;
      expect(
        resources.filter((r) => r.action !== 'no-op'),
        `after a kill at ${killAfterMs} ms`,
      ).toEqual([]);
      const ids = await hpcdk(dir, ['status', '--json'], sshEnv);
      const jobs = (
        JSON.parse(ids.stdout) as { resources: Array<{ address: string; jobId?: string }> }
      ).resources.filter((r) => r.jobId);
      expect(jobs.map((j) => j.address).sort()).toEqual(['a', 'b', 'c']);
      // Each job submitted exactly once this round.
      const live = await onCluster(
        env,
        `squeue -h -t all -o '%A %k' | awk -v floor=${floor} '$1 > floor { print $2 }' | grep -F '${prefix}' | sed 's/@.*//' | sort | uniq -c`,
      );
      const counts = live
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/));
      expect(counts.map(([, comment]) => comment!.slice(prefix.length)).sort()).toEqual(['a', 'b', 'c']);
      expect(
        counts.every(([n]) => n === '1'),
        `a job was submitted twice:\n${live}`,
      ).toBe(true);
    }
    await hpcdk(dir, ['destroy', '--yes'], sshEnv);
    console.log('crash (client killed): 3 kill points tried, 0 failures');
  });
});
