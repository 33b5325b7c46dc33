import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { nestedExcludes, rsyncArgs, tally } from '../../lib/targets/shell/pull.js';
import { rshCommand } from '../../lib/shell/quote.js';
import { clusterEnv, onCluster, testClusterProfile } from '../helpers/cluster.js';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';
import { waitFor } from '../helpers/wait.js';

afterAll(cleanupProjects);

const stackFile = (
  target: string,
  body: string,
) => `import { App, ClusterProfile, Job, Scratch, Stack, Sweep } from 'hpcdk';
void Sweep;
const app = new App();
const s = new Stack(app, 'demo', { targets: [${target}] });
${body}
`;

const JOB = `new Job(s, 'train', {
  allocation: { time: '00:05:00' },
  freeze: true,
  outputs: [{ from: Scratch.path('out'), to: 'results/train' }],
  run: ['mkdir -p "$HPCDK_SCRATCH/out/ckpt" && echo "weights of $SLURM_JOB_ID" > "$HPCDK_SCRATCH/out/ckpt/model.txt"'],
});`;

const SWEEP = `new Sweep(s, 'grid', {
  grid: { lr: [1, 2] },
  outputs: [{ from: Scratch.path('out'), to: 'results/grid' }],
  run: ['mkdir -p "$HPCDK_SCRATCH/out" && echo "lr $lr" > "$HPCDK_SCRATCH/out/score.txt"'],
});`;

interface Row {
  address: string;
  status: string;
  jobId?: string;
}

async function completed(dir: string, env: Record<string, string> = {}): Promise<Map<string, Row>> {
  const rows = await waitFor(
    'every job to complete',
    async () => {
      const r = await hpcdk(dir, ['status', '--json'], env);
      expect(r.exitCode, r.stderr).toBe(0);
      const all = (JSON.parse(r.stdout) as { resources: Row[] }).resources;
      return all.every((x) => x.status === 'COMPLETED') ? all : undefined;
    },
    90_000,
  );
  return new Map(rows.map((x) => [x.address, x]));
}

/** Every file under `dir`, relative path → mtime in ms. */
function files(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else out.set(relative(dir, full), statSync(full).mtimeMs);
    }
  };
  walk(dir);
  return out;
}

