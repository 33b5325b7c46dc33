import { writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../lib/core/digest.js';
import { clusterEnv, onCluster, testClusterProfile } from '../helpers/cluster.js';
import { faultyKey, sshdSessionOf } from '../helpers/faults.js';
import { REPO, cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';
import { waitFor } from '../helpers/wait.js';

afterAll(cleanupProjects);

const source = (profile: string) => `import { App, Stack, Job, TextFile, ClusterProfile } from 'hpcdk';
void ClusterProfile;
const cluster = ${profile};
const app = new App();
const s = new Stack(app, 'net', { targets: [cluster] });
new TextFile(s, 'one', { content: 'one\\n' });
new TextFile(s, 'two', { content: 'two\\n' });
const a = new Job(s, 'a', { allocation: { time: '00:05:00' }, run: ['echo a'] });
new Job(s, 'b', { allocation: { time: '00:05:00' }, run: ['echo b'] }).dependsOn(a);
`;

/** Where to cut: the second file moved into place, and the moment sbatch has answered for job a but apply has not recorded it. */
const CUTS = [
  { name: 'in the middle of an upload', before: (c: string) => c.startsWith('mv -f "$D/.hpcdk/incoming/2"') },
  { name: 'in the middle of a submit', before: (c: string) => c.startsWith('hpcdk_ids[a]=') },
];

describe('the SSH connection dropped during apply', () => {
  it('gives a clear error, and the next apply converges with no job submitted twice', async (ctx) => {
    const env = clusterEnv(ctx);
    const dir = makeProject({ 'stacks/net.ts': source(testClusterProfile()) });
    const faults = await faultyKey(env, dir);
    const sshEnv = { HPCDK_SSH_CONFIG: faults.config };
    faults.trace();
    expect((await hpcdk(dir, ['apply', '--yes'], sshEnv)).exitCode).toBe(0);
    const trace = faults.takeTrace();

    for (const cut of CUTS) {
      const at = trace.find((t) => cut.before(t.command))?.n;
      expect(at, `${cut.name}: no such command in\n${trace.map((t) => t.command).join('\n')}`).toBeDefined();
      const profile = testClusterProfile();
      writeFileSync(`${dir}/stacks/net.ts`, source(profile));
      const base = /basePath: "([^"]+)"/.exec(profile)![1]!;
      const prefix = `hpcdk/net~${sha256(`${base}/net`).slice(0, 8)}/`;

      // GIVEN an apply paused on the target at the cut
      faults.pause(at!);
      const apply = execa('node', [`${REPO}/bin/hpcdk.js`, 'apply', '--yes'], {
        cwd: dir,
        env: { ...sshEnv, NO_COLOR: '1' },
        reject: false,
      });
      const pid = await faults.paused();
      // WHEN its sshd session is killed, dropping the connection, and the script goes on
      await execa('kill', ['-9', String(await sshdSessionOf(pid))]);
      const dropped = await apply;
      faults.resume();

      // THEN the user is told the connection was lost and what to do
      expect(dropped.exitCode, cut.name).toBe(1);
      expect(dropped.stderr, cut.name).toMatch(
        /lost the connection to ssh .* during apply, after \d+ of \d+ steps.*Run apply again to finish/s,
      );
      // AND a re-run goes through once the orphaned script has stopped and released the lock
      const again = await waitFor(
        `a re-run after the cut ${cut.name}`,
        async () => {
          const r = await hpcdk(dir, ['apply', '--yes'], sshEnv);
          if (r.exitCode === 0) return r;
          expect(r.stderr).toMatch(/locked by/);
          return undefined;
        },
        60_000,
      );
      expect(again.exitCode).toBe(0);
      const plan = await hpcdk(dir, ['plan', '--detailed-exitcode'], sshEnv);
      expect(plan.exitCode, `${cut.name}: ${plan.stdout}`).toBe(0);
      const queue = await onCluster(
        env,
        `squeue -h -t all -o '%k' | grep -F ${JSON.stringify(prefix)} | sed 's/@.*//' | sort | uniq -c || true`,
      );
      const counts = queue
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/));
      expect(
        counts.map(([n, c]) => `${n} ${c!.slice(prefix.length)}`),
        cut.name,
      ).toEqual(['1 a', '1 b']);
    }
    // Reached only when every cut above passed its assertions.
    console.log(`network: ${CUTS.length} connection drops tried, 0 failures`);
  }, 240_000);
});
