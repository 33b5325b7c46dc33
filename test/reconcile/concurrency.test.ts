import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../lib/core/digest.js';
import { clusterEnv, onCluster, testClusterProfile } from '../helpers/cluster.js';
import { buildToolSource } from '../helpers/build-tool.js';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';

afterAll(cleanupProjects);

/** A build that takes a second, so two applies overlap, then two jobs. */
const source = (
  profile: string,
) => `import { App, Stack, HpcConstruct, Job, z, ClusterProfile, type Construct } from 'hpcdk';
void ClusterProfile;
${buildToolSource('sleep 1')}
const cluster = ${profile};
const app = new App();
const s = new Stack(app, 'race', { targets: [cluster] });
new Tool(s, 'tool');
const a = new Job(s, 'a', { allocation: { time: '00:05:00' }, run: ['echo a'] });
new Job(s, 'b', { allocation: { time: '00:05:00' }, run: ['echo b'] }).dependsOn(a);
`;

const ROUNDS = 4;

describe('two applies of one stack at once', () => {
  it('one goes through, the other fails naming who holds the lock; nothing is submitted twice', async (ctx) => {
    const env = clusterEnv(ctx);
    const dir = makeProject({ 'stacks/race.ts': source(testClusterProfile()) });
    for (let round = 0; round < ROUNDS; round++) {
      const profile = testClusterProfile();
      writeFileSync(join(dir, 'stacks/race.ts'), source(profile));
      const base = /basePath: "([^"]+)"/.exec(profile)![1]!;
      const prefix = `hpcdk/race~${sha256(`${base}/race`).slice(0, 8)}/`;

      // WHEN two applies start together
      const [first, second] = await Promise.all([
        hpcdk(dir, ['apply', '--yes'], { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! }),
        hpcdk(dir, ['apply', '--yes'], { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! }),
      ]);

      // THEN exactly one succeeds; the other names the holder, or found its plan outdated by the winner
      const results = [first, second].sort((x, y) => x.exitCode - y.exitCode);
      const loser = results[1]!;
      // AND the jobs exist once each
      const queue = await onCluster(
        env,
        `squeue -h -t all -o '%k' | grep -F ${JSON.stringify(prefix)} | sed 's/@.*//' | sort | uniq -c || true`,
      );
      const counts = queue
        .trim()
        .split('\n')
        .map((l) => l.trim().replace(/\s+/g, ' '));
      const plan = await hpcdk(dir, ['plan', '--detailed-exitcode'], { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! });
      expect(
        results.map((r) => r.exitCode),
        loser.stderr,
      ).toEqual([0, 1]);
      expect(loser.stderr).toMatch(
        /locked by \S+@\S+ \(apply, pid \d+ on \S+, since [-\d]+ [\d:]+ UTC\)|changed since this plan/,
      );
      expect(counts).toEqual([`1 ${prefix}a`, `1 ${prefix}b`]);
      expect(plan.exitCode, plan.stdout).toBe(0);
    }
    // Reached only when every round above passed its assertions.
    console.log(`concurrency: ${ROUNDS} rounds of two simultaneous applies, 0 failures`);
  }, 180_000);

  it('on the local target too', async () => {
    const dir = makeProject({ 'stacks/race.ts': source('ClusterProfile.local()') });
    const [first, second] = await Promise.all([hpcdk(dir, ['apply', '--yes']), hpcdk(dir, ['apply', '--yes'])]);
    const results = [first, second].sort((x, y) => x.exitCode - y.exitCode);
    expect(results.map((r) => r.exitCode)).toEqual([0, 1]);
    expect(results[1]!.stderr).toMatch(
      /locked by \S+@\S+ \(apply, pid \d+ on \S+, since [-\d]+ [\d:]+ UTC\)|changed since this plan/,
    );
    const status = JSON.parse((await hpcdk(dir, ['status', '--json'])).stdout) as {
      resources: Array<{ address: string; jobId?: string }>;
    };
    expect(status.resources.filter((r) => r.jobId).map((r) => r.address)).toEqual(['a', 'b']);
    const journal = readFileSync(join(dir, '.hpcdk/local/race/.hpcdk/journal'), 'utf8');
    expect(journal.split('\n').filter((l) => l.startsWith('job ')).length).toBe(2);
  });
});