describe('hpcdk pull on the local target', () => {
  it('brings each job and sweep back (logs, run.json, frozen packages, outputs), reports what never ran, and copies nothing twice', async () => {
    // GIVEN a job and a sweep with outputs that ran to COMPLETED
    const dir = makeProject({ 'stacks/demo.ts': stackFile('ClusterProfile.local()', `${JOB}\n${SWEEP}`) });
    const apply = await hpcdk(dir, ['apply', '--yes']);
    expect(apply.exitCode, apply.stderr).toBe(0);
    const jobs = await completed(dir);
    const trainId = jobs.get('train')!.jobId!;
    const sweepTask = jobs.get('grid/lr=1')!.jobId!;
    // AND a job added since, never run
    writeFileSync(
      join(dir, 'stacks/demo.ts'),
      stackFile('ClusterProfile.local()', `${JOB}\n${SWEEP}\nnew Job(s, 'later', { run: ['true'] });`),
    );

    // WHEN one job's logs only are pulled
    const logsOnly = await hpcdk(dir, ['pull', 'train', '--no-outputs']);
    expect(logsOnly.exitCode, logsOnly.stderr).toBe(0);
    const runs = join(dir, 'runs/demo/local');
    expect([...files(join(runs, 'train')).keys()].sort()).toEqual([
      `logs/${trainId}.run.json`,
      `logs/demo.train-${trainId}.err`,
      `logs/demo.train-${trainId}.out`,
      `logs/frozen/${trainId}.txt`,
    ]);
    expect(logsOnly.stdout).toBe(
      'train: 4 files, ' +
        [...files(join(runs, 'train')).keys()].reduce((n, f) => n + statSync(join(runs, 'train', f)).size, 0) +
        ' bytes new (runs/demo/local/train/)\n',
    );

    // AND then everything
    const all = await hpcdk(dir, ['pull']);
    expect(all.exitCode, all.stderr).toBe(0);

    // THEN each address has its logs, run records and outputs, the sweep's per point
    const record = JSON.parse(readFileSync(join(runs, `train/logs/${trainId}.run.json`), 'utf8'));
    expect(record).toMatchObject({ stack: 'demo', address: 'train', jobId: trainId, state: 'ended', exitCode: 0 });
    expect(readFileSync(join(runs, 'train/outputs/0/ckpt/model.txt'), 'utf8')).toBe(`weights of ${trainId}\n`);
    expect(readFileSync(join(runs, 'grid/outputs/0/lr=1/score.txt'), 'utf8')).toBe('lr 1\n');
    expect(readFileSync(join(runs, 'grid/outputs/0/lr=2/score.txt'), 'utf8')).toBe('lr 2\n');
    expect(JSON.parse(readFileSync(join(runs, `grid/logs/${sweepTask}.run.json`), 'utf8'))).toMatchObject({
      address: 'grid',
      point: 'lr=1',
      exitCode: 0,
    });
    // AND the summary says what was new per address, and what is not there
    expect(all.stdout).toContain(
      `train: 1 file, ${statSync(join(runs, 'train/outputs/0/ckpt/model.txt')).size} bytes new (runs/demo/local/train/)`,
    );
    expect(all.stdout).toMatch(/^grid: 8 files, \d+ bytes new \(runs\/demo\/local\/grid\/\)$/m);
    expect(all.stdout).toContain('later: nothing to pull; no logs on local (never run)');
    // AND the temporary view on the target is gone
    expect(readdirSync(join(dir, '.hpcdk/local/demo/.hpcdk')).filter((f) => f.startsWith('pull-'))).toEqual([]);

    // WHEN pulled again THEN nothing is copied: every address is up to date and no file was touched
    const before = files(runs);
    const again = await hpcdk(dir, ['pull']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toBe(
      [
        'grid: up to date (runs/demo/local/grid/)',
        'later: nothing to pull; no logs on local (never run)',
        'train: up to date (runs/demo/local/train/)',
        '',
      ].join('\n'),
    );
    expect(files(runs)).toEqual(before);
  });

  it('refuses an address that is neither a job nor a sweep', async () => {
    const dir = makeProject({ 'stacks/demo.ts': stackFile('ClusterProfile.local()', JOB) });
    const r = await hpcdk(dir, ['pull', 'nope']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('no job or sweep nope in stack demo');
  });

  it('hpcdk init keeps runs/ out of git', async () => {
    const dir = makeProject({});
    const r = await hpcdk(dir, ['init', '--name', 'lab']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readFileSync(join(dir, '.gitignore'), 'utf8').split('\n')).toEqual([
      'node_modules/',
      '.hpcdk/',
      'runs/',
      '',
    ]);
  });
});

describe('hpcdk pull from the SLURM test cluster', () => {
  it('copies a job’s logs and outputs over ssh with rsync, then nothing more', async (ctx) => {
    const env = clusterEnv(ctx);
    const ssh = { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! };
    // GIVEN a job with outputs that ran to COMPLETED on the cluster
    const profile = testClusterProfile();
    const base = /basePath: "([^"]+)"/.exec(profile)![1]!;
    const dir = makeProject({ 'stacks/demo.ts': stackFile(profile, JOB) });
    const apply = await hpcdk(dir, ['apply', '--yes'], ssh);
    expect(apply.exitCode, apply.stderr).toBe(0);
    const jobId = (await completed(dir, ssh)).get('train')!.jobId!;

    // WHEN pulled
    const pull = await hpcdk(dir, ['pull', 'train'], ssh);
    expect(pull.exitCode, pull.stderr).toBe(0);

    // THEN the files are those the cluster has, byte for byte
    const runs = join(dir, 'runs/demo/testcluster/train');
    expect(readFileSync(join(runs, 'outputs/0/ckpt/model.txt'), 'utf8')).toBe(
      `${await onCluster(env, `cat ${base}/demo/results/train/ckpt/model.txt`)}\n`,
    );
    expect(readFileSync(join(runs, 'outputs/0/ckpt/model.txt'), 'utf8')).toBe(`weights of ${jobId}\n`);
    const record = JSON.parse(readFileSync(join(runs, `logs/${jobId}.run.json`), 'utf8'));
    expect(record).toMatchObject({ address: 'train', jobId, state: 'ended', exitCode: 0 });
    expect([...files(join(runs, 'logs')).keys()].sort()).toEqual([
      `${jobId}.run.json`,
      `demo.train-${jobId}.err`,
      `demo.train-${jobId}.out`,
      `frozen/${jobId}.txt`,
    ]);
    expect(readFileSync(join(runs, `logs/demo.train-${jobId}.out`), 'utf8')).toBe(
      await onCluster(env, `cat ${base}/demo/logs/train/demo.train-${jobId}.out; echo x`).then((t) => t.slice(0, -1)),
    );
    expect(pull.stdout).toMatch(/^train: 5 files, \d+ bytes new \(runs\/demo\/testcluster\/train\/\)$/m);

    // AND a second pull copies nothing
    const before = files(runs);
    const again = await hpcdk(dir, ['pull', 'train'], ssh);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toBe('train: up to date (runs/demo/testcluster/train/)\n');
    expect(files(runs)).toEqual(before);
    // AND the temporary view on the cluster is gone
    expect(await onCluster(env, `ls -A ${base}/demo/.hpcdk | grep -c '^pull-' || true`)).toBe('0');
  });
});

