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

const ROUNDS = 20;
const APPLIES = 8;
const REFUSED = /locked by \S+@\S+ \(apply, pid \d+ on \S+, since [-\d]+ [\d:]+ UTC\)|changed since this plan/;

describe('applies of one stack at once', () => {
  it(`GIVEN ${APPLIES} applies of one stack started together, ${ROUNDS} times WHEN they race for the lock THEN each job is submitted once, every refusal names the holder or the changed target, and no lock is left`, async (ctx) => {
    const env = clusterEnv(ctx);
    const dir = makeProject({ 'stacks/race.ts': source(testClusterProfile()) });
    let refused = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // A fresh base path each round: a stack never applied before.
      const profile = testClusterProfile();
      writeFileSync(join(dir, 'stacks/race.ts'), source(profile));
      const base = /basePath: "([^"]+)"/.exec(profile)![1]!;
      const prefix = `hpcdk/race~${sha256(`${base}/race`).slice(0, 8)}/`;

      // WHEN the applies start together
      const results = await Promise.all(
        Array.from({ length: APPLIES }, () =>
          hpcdk(dir, ['apply', '--yes'], { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! }),
        ),
      );

      // THEN at least one went through, and every other was refused for a reason it names
      const failed = results.filter((r) => r.exitCode !== 0);
      expect(failed.length, `round ${round}`).toBeLessThan(APPLIES);
      for (const r of failed) expect(r.exitCode, r.stderr).toBe(1);
      for (const r of failed) expect(r.stderr, `round ${round}`).toMatch(REFUSED);
      refused += failed.length;
      // AND each job exists once: the scheduler's own count
      const queue = await onCluster(
        env,
        `squeue -h -t all -o '%k' | grep -F ${JSON.stringify(prefix)} | sed 's/@.*//' | sort | uniq -c || true`,
      );
      const counts = queue
        .trim()
        .split('\n')
        .map((l) => l.trim().replace(/\s+/g, ' '));
      expect(counts, `round ${round}`).toEqual([`1 ${prefix}a`, `1 ${prefix}b`]);
      // AND the last holder released the lock and its gate
      const left = await onCluster(env, `ls -A ${base}/race/.hpcdk | grep -c '^stack\\.lock' || true`);
      expect(left.trim(), `round ${round}`).toBe('0');
      // AND the target is what the stack says
      const plan = await hpcdk(dir, ['plan', '--detailed-exitcode'], { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! });
      expect(plan.exitCode, plan.stdout).toBe(0);
    }
    // Reached only when every round above passed its assertions.
    console.log(`concurrency: ${ROUNDS} rounds of ${APPLIES} simultaneous applies, ${refused} refused, 0 duplicates`);
  }, 600_000);

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
