/**
 * hpcdk's benchmarks, each against a reference measured on the same machine
 * in the same run: synth against cdk8s, plan against a bare `ssh host true`,
 * apply against raw `sbatch --array`. Prints a table and writes
 * bench/results/latest.json. Run with `npm run bench` (as root on Debian it
 * brings the test cluster up itself, as the tests do).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { countingKey, type CountingKey } from '../test/cluster/counting-key.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(REPO, 'bin', 'hpcdk.js');
const CLUSTER_DIR = process.env.HPCDK_CLUSTER_DIR ?? '/tmp/hpcdk-cluster';

interface Run {
  readonly seconds: number;
  readonly peakMiB: number;
  readonly stdout: string;
}

/** Runs a command under GNU time: whole-process wall time and peak memory. */
function timed(cmd: string[], cwd: string, env: Record<string, string> = {}): Run {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', ...cmd], {
    cwd,
    env: { ...process.env, NO_COLOR: '1', ...env },
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed (${r.status}):\n${r.stderr.slice(-2000)}`);
  const last = r.stderr.trim().split('\n').at(-1)!.split(' ');
  return { seconds: Number(last[0]), peakMiB: Number(last[1]) / 1024, stdout: r.stdout };
}

/** The median run (by wall time), so one slow run does not decide. */
function middle(runs: readonly Run[]): Run {
  return [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor(runs.length / 2)]!;
}

/** The median of `n` runs of `run`. */
function median(n: number, run: () => Run): Run {
  return middle(Array.from({ length: n }, run));
}

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'hpcdk-bench-'));
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  symlinkSync(REPO, join(dir, 'node_modules', 'hpcdk'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'bench', private: true, type: 'module' }));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

/** A stack of one sweep of `n` points: `n` resources in the manifest. */
function sweepStack(n: number, profile = ''): string {
  return `import { App, Stack, Sweep, ClusterProfile } from 'hpcdk';
void ClusterProfile;
${profile ? `const target = ${profile};` : ''}
const app = new App();
const s = new Stack(app, 'bench'${profile ? ', { targets: [target] }' : ''});
// Held for an hour: the benchmark measures submitting and reconciling, not running 1,000 tasks on this machine.
new Sweep(s, 'sweep', { points: Array.from({ length: ${n} }, (_, i) => ({ index: i })), allocation: { time: '00:01:00', extra: { begin: 'now+3600' } }, run: ['true'] });
`;
}

/** The same work for cdk8s: `n` Job objects, one file each. */
function cdk8sApp(n: number): string {
  return `import { App, ApiObject, Chart, YamlOutputType } from 'cdk8s';
const app = new App({ outdir: 'dist', yamlOutputType: YamlOutputType.FILE_PER_RESOURCE });
const chart = new Chart(app, 'bench');
for (let i = 0; i < ${n}; i++) {
  new ApiObject(chart, 'job-' + i, {
    apiVersion: 'batch/v1',
    kind: 'Job',
    spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'train', image: 'python:3.11-slim', command: ['python', 'train.py', '--index', String(i)] }] } } },
  });
}
app.synth();
`;
}

function synthBench(n: number): { hpcdk: Run; hpcdkFirst: Run; cdk8s: Run } {
  const ours = project({ 'stacks/bench.ts': sweepStack(n) });
  const theirs = project({ 'main.ts': cdk8sApp(n) });
  symlinkSync(join(REPO, 'node_modules', 'cdk8s'), join(theirs, 'node_modules', 'cdk8s'));
  symlinkSync(join(REPO, 'node_modules', 'constructs'), join(theirs, 'node_modules', 'constructs'));
  // Both write every file. hpcdk compiles its stack files on the first run and keeps them until they change
  // (node_modules/.cache); cdk8s's app runs through tsx, which keeps its own compiled files too.
  const runs = [0, 1, 2].map(() => timed(['node', BIN, 'synth', '-q'], ours));
  const cdk8s = median(3, () =>
    timed(['node', '--import', join(REPO, 'node_modules/tsx/dist/esm/index.mjs'), 'main.ts'], theirs),
  );
  rmSync(ours, { recursive: true, force: true });
  rmSync(theirs, { recursive: true, force: true });
  return { hpcdk: middle(runs), hpcdkFirst: runs[0]!, cdk8s };
}

function clusterEnv(): Record<string, string> | undefined {
  const up = spawnSync('bash', [join(REPO, 'test/cluster/up.sh')], {
    encoding: 'utf8',
    env: { ...process.env, HPCDK_CLUSTER_DIR: CLUSTER_DIR },
  });
  if (up.status !== 0) {
    process.stderr.write(
      `the test cluster could not start; cluster benchmarks are left out:\n${up.stderr.slice(-1000)}\n`,
    );
    return undefined;
  }
  const env: Record<string, string> = {};
  for (const line of readFileSync(join(CLUSTER_DIR, 'env'), 'utf8').split('\n')) {
    const m = /^export ([A-Z_]+)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

function profileFor(base: string): string {
  return `new ClusterProfile('testcluster', { scheduler: 'slurm', ssh: { host: 'hpcdk-test' }, basePath: ${base}, maxArraySize: 1001, partitions: { debug: { maxTime: '01:00:00' } }, scratchVar: 'SLURM_TMPDIR' })`;
}

/** Round trips, counted on the server: sshd's logins and sessions, and the scripts run in them (test/cluster/count-scripts.sh). */
interface Trips {
  readonly logins: number;
  readonly sessions: number;
  readonly scripts: number;
}

interface ClusterFigures {
  readonly plan: Run;
  readonly planTrips: Trips;
  readonly sshTrue: Run;
  readonly apply: Run;
  readonly applyRuns: readonly number[];
  readonly applyTrips: Trips;
  readonly rawSbatch: Run;
  readonly rawRuns: readonly number[];
  readonly reapply: Run;
  readonly reapplyTrips: Trips;
  readonly planAfterApply: Run;
  readonly reapplySubmitted: number;
  readonly reapplyUploaded: number;
}

/** Cancels every job and waits until the queue is empty, so the next measurement starts on an idle cluster. */
function settle(ssh: string[]): void {
  execFileSync(ssh[0]!, [
    ...ssh.slice(1),
    'scancel -u "$(id -un)"; for i in $(seq 60); do [ -z "$(squeue -h -u "$(id -un)" -t PENDING,RUNNING,COMPLETING)" ] && exit 0; sleep 1; done',
  ]);
}

/** Runs `command` and returns what the server counted for it. */
function counted(key: CountingKey, command: () => Run): { run: Run; trips: Trips } {
  const before = { ...key.sessions(), scripts: key.scripts() };
  const run = command();
  const after = { ...key.sessions(), scripts: key.scripts() };
  return {
    run,
    trips: {
      logins: after.logins - before.logins,
      sessions: after.sessions - before.sessions,
      scripts: after.scripts - before.scripts,
    },
  };
}

/** Applies and raw submissions timed: a few tenths of a second each on a shared machine vary by a tenth, so more than three. */
const APPLY_RUNS = 5;

function clusterBench(env: Record<string, string>, n: number): ClusterFigures {
  // The stack takes its remote folder from the environment: each apply below gets a fresh one, and the stack file,
  // compiled once, stays the same.
  const dir = project({ 'stacks/bench.ts': sweepStack(n, profileFor('process.env.HPCDK_BENCH_BASE!')) });
  const key = countingKey(env.HPCDK_CLUSTER_DIR!, env.HPCDK_SSH_CONFIG!, env.HPCDK_SSH_LOG!, dir);
  const ssh = ['ssh', '-F', env.HPCDK_SSH_CONFIG!, 'hpcdk-test'];
  const bases: string[] = [];
  const envFor = (i: number) => {
    const base = `/tmp/hpcdk-bench-remote-${process.pid}-${i}`;
    if (!bases.includes(base)) bases.push(base);
    return { HPCDK_SSH_CONFIG: key.config, HPCDK_BENCH_BASE: base };
  };

  settle(ssh);
  const sshTrue = median(5, () => timed([...ssh, 'true'], dir));
  const plans = [0, 1, 2].map(() => counted(key, () => timed(['node', BIN, 'plan'], dir, envFor(0))));
  const plan = middle(plans.map((p) => p.run));

  // Applies of the whole sweep, each into a fresh folder on an idle cluster after a plan of it (as a user would
  // run them; it also leaves the stack file compiled, which an edit makes the first command after it do).
  const applies: Array<{ run: Run; trips: Trips }> = [];
  for (let i = 1; i <= APPLY_RUNS; i++) {
    settle(ssh);
    timed(['node', BIN, 'plan'], dir, envFor(i));
    applies.push(counted(key, () => timed(['node', BIN, 'apply', '--yes'], dir, envFor(i))));
  }
  const apply = applies.find((a) => a.run === middle(applies.map((x) => x.run)))!;

  // Re-apply the last one against a plan made in the same state (jobs queued), just before it.
  const planAfterApply = timed(['node', BIN, 'plan'], dir, envFor(APPLY_RUNS));
  const reapply = counted(key, () => timed(['node', BIN, 'apply', '--yes'], dir, envFor(APPLY_RUNS)));
  const reapplySubmitted = (reapply.run.stdout.match(/submitted/g) ?? []).length;
  const reapplyUploaded = (reapply.run.stdout.match(/upload/g) ?? []).length;

  // Reference: the same script, uploaded and submitted as one array by hand over ssh, into a cluster as idle as
  // hpcdk's applies found it, as many times.
  writeFileSync(join(dir, 'raw.sbatch'), '#!/bin/bash\n#SBATCH --time=00:01:00\n#SBATCH --begin=now+3600\ntrue\n');
  const raws: Run[] = [];
  for (let i = 0; i < APPLY_RUNS; i++) {
    settle(ssh);
    const raw = `/tmp/hpcdk-bench-raw-${process.pid}-${i}`;
    bases.push(raw);
    raws.push(
      timed(
        [
          'bash',
          '-c',
          `${ssh.map((a) => `'${a}'`).join(' ')} 'mkdir -p ${raw} && cat > ${raw}/raw.sbatch && cd ${raw} && sbatch --parsable --array=0-${n - 1} raw.sbatch' < raw.sbatch`,
        ],
        dir,
      ),
    );
  }
  const rawSbatch = middle(raws);

  execFileSync(ssh[0]!, [...ssh.slice(1), `scancel -u "$(id -un)" >/dev/null 2>&1; rm -rf ${bases.join(' ')}`]);
  rmSync(dir, { recursive: true, force: true });
  return {
    plan,
    planTrips: plans[0]!.trips,
    sshTrue,
    apply: apply.run,
    applyRuns: applies.map((a) => a.run.seconds),
    applyTrips: apply.trips,
    rawSbatch,
    rawRuns: raws.map((r) => r.seconds),
    reapply: reapply.run,
    reapplyTrips: reapply.trips,
    planAfterApply,
    reapplySubmitted,
    reapplyUploaded,
  };
}

function planTime(env: Record<string, string>, n: number): Run {
  settle(['ssh', '-F', env.HPCDK_SSH_CONFIG!, 'hpcdk-test']);
  const base = `/tmp/hpcdk-bench-growth-${process.pid}-${n}`;
  const dir = project({ 'stacks/bench.ts': sweepStack(n, profileFor(JSON.stringify(base))) });
  const run = median(3, () => timed(['node', BIN, 'plan'], dir, { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! }));
  rmSync(dir, { recursive: true, force: true });
  return run;
}

const fmt = (x: number, digits = 2) => x.toFixed(digits);

function main(): void {
  const results: Record<string, unknown> = {
    machine: { cpus: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
  };
  const lines: string[] = [];

  const synth = synthBench(10_000);
  results.synth = {
    points: 10_000,
    hpcdk: synth.hpcdk,
    hpcdkFirst: synth.hpcdkFirst,
    cdk8s: synth.cdk8s,
    ratio: synth.hpcdk.seconds / synth.cdk8s.seconds,
  };
  lines.push(
    `synth, 10,000-point sweep vs cdk8s 10,000 Jobs (FILE_PER_RESOURCE): hpcdk ${fmt(synth.hpcdk.seconds)} s (first run, compiling the stack file: ${fmt(synth.hpcdkFirst.seconds)} s), ${fmt(synth.hpcdk.peakMiB, 0)} MiB; cdk8s ${fmt(synth.cdk8s.seconds)} s, ${fmt(synth.cdk8s.peakMiB, 0)} MiB; ratio ${fmt(synth.hpcdk.seconds / synth.cdk8s.seconds)} (target <= 0.5)`,
  );

  const growth: Record<string, { synth: number; plan?: number }> = {};
  for (const n of [100, 1_000, 10_000]) growth[n] = { synth: synthBench(n).hpcdk.seconds };
  // Only hpcdk is timed at each size; cdk8s was measured above at 10,000.

  const env = clusterEnv();
  if (env) {
    const c = clusterBench(env, 1_000);
    results.cluster = { resources: 1_000, ...c };
    const trips = (t: { logins: number; sessions: number; scripts: number }) =>
      `${t.scripts} round trip(s) in ${t.sessions} session(s) over ${t.logins} login(s)`;
    lines.push(
      `plan, 1,000 resources over SSH: ${trips(c.planTrips)}, counted on the server (target <= 3 round trips); ${fmt(c.plan.seconds)} s vs ssh host true ${fmt(c.sshTrue.seconds)} s, ratio ${fmt(c.plan.seconds / c.sshTrue.seconds)} (target <= 3)`,
      `apply, 1,000-point sweep: ${fmt(c.apply.seconds)} s (median of ${c.applyRuns.map((x) => fmt(x)).join(', ')}), ${trips(c.applyTrips)}, vs raw sbatch --array=0-999 over ssh ${fmt(c.rawSbatch.seconds)} s (median of ${c.rawRuns.map((x) => fmt(x)).join(', ')}), ratio ${fmt(c.apply.seconds / c.rawSbatch.seconds)} (target <= 2)`,
      `re-apply, unchanged: ${c.reapplyUploaded} uploads, ${c.reapplySubmitted} submissions, ${trips(c.reapplyTrips)} vs plan's ${c.planTrips.scripts}, ${fmt(c.reapply.seconds)} s vs a plan in the same state ${fmt(c.planAfterApply.seconds)} s, ratio ${fmt(c.reapply.seconds / c.planAfterApply.seconds)} (target: 0, 0, no more round trips, <= 1.2)`,
    );
    for (const n of [100, 1_000, 10_000]) growth[n]!.plan = planTime(env, n).seconds;
  }
  results.growth = growth;
  lines.push(
    `growth (seconds): ${Object.entries(growth)
      .map(([n, g]) => `${n}: synth ${fmt(g.synth)}${g.plan !== undefined ? `, plan ${fmt(g.plan)}` : ''}`)
      .join('; ')}`,
  );

  mkdirSync(join(REPO, 'bench', 'results'), { recursive: true });
  writeFileSync(join(REPO, 'bench', 'results', 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${lines.join('\n')}\nwritten: bench/results/latest.json\n`);
}

main();
