import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../lib/core/digest.js';
import { clusterEnv, onCluster, testClusterProfile } from '../helpers/cluster.js';
import { faultyKey, type TraceEntry } from '../helpers/faults.js';
import { buildToolSource } from '../helpers/build-tool.js';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';

afterAll(cleanupProjects);

/**
 * Uploads, a build, three jobs (one depending on another) and a five-point
 * sweep submitted as three array chunks: every kind of step apply takes.
 */
const source = (
  profile: string,
) => `import { App, Stack, HpcConstruct, Job, Sweep, TextFile, z, ClusterProfile, type Construct } from 'hpcdk';
void ClusterProfile;
${buildToolSource('echo built')}
const cluster = ${profile};
const app = new App();
const s = new Stack(app, 'crash', { targets: [cluster] });
new TextFile(s, 'config', { fileName: 'config.yaml', content: 'lr: 0.1\\n' });
new TextFile(s, 'notes', { content: 'crash suite\\n' });
new Tool(s, 'tool');
const a = new Job(s, 'a', { allocation: { time: '00:05:00' }, run: ['echo a'] });
new Job(s, 'b', { allocation: { time: '00:05:00' }, run: ['echo b'] }).dependsOn(a);
new Job(s, 'c', { allocation: { time: '00:05:00' }, run: ['echo c'] });
new Sweep(s, 'grid', { grid: { x: [1, 2, 3, 4, 5] }, allocation: { time: '00:05:00' }, run: [['echo', Sweep.param('x')]] });
`;

/** A profile of its own (fresh state) that splits arrays into chunks of two. */
const profileSource = () =>
  testClusterProfile().replace("scheduler: 'slurm',", "scheduler: 'slurm',\n  maxArraySize: 2,");

/**
 * The commands worth dying just before: each file put in place and each state
 * write, the build, each submission before it is recorded, and every step of
 * submitting an array chunk. At most `limit`, spread over the whole apply;
 * the array chunk's steps are always among them.
 */
function killPoints(trace: readonly TraceEntry[], limit = 24): number[] {
  const chunkSteps = /^hpcdk_journal chunk |^hpcdk_ids\[grid\]|^hpcdk_points=|^printf "job |HPCDK_PARAMS_FILE=/;
  const others =
    /^mv -f "\$D\/\.hpcdk\/incoming|^hpcdk_journal (file|built|job) |^printf .*journal|^hpcdk_job_id="\$\{hpcdk_job_id%%|^echo "@@submitted|^\( cd "\$D" && HPCDK_STACK_DIR|^rm -rf "\$D\/\.hpcdk\/incoming/;
  const must = trace.filter((t) => chunkSteps.test(t.command)).map((t) => t.n);
  const rest = trace.filter((t) => !chunkSteps.test(t.command) && others.test(t.command)).map((t) => t.n);
  const room = Math.max(0, limit - must.length);
  const spread = rest.filter(
    (_, i) =>
      rest.length <= room || Math.floor((i * room) / rest.length) !== Math.floor(((i - 1) * room) / rest.length),
  );
  return [...new Set([...must, ...spread])].sort((x, y) => x - y);
}

interface Round {
  readonly at: number;
  readonly command: string;
  readonly ok: boolean;
  readonly problem?: string;
}

describe('apply killed with kill -9 at every step that changes the target', () => {
  it('converges on the next apply: no job submitted twice, none missing, the state consistent', async (ctx) => {
    const env = clusterEnv(ctx);
    const dir = makeProject({ 'stacks/crash.ts': source(profileSource()) });
    const faults = await faultyKey(env, dir);
    const sshEnv = { HPCDK_SSH_CONFIG: faults.config };

    // GIVEN the commands a full apply runs, learned from one traced apply
    faults.trace();
    const traced = await hpcdk(dir, ['apply', '--yes'], sshEnv);
    expect(traced.exitCode, traced.stderr).toBe(0);
    const trace = faults.takeTrace();
    const points = killPoints(trace);
    expect(points.length, trace.map((t) => `${t.n} ${t.command}`).join('\n')).toBeGreaterThanOrEqual(20);
    expect(
      trace.some(
        (t) => /^hpcdk_job_id=/.test(t.command) && trace.some((u) => u.n > t.n && /^printf "job /.test(u.command)),
      ),
      'an array chunk is submitted, then journaled',
    ).toBe(true);

    const rounds: Round[] = [];
    for (const at of points) {
      // Each round starts from nothing: a new base path is a new stack state on the target.
      const profile = profileSource();
      writeFileSync(join(dir, 'stacks/crash.ts'), source(profile));
      const base = /basePath: "([^"]+)"/.exec(profile)![1]!;
      const prefix = `hpcdk/crash~${sha256(`${base}/crash`).slice(0, 8)}/`;
      const command = trace.find((t) => t.n === at)!.command;

      // WHEN apply is killed just before command `at`
      faults.kill(at);
      const killed = await hpcdk(dir, ['apply', '--yes'], sshEnv);
      // AND run again
      const again = await hpcdk(dir, ['apply', '--yes'], sshEnv);
      const plan = await hpcdk(dir, ['plan', '--json'], sshEnv);
      // One line per submission: array tasks share their array's job id (%F).
      const queue = await onCluster(
        env,
        `squeue -h -t all -o '%F %k' | grep -F ${JSON.stringify(prefix)} | sort -u | sed 's/^[0-9]* //; s/@.*//' | sort | uniq -c || true`,
      );

      // THEN the kill happened, the re-run succeeded, nothing is left to do, and each job and chunk exists exactly once
      const counts = queue
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => l.trim().split(/\s+/) as [string, string]);
      const addresses = counts
        .flatMap(([n, comment]) => Array<string>(Number(n)).fill(comment.slice(prefix.length)))
        .sort();
      const pending =
        plan.exitCode === 0
          ? (JSON.parse(plan.stdout).plans[0].resources as Array<{ address: string; action: string }>).filter(
              (r) => r.action !== 'no-op',
            )
          : [];
      const problems = [
        killed.exitCode === 0 ? 'the kill did not happen' : '',
        again.exitCode !== 0 ? `re-apply failed: ${again.stderr.trim()}` : '',
        plan.exitCode !== 0 ? `plan failed: ${plan.stderr.trim()}` : '',
        pending.length > 0 ? `still to do: ${pending.map((r) => `${r.action} ${r.address}`).join(', ')}` : '',
        JSON.stringify(addresses) !== JSON.stringify(['a', 'b', 'c', 'grid', 'grid', 'grid'])
          ? `jobs on the cluster: ${addresses.join(' ')}`
          : '',
      ].filter(Boolean);
      rounds.push({
        at,
        command,
        ok: problems.length === 0,
        ...(problems.length > 0 ? { problem: problems.join('; ') } : {}),
      });
    }
    const failures = rounds.filter((r) => !r.ok);
    console.log(`crash: ${rounds.length} kill points tried, ${failures.length} failures`);
    expect(failures.map((f) => `kill before #${f.at} (${f.command.slice(0, 80)}): ${f.problem}`)).toEqual([]);
    expect(rounds.length).toBeGreaterThanOrEqual(20);
  }, 600_000);
});
