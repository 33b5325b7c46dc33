import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupProjects, hpcdk, liveLocalJobs, makeProject } from '../helpers/project.js';
import { waitFor } from '../helpers/wait.js';

afterAll(cleanupProjects);

/** Four points, one at a time, each long enough to be caught running. */
const sweep = (text: string) => `import { App, Stack, Sweep } from 'hpcdk';
const app = new App();
const s = new Stack(app, 'demo');
new Sweep(s, 'sw', {
  grid: { i: [1, 2, 3, 4] },
  throttle: 1,
  run: ['echo "${text} $i"', 'sleep 20'],
});
`;

interface Row {
  readonly address: string;
  readonly status: string;
  readonly jobId?: string;
}

async function rows(dir: string): Promise<Row[]> {
  const r = await hpcdk(dir, ['status', '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { resources: Row[] }).resources;
}

const stackDir = (dir: string) => join(dir, '.hpcdk/local/demo');

/** The tasks (and runners) of the project's local jobs still alive. */
const liveTasks = (dir: string) =>
  liveLocalJobs(dir)
    .map((j) => j.name)
    .filter((n) => n.includes('/pid.'));

/** The log lines every task has written so far. */
function logLines(dir: string): string[] {
  const logs = join(stackDir(dir), 'logs/sw');
  if (!existsSync(logs)) return [];
  return readdirSync(logs)
    .filter((f) => f.endsWith('.out'))
    .flatMap((f) => readFileSync(join(logs, f), 'utf8').split('\n').filter(Boolean));
}

async function firstRunning(dir: string): Promise<Row[]> {
  return waitFor('the first point to run', async () => {
    const all = await rows(dir);
    return all.filter((r) => r.status === 'RUNNING').length === 1 &&
      all.filter((r) => r.status === 'PENDING').length === 3
      ? all
      : undefined;
  });
}

describe('the local target behaves as a scheduler does', () => {
  it('GIVEN a sweep with one point running and three pending WHEN destroyed THEN every task is cancelled, the running one ended, and none starts afterwards', async () => {
    const dir = makeProject({ 'stacks/demo.ts': sweep('v1') });
    expect((await hpcdk(dir, ['apply', '--yes'])).exitCode).toBe(0);
    await firstRunning(dir);

    const destroy = await hpcdk(dir, ['destroy', '--yes']);
    expect(destroy.exitCode, destroy.stderr).toBe(0);
    expect(destroy.stdout).toContain('Destroy complete!');
    expect(liveTasks(dir)).toEqual([]);
    // Long enough for a pending task to have started, had it not been cancelled.
    await new Promise((r) => setTimeout(r, 2500));
    expect(liveTasks(dir)).toEqual([]);
    expect(logLines(dir)).toEqual(['v1 1']);
  });

  it('GIVEN a sweep whose points are pending WHEN its steps change and apply runs THEN the old tasks are cancelled first and none runs the new text under the old version', async () => {
    const dir = makeProject({ 'stacks/demo.ts': sweep('v1') });
    expect((await hpcdk(dir, ['apply', '--yes'])).exitCode).toBe(0);
    const before = await firstRunning(dir);
    const oldIds = new Set(before.map((r) => r.jobId));

    writeFileSync(join(dir, 'stacks/demo.ts'), sweep('v2'));
    const apply = await hpcdk(dir, ['apply', '--yes']);
    expect(apply.exitCode, apply.stderr).toBe(0);
    const after = await rows(dir);
    // The running point is left to finish as it started (an outdated run); the pending ones were replaced.
    expect(after.filter((r) => oldIds.has(r.jobId)).map((r) => r.status)).toEqual(['RUNNING (outdated)']);
    await waitFor('the old point and the first new one to have written', async () =>
      logLines(dir).length >= 2 ? true : undefined,
    );
    expect(logLines(dir).filter((l) => l.startsWith('v1'))).toEqual(['v1 1']);
    // What ran under the new version says v2: no old task read the new script.
    expect(logLines(dir).filter((l) => l.startsWith('v2')).length).toBeGreaterThanOrEqual(1);
    expect((await hpcdk(dir, ['destroy', '--yes'])).exitCode).toBe(0);
    expect(liveTasks(dir)).toEqual([]);
  }, 90_000);

  it('GIVEN a pending point WHEN apply --replace names it THEN that task alone is cancelled and submitted again', async () => {
    const dir = makeProject({ 'stacks/demo.ts': sweep('v1') });
    expect((await hpcdk(dir, ['apply', '--yes'])).exitCode).toBe(0);
    const before = await firstRunning(dir);
    const point = before.find((r) => r.address === 'sw/i=4')!;
    expect(point.status).toBe('PENDING');

    const replace = await hpcdk(dir, ['apply', '--yes', '--replace', 'sw/i=4']);
    expect(replace.exitCode, replace.stderr).toBe(0);
    const after = await rows(dir);
    const replaced = after.find((r) => r.address === 'sw/i=4')!;
    expect(replaced.jobId).not.toBe(point.jobId);
    expect(replaced.status).toMatch(/PENDING|RUNNING/);
    // The others keep their tasks.
    for (const address of ['sw/i=1', 'sw/i=2', 'sw/i=3'])
      expect(after.find((r) => r.address === address)?.jobId).toBe(before.find((r) => r.address === address)?.jobId);
    expect((await hpcdk(dir, ['destroy', '--yes'])).exitCode).toBe(0);
    expect(liveTasks(dir)).toEqual([]);
  }, 90_000);

  it('GIVEN a job and a sweep task that outlive their time limit WHEN they run on the local target THEN each is ended at the limit and reported TIMEOUT', async () => {
    const dir = makeProject({
      'stacks/demo.ts': `import { App, Stack, Job, Sweep } from 'hpcdk';
const app = new App();
const s = new Stack(app, 'demo');
new Job(s, 'slow', { allocation: { time: '00:00:02' }, run: ['echo started', 'sleep 60', 'echo never'] });
new Sweep(s, 'sw', { grid: { i: [1] }, allocation: { time: '0:02' }, run: ['sleep 60'] });
new Job(s, 'quick', { allocation: { time: '00:01:00' }, run: ['echo done'] });
`,
    });
    expect((await hpcdk(dir, ['apply', '--yes'])).exitCode).toBe(0);
    const ended = await waitFor('the slow ones to be ended', async () => {
      const all = await rows(dir);
      return all.filter((r) => r.status === 'TIMEOUT').length === 2 ? all : undefined;
    });
    expect(ended.find((r) => r.address === 'slow')?.status).toBe('TIMEOUT');
    expect(ended.find((r) => r.address === 'sw/i=1')?.status).toBe('TIMEOUT');
    // The mark is left first, then the processes are ended: they are gone moments later.
    await waitFor('the ended tasks to be gone', async () => (liveTasks(dir).length === 0 ? true : undefined), 10_000);
    expect((await hpcdk(dir, ['logs', 'slow'])).stdout).toBe('started\n');
    // A job within its limit is not touched.
    const quick = await waitFor('quick', async () =>
      (await rows(dir)).find((r) => r.address === 'quick' && r.status === 'COMPLETED'),
    );
    expect(quick.status).toBe('COMPLETED');
  });
});
