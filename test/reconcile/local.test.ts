import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';
import { waitFor } from '../helpers/wait.js';

afterAll(cleanupProjects);

const stack = (body: string) => `import { App, Stack, TextFile, Job, RuntimeRef } from 'hpcdk';
const app = new App();
const s = new Stack(app, 'demo');
void RuntimeRef;
${body}
`;

const basic = stack(`
new TextFile(s, 'config', { fileName: 'config.yaml', content: 'lr: 0.1\\n' });
new Job(s, 'train', { run: ['cat files/config/config.yaml', 'echo "trained in $SLURM_JOB_ID"'] });
`);

interface StatusRow {
  address: string;
  status: string;
  jobId?: string;
  exitCode?: number;
  attempts?: number;
}

async function status(dir: string): Promise<StatusRow[]> {
  const r = await hpcdk(dir, ['status', '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { resources: StatusRow[] }).resources;
}

async function jobFinished(dir: string, address: string): Promise<StatusRow> {
  return waitFor(`${address} to finish`, async () => {
    const row = (await status(dir)).find((r) => r.address === address);
    return row && ['COMPLETED', 'FAILED', 'CANCELLED'].includes(row.status) ? row : undefined;
  });
}

describe('plan and apply on the local target', () => {
  it('plans, applies, runs the job to COMPLETED, and then has no changes', async () => {
    const dir = makeProject({ 'stacks/demo.ts': basic });
    const plan = await hpcdk(dir, ['plan', '--detailed-exitcode']);
    expect(plan.exitCode).toBe(2);
    expect(plan.stdout).toContain('# config will be created (new)');
    expect(plan.stdout).toContain('# train will be submitted (new)');
    expect(plan.stdout).toContain('Plan: 1 to add, 0 to change, 0 to destroy; 1 job to submit, 0 to cancel.');

    const apply = await hpcdk(dir, ['apply', '--yes']);
    expect(apply.exitCode, apply.stderr).toBe(0);
    expect(apply.stdout).toContain('Apply complete! demo on local: 1 added, 0 changed, 0 destroyed; 1 job submitted');
    const row = await jobFinished(dir, 'train');
    expect(row).toMatchObject({ status: 'COMPLETED', exitCode: 0, attempts: 1 });

    const logs = await hpcdk(dir, ['logs', 'train']);
    expect(logs.stdout).toBe(`lr: 0.1\ntrained in ${row.jobId}\n`);

    const again = await hpcdk(dir, ['plan', '--detailed-exitcode']);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain('No changes.');
    const reapply = await hpcdk(dir, ['apply', '--yes']);
    expect(reapply.stdout).toContain('No changes.');
    expect((await status(dir)).find((r) => r.address === 'train')?.jobId).toBe(row.jobId);
  });

  it('prints the same plan as versioned JSON, and the human view agrees with it', async () => {
    const dir = makeProject({ 'stacks/demo.ts': basic });
    const r = await hpcdk(dir, ['plan', '--json']);
    expect(r.exitCode).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.format_version).toBe('1');
    const [plan] = doc.plans;
    expect(plan.summary).toEqual({ add: 1, change: 0, destroy: 0, submit: 1, cancel: 0 });
    expect(plan.resources.map((x: { address: string; action: string }) => `${x.action} ${x.address}`)).toEqual([
      'create config',
      'submit train',
    ]);
    // The human view says the same, rendered from the same plan.
    const human = (await hpcdk(dir, ['plan'])).stdout;
    expect(human).toContain('# config will be created (new)');
    expect(human).toContain('# train will be submitted (new)');
    expect(human).toContain(
      `Plan: ${plan.summary.add} to add, ${plan.summary.change} to change, ${plan.summary.destroy} to destroy; ${plan.summary.submit} job to submit, ${plan.summary.cancel} to cancel.`,
    );
  });

  it('shows a deployed file edited by hand as drift, and restores it', async () => {
    const dir = makeProject({ 'stacks/demo.ts': basic });
    await hpcdk(dir, ['apply', '--yes']);
    await jobFinished(dir, 'train');
    writeFileSync(join(dir, '.hpcdk/local/demo/files/config/config.yaml'), 'lr: 99\n');
    const plan = await hpcdk(dir, ['plan', '--detailed-exitcode']);
    expect(plan.exitCode).toBe(2);
    expect(plan.stdout).toContain('Objects have changed outside hpcdk');
    expect(plan.stdout).toContain('config/config.yaml was edited outside hpcdk');
    expect(plan.stdout).toContain('# config will be updated in place');
    expect(plan.stdout).toMatch(/-lr: 99\n\s+\+lr: 0\.1/);
    await hpcdk(dir, ['apply', '--yes']);
    expect(readFileSync(join(dir, '.hpcdk/local/demo/files/config/config.yaml'), 'utf8')).toBe('lr: 0.1\n');
    expect((await hpcdk(dir, ['plan', '--detailed-exitcode'])).exitCode).toBe(0);
  });

  it('submits a changed job again, and only that job', async () => {
    const dir = makeProject({ 'stacks/demo.ts': `${basic}new Job(s, 'other', { run: ['true'] });\n` });
    await hpcdk(dir, ['apply', '--yes']);
    const first = await jobFinished(dir, 'train');
    await jobFinished(dir, 'other');
    writeFileSync(
      join(dir, 'stacks/demo.ts'),
      `${basic.replace('trained in', 'retrained in')}new Job(s, 'other', { run: ['true'] });\n`,
    );
    const plan = await hpcdk(dir, ['plan', '--json']);
    const resources = JSON.parse(plan.stdout).plans[0].resources as Array<{
      address: string;
      action: string;
      reason: string;
    }>;
    expect(resources.find((r) => r.address === 'train')).toMatchObject({
      action: 'submit',
      reason: `changed since job ${first.jobId} (COMPLETED)`,
    });
    expect(resources.find((r) => r.address === 'other')).toMatchObject({ action: 'no-op' });
    await hpcdk(dir, ['apply', '--yes']);
    const second = await jobFinished(dir, 'train');
    expect(second.jobId).not.toBe(first.jobId);
  });

  it('resubmits a failed job up to its attempt limit, then reports it failed; --replace forces it', async () => {
    const dir = makeProject({ 'stacks/demo.ts': stack(`new Job(s, 'flaky', { maxAttempts: 2, run: ['exit 3'] });`) });
    await hpcdk(dir, ['apply', '--yes']);
    expect(await jobFinished(dir, 'flaky')).toMatchObject({ status: 'FAILED', exitCode: 3 });
    const retry = await hpcdk(dir, ['plan']);
    expect(retry.stdout).toMatch(
      /# flaky will be submitted \(last attempt FAILED \(exit 3\) \(job \d+\); attempt 2 of 2\)/,
    );
    await hpcdk(dir, ['apply', '--yes']);
    await waitFor('second attempt', async () =>
      (await status(dir)).find((r) => r.address === 'flaky')?.attempts === 2 ? true : undefined,
    );
    await jobFinished(dir, 'flaky');
    const exhausted = await hpcdk(dir, ['plan', '--detailed-exitcode']);
    expect(exhausted.exitCode).toBe(0);
    expect(exhausted.stdout).toContain('Jobs that need attention');
    expect(exhausted.stdout).toContain(
      'failed: FAILED (exit 3) after 2 attempts; apply --replace flaky submits it again',
    );
    const forced = await hpcdk(dir, ['plan', '--replace', 'flaky', '--detailed-exitcode']);
    expect(forced.exitCode).toBe(2);
    expect(forced.stdout).toContain('# flaky will be submitted (replacement requested)');
  });

  it('runs dependent jobs in order, afterok', async () => {
    const dir = makeProject({
      'stacks/demo.ts': stack(`
const prep = new Job(s, 'prep', { run: ['sleep 1', 'echo prepared > "$SLURM_SUBMIT_DIR/prepared.txt"'] });
new Job(s, 'train', { run: ['cat "$SLURM_SUBMIT_DIR/prepared.txt"'] }).dependsOn(prep);
`),
    });
    const apply = await hpcdk(dir, ['apply', '--yes']);
    expect(apply.exitCode, apply.stderr).toBe(0);
    expect(await jobFinished(dir, 'train')).toMatchObject({ status: 'COMPLETED' });
    expect((await hpcdk(dir, ['logs', 'train'])).stdout).toBe('prepared\n');
  });

  it('removes what left the stack, and destroy removes the rest', async () => {
    const dir = makeProject({ 'stacks/demo.ts': basic });
    await hpcdk(dir, ['apply', '--yes']);
    await jobFinished(dir, 'train');
    writeFileSync(
      join(dir, 'stacks/demo.ts'),
      stack(`new Job(s, 'train', { run: ['echo "trained in $SLURM_JOB_ID"'] });`),
    );
    const plan = await hpcdk(dir, ['plan']);
    expect(plan.stdout).toContain('# config will be destroyed (no longer in the stack)');
    await hpcdk(dir, ['apply', '--yes']);
    expect(existsSync(join(dir, '.hpcdk/local/demo/files/config/config.yaml'))).toBe(false);

    const destroy = await hpcdk(dir, ['destroy', '--yes']);
    expect(destroy.exitCode, destroy.stderr).toBe(0);
    expect(destroy.stdout).toContain('Destroy complete!');
    expect(existsSync(join(dir, '.hpcdk/local/demo/files/train/job.sbatch'))).toBe(false);
  });

  it('cancels a pending job that changed, and leaves a running outdated job alone', async () => {
    const dir = makeProject({ 'stacks/demo.ts': stack(`new Job(s, 'long', { run: ['sleep 30'] });`) });
    await hpcdk(dir, ['apply', '--yes']);
    await waitFor('running', async () =>
      (await status(dir)).find((r) => r.address === 'long')?.status === 'RUNNING' ? true : undefined,
    );
    writeFileSync(join(dir, 'stacks/demo.ts'), stack(`new Job(s, 'long', { run: ['sleep 31'] });`));
    const plan = await hpcdk(dir, ['plan', '--detailed-exitcode']);
    expect(plan.exitCode).toBe(0);
    expect(plan.stdout).toMatch(/long: outdated \(running job \d+ is of an older version/);
    const replace = await hpcdk(dir, ['apply', '--yes', '--replace', 'long']);
    expect(replace.exitCode, replace.stderr).toBe(0);
    expect(replace.stdout).toContain('# long will be replaced (cancelled, then submitted)');
    await hpcdk(dir, ['destroy', '--yes']);
    const rows = await status(dir);
    expect(rows.find((r) => r.address === 'long')?.status).toBe('not submitted');
  });

  it('applies a saved plan exactly, and refuses it once the target changed', async () => {
    const dir = makeProject({ 'stacks/demo.ts': basic });
    const saved = join(dir, 'demo.plan.json');
    expect((await hpcdk(dir, ['plan', '--out', saved])).exitCode).toBe(0);
    const stale = join(dir, 'stale.plan.json');
    await hpcdk(dir, ['plan', '--out', stale]);
    const apply = await hpcdk(dir, ['apply', saved]);
    expect(apply.exitCode, apply.stderr).toBe(0);
    expect(apply.stdout).toContain('Apply complete!');
    const refused = await hpcdk(dir, ['apply', stale]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain('the target changed since this plan was made; run plan again');
  });

  it('refuses to apply while another apply holds the lock, naming the holder', async () => {
    const dir = makeProject({ 'stacks/demo.ts': basic });
    await hpcdk(dir, ['apply', '--yes']);
    // A lock held by a live process on this host (this test's own pid).
    const lock = join(dir, '.hpcdk/local/demo/.hpcdk/lock');
    const { mkdirSync, writeFileSync: write } = await import('node:fs');
    const { hostname } = await import('node:os');
    mkdirSync(lock);
    write(
      join(lock, 'owner'),
      `alice@laptop op=apply host=${hostname()} pid=${process.pid} since=${Math.floor(Date.now() / 1000)}\n`,
    );
    appendFileSync(join(dir, 'stacks/demo.ts'), `new TextFile(s, 'more', { content: 'x' });\n`);
    const r = await hpcdk(dir, ['apply', '--yes']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(
      /the target is locked by alice@laptop \(apply, pid \d+ on \S+, since \d{4}-\d\d-\d\d [\d:]+ UTC\)/,
    );
    const unlock = await hpcdk(dir, ['force-unlock', 'demo']);
    expect(unlock.stdout).toContain('Removed the lock on demo (local) held by alice@laptop');
    expect((await hpcdk(dir, ['apply', '--yes'])).exitCode).toBe(0);
  });

  it('takes over a lock whose holder is gone', async () => {
    const dir = makeProject({ 'stacks/demo.ts': basic });
    const lock = join(dir, '.hpcdk/local/demo/.hpcdk/lock');
    const { mkdirSync } = await import('node:fs');
    const { hostname } = await import('node:os');
    mkdirSync(lock, { recursive: true });
    writeFileSync(join(lock, 'owner'), `bob@laptop op=apply host=${hostname()} pid=999999 since=1\n`);
    const r = await hpcdk(dir, ['apply', '--yes']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('taking over a stale lock');
  });

  it('asks for --yes when not run from a terminal', async () => {
    const dir = makeProject({ 'stacks/demo.ts': basic });
    const r = await hpcdk(dir, ['apply']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('pass --yes to apply without asking');
    expect(existsSync(join(dir, '.hpcdk/local/demo/files'))).toBe(false);
  });
});
