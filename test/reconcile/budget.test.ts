import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';
import { waitFor } from '../helpers/wait.js';

afterAll(cleanupProjects);

/** Four points of two A100s for 30 minutes, and a report on a CPU for 15: 4 GPU-hours, 2.25 node-hours. */
const stack = (
  stackProps: string,
  target = 'ClusterProfile.local()',
) => `import { App, ClusterProfile, Job, Stack, Sweep } from 'hpcdk';
const app = new App();
const s = new Stack(app, 'demo', { targets: [${target}]${stackProps} });
const sweep = new Sweep(s, 'ppo', {
  grid: { seed: [1, 2, 3, 4] },
  allocation: { time: '00:30:00', cpusPerTask: 2, gpus: { type: 'a100', count: 2 } },
  run: ['echo seed $seed'],
});
new Job(s, 'report', { allocation: { time: '00:15:00' }, run: ['echo reported'] }).dependsOn(sweep);
`;

interface Row {
  address: string;
  status: string;
}

async function statuses(dir: string): Promise<Row[]> {
  const r = await hpcdk(dir, ['status', '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { resources: Row[] }).resources;
}

const deployed = (dir: string) => join(dir, '.hpcdk/local/demo');

describe('the compute budget on the local target', () => {
  it('GIVEN no budget WHEN plan THEN the summary and the JSON plan give what the submissions request', async () => {
    const dir = makeProject({ 'stacks/demo.ts': stack('') });
    const plan = await hpcdk(dir, ['plan']);
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(
      'Plan: 0 to add, 0 to change, 0 to destroy; 5 jobs to submit, 0 to cancel.\nCompute requested: 2.3 node-hours, 4.3 CPU-hours, 4.0 GPU-hours (a100: 4.0)',
    );
    const json = JSON.parse((await hpcdk(dir, ['plan', '--json'])).stdout);
    const [p] = json.plans;
    expect(p.compute).toEqual({
      jobs: 5,
      nodeHours: 2.25,
      cpuHours: 4.25,
      gpuHours: 4,
      gpuHoursByType: { a100: 4 },
      unbounded: [],
    });
    expect(p.budget).toBeUndefined();
    expect(p.resources.find((r: { address: string }) => r.address === 'ppo/seed=1').compute).toEqual({
      nodeHours: 0.5,
      cpuHours: 1,
      gpuHours: 1,
      gpuHoursByType: { a100: 1 },
    });
  });

  it('GIVEN a stack budget exceeded WHEN plan and apply THEN both exit 1 naming the top jobs, and nothing is deployed or submitted', async () => {
    const dir = makeProject({ 'stacks/demo.ts': stack(', budget: { gpuHours: 3 }') });
    const plan = await hpcdk(dir, ['plan', '--out', 'demo.plan']);
    expect(plan.exitCode).toBe(1);
    expect(plan.stdout).toContain('Compute requested:');
    expect(plan.stderr).toContain('Stack demo on local requests more compute than its budget allows:');
    expect(plan.stderr).toContain('  GPU-hours: 4.0 requested, over the budget of 3.0 (stack demo)');
    expect(plan.stderr).toContain(
      'The jobs requesting the most:\n  sweep ppo (4 points): 2.0 node-hours, 4.0 CPU-hours, 4.0 GPU-hours (a100: 4.0)',
    );
    expect(plan.stderr).toContain(
      'The plan was not saved. Raise the budget, or pass --ignore-budget to go ahead anyway.',
    );
    expect(existsSync(join(dir, 'demo.plan'))).toBe(false);

    const json = await hpcdk(dir, ['plan', '--json']);
    expect(json.exitCode).toBe(1);
    expect(JSON.parse(json.stdout).plans[0].budget.exceeded).toEqual([
      { figure: 'gpuHours', requested: 4, limit: 3, from: 'stack demo' },
    ]);

    const apply = await hpcdk(dir, ['apply', '--yes']);
    expect(apply.exitCode).toBe(1);
    expect(apply.stderr).toContain('GPU-hours: 4.0 requested, over the budget of 3.0 (stack demo)');
    expect(apply.stderr).toContain('Nothing was applied.');
    expect(existsSync(join(deployed(dir), 'files'))).toBe(false);
    expect(existsSync(join(deployed(dir), '.hpcdk/journal'))).toBe(false);
    expect((await statuses(dir)).map((r) => r.status)).toEqual(Array(5).fill('not submitted'));
  });

  it("GIVEN the target's budget is the tighter WHEN plan THEN it is the one reported", async () => {
    const dir = makeProject({
      'stacks/demo.ts': stack(
        ', budget: { gpuHours: 100 }',
        'ClusterProfile.local({ budget: { cpuHours: 4, gpuHours: 50 } })',
      ),
    });
    const plan = await hpcdk(dir, ['plan']);
    expect(plan.exitCode).toBe(1);
    expect(plan.stderr).toContain('  CPU-hours: 4.3 requested, over the budget of 4.0 (target local)');
    expect(plan.stderr).not.toContain('GPU-hours: 4.0 requested');
    expect(plan.stderr).toContain('  sweep ppo (4 points)');
    expect(plan.stderr).toContain('  report: 0.3 node-hours, 0.3 CPU-hours');
  });

  it('GIVEN --ignore-budget WHEN apply THEN it is applied and runs, with a warning', async () => {
    const dir = makeProject({ 'stacks/demo.ts': stack(', budget: { gpuHours: 3 }') });
    const apply = await hpcdk(dir, ['apply', '--yes', '--ignore-budget']);
    expect(apply.exitCode, apply.stderr).toBe(0);
    expect(apply.stdout).toContain(
      'Warning (--ignore-budget): Stack demo on local requests more compute than its budget allows:',
    );
    expect(apply.stdout).toContain('Apply complete! demo on local: 0 added, 0 changed, 0 destroyed; 5 jobs submitted');
    await waitFor('the report to complete', async () =>
      (await statuses(dir)).find((r) => r.address === 'report')?.status === 'COMPLETED' ? true : undefined,
    );
    // Nothing left to submit: nothing requested, so the budget has nothing to refuse.
    const again = await hpcdk(dir, ['plan', '--detailed-exitcode']);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain('No changes.');
  });

  it('GIVEN a plan saved with --ignore-budget WHEN applied THEN it is carried out as saved', async () => {
    const dir = makeProject({ 'stacks/demo.ts': stack(', budget: { gpuHours: 3 }') });
    const saved = await hpcdk(dir, ['plan', '--ignore-budget', '--out', 'demo.plan']);
    expect(saved.exitCode, saved.stderr).toBe(0);
    const apply = await hpcdk(dir, ['apply', 'demo.plan']);
    expect(apply.exitCode, apply.stderr).toBe(0);
    expect(apply.stdout).toContain('5 jobs submitted');
  });

  it('GIVEN a budget that is not a positive number WHEN synth THEN exit 1 with the construct path, and nothing is written', async () => {
    const dir = makeProject({ 'stacks/demo.ts': stack(', budget: { gpuHours: -5 }') });
    const synth = await hpcdk(dir, ['synth']);
    expect(synth.exitCode).toBe(1);
    expect(synth.stderr).toContain('[demo] budget.gpuHours: must be a positive number (got -5)');
    expect(synth.stderr).toContain('Nothing was written.');
    expect(existsSync(join(dir, 'snapshots'))).toBe(false);

    const profile = makeProject({
      'stacks/demo.ts': stack('', "ClusterProfile.local({ budget: { cpuHours: 'many' as unknown as number } })"),
    });
    const refused = await hpcdk(profile, ['synth']);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain('[target:local] budget.cpuHours: must be a positive number (got "many")');
    expect(existsSync(join(profile, 'snapshots'))).toBe(false);
  });
});