describe('the pieces of a pull', () => {
  it('GIVEN ssh options with spaces and quotes WHEN rsync runs its remote shell THEN each option reaches it as one word', async () => {
    // A stand-in for ssh that records its arguments and fails: rsync splits -e itself, without a shell.
    const dir = makeProject({});
    const rsh = join(dir, 'fake ssh');
    writeFileSync(rsh, `#!/bin/sh\nfor a in "$@"; do printf '[%s]\\n' "$a"; done > "$(dirname "$0")/args"\nexit 1\n`);
    chmodSync(rsh, 0o755);
    const args = rsyncArgs(
      { host: 'narval', sshArgs: ['-F', `${dir}/my config`, '-o', "User=o'brien"], dir: '/x/view' },
      join(dir, 'dest'),
      [],
    );
    args[args.indexOf('-e') + 1] = args[args.indexOf('-e') + 1]!.replace(/^ssh /, `${rshCommand([rsh])} `);
    await execa('rsync', args, { reject: false });
    expect(readFileSync(join(dir, 'args'), 'utf8').split('\n').slice(0, 5)).toEqual([
      '[-F]',
      `[${dir}/my config]`,
      '[-o]',
      "[User=o'brien]",
      '[narval]',
    ]);
  });

  it('GIVEN a job nested in another WHEN both are pulled THEN the outer one leaves the inner one’s logs to it, and each counts its own files', () => {
    const units = [
      { address: 'exp', kind: 'job' as const, outputs: [] },
      { address: 'exp/train', kind: 'job' as const, outputs: [] },
    ];
    expect(nestedExcludes(units)).toEqual(['--exclude=/exp/logs/train/']);
    const out = [
      'cd+++++++++ 4096 exp/logs/',
      '>f+++++++++ 10 exp/logs/a.out',
      '>f+++++++++ 7 exp/train/logs/b.out',
      '>f+++++++++ 5 exp/train/outputs/0/m.txt',
      '.d..t...... 4096 exp/',
    ].join('\n');
    expect(tally(out, units)).toEqual(
      new Map([
        ['exp', { files: 1, bytes: 10 }],
        ['exp/train', { files: 2, bytes: 12 }],
      ]),
    );
  });
});
