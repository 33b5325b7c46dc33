import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';
import { waitFor } from '../helpers/wait.js';

afterAll(cleanupProjects);

/** Two independent targets on this machine, each with a folder of its own; the job and the sweep may go to tier2 only after tier1. */
const stack = (
  version: string,
  completedOn = 'tier1',
) => `import { App, ClusterProfile, Job, Stack, Sweep } from 'hpcdk';
const tier1 = new ClusterProfile('tier1', { scheduler: 'local', basePath: '.hpcdk/tier1' });
const tier2 = new ClusterProfile('tier2', { scheduler: 'local', basePath: '.hpcdk/tier2' });
const app = new App();
const s = new Stack(app, 'demo', { targets: [tier1, tier2] });
new Job(s, 'train', { gate: { completedOn: ${JSON.stringify(completedOn)} }, run: [['echo', 'training', ${JSON.stringify(version)}]] });
new Sweep(s, 'grid', { gate: { completedOn: ${JSON.stringify(completedOn)} }, grid: { lr: [1, 2] }, run: ['echo "lr $lr"'] });
`;

interface Row {
  address: string;
  status: string;
  jobId?: string;
}

async function rows(dir: string, target: string): Promise<Row[]> {
  const r = await hpcdk(dir, ['status', '--json', '-t', target]);
  expect(r.exitCode, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { resources: Row[] }).resources;
}

/** Applies on `target` and waits until all three submissions completed; returns the rows. */
async function runOn(dir: string, target: string): Promise<Map<string, Row>> {
  const apply = await hpcdk(dir, ['apply', '--yes', '-t', target]);
  expect(apply.exitCode, apply.stderr + apply.stdout).toBe(0);
  expect(apply.stdout).toContain(`Apply complete! demo on ${target}`);
  const done = await waitFor(`the jobs on ${target} to complete`, async () => {
    const all = await rows(dir, target);
    return all.every((x) => x.status === 'COMPLETED') ? all : undefined;
  });
  return new Map(done.map((x) => [x.address, x]));
}

interface PlanResource {
  address: string;
  action: string;
  gate?: { target: string; met: boolean | null; reason: string };
}

async function planJson(
  dir: string,
  target: string,
): Promise<{ exitCode: number; resources: PlanResource[]; stderr: string }> {
  const r = await hpcdk(dir, ['plan', '--json', '-t', target]);
  return {
    exitCode: r.exitCode,
    resources: (JSON.parse(r.stdout) as { plans: Array<{ resources: PlanResource[] }> }).plans[0]!.resources,
    stderr: r.stderr,
  };
}

describe('a promotion gate between two local targets', () => {
  it('holds tier2 back until tier1 ran the same content to COMPLETED, and again after the code changed', async () => {
    // GIVEN a job and a sweep gated on tier1, never run anywhere
    const dir = makeProject({ 'stacks/demo.ts': stack('v1') });
    const tier2Dir = join(dir, '.hpcdk/tier2/demo');

    // WHEN tier2 is planned and applied THEN both refuse, naming each gated submission and why, and nothing is applied
    const plan = await hpcdk(dir, ['plan', '-t', 'tier2', '--out', 'tier2.plan']);
    expect(plan.exitCode).toBe(1);
    expect(plan.stdout).toContain('    > job "train"\n        gate: never submitted on tier1 ✗');
    expect(plan.stdout).toContain('        > lr=1 (new) gate: never submitted on tier1 ✗');
    expect(plan.stderr).toContain(
      'Stack demo on tier2 is gated: these submissions must first complete on another target.\n  train: never submitted on tier1\n  sweep grid (2 points): lr=1: never submitted on tier1; lr=2: never submitted on tier1',
    );
    expect(plan.stderr).toContain(
      'Apply the stack on tier1 first (hpcdk apply demo -t tier1) and let it complete.\nThe plan was not saved.',
    );
    expect(existsSync(join(dir, 'tier2.plan'))).toBe(false);
    const json = await planJson(dir, 'tier2');
    expect(json.exitCode).toBe(1);
    expect(json.resources.find((r) => r.address === 'train')!.gate).toEqual({
      target: 'tier1',
      met: false,
      reason: 'never submitted on tier1',
    });

    const refused = await hpcdk(dir, ['apply', '--yes', '-t', 'tier2']);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain('  train: never submitted on tier1');
    expect(refused.stderr).toContain('Nothing was applied.');
    expect(existsSync(join(tier2Dir, 'files'))).toBe(false);
    expect(existsSync(join(tier2Dir, '.hpcdk/journal'))).toBe(false);
    // Planning tier1 itself is not gated.
    expect((await hpcdk(dir, ['plan', '-t', 'tier1'])).exitCode).toBe(0);

    // WHEN tier1 has run everything to COMPLETED
    const onTier1 = await runOn(dir, 'tier1');
    const trainOnTier1 = onTier1.get('train')!.jobId!;

    // THEN tier2's plan shows each gate met, naming tier1's jobs, and apply submits
    const met = await hpcdk(dir, ['plan', '-t', 'tier2']);
    expect(met.exitCode, met.stderr).toBe(0);
    expect(met.stdout).toContain(`gate: completed on tier1 (job ${trainOnTier1}) ✓`);
    expect(met.stdout).toContain(`> lr=2 (new) gate: completed on tier1 (job ${onTier1.get('grid/lr=2')!.jobId}) ✓`);
    expect(met.stdout).toContain('gate: every point to submit completed on tier1 ✓');
    await runOn(dir, 'tier2');

    // AND once done on tier2, the gate is not evaluated and blocks nothing
    const unchanged = await planJson(dir, 'tier2');
    expect(unchanged.exitCode, unchanged.stderr).toBe(0);
    expect(unchanged.resources.find((r) => r.address === 'train')).toMatchObject({
      action: 'no-op',
      gate: { target: 'tier1', met: null },
    });

    // WHEN the job's command changes (a new identity on both targets)
    writeFileSync(join(dir, 'stacks/demo.ts'), stack('v2'));

    // THEN tier2 refuses again: tier1 ran only the old version; the sweep, unchanged, is not held back
    const again = await hpcdk(dir, ['apply', '--yes', '-t', 'tier2']);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toContain(
      `  train: not run on tier1 at this content (its job ${trainOnTier1} there is COMPLETED, of another version)\nApply the stack on tier1 first`,
    );
    expect(again.stderr).not.toContain('sweep grid');
    expect(again.stderr).toContain('Nothing was applied.');

    // AND once tier1 ran the new version, tier2 goes ahead with it
    const v2 = (await runOn(dir, 'tier1')).get('train')!.jobId!;
    expect(v2).not.toBe(trainOnTier1);
    const promoted = await hpcdk(dir, ['apply', '--yes', '-t', 'tier2']);
    expect(promoted.exitCode, promoted.stderr).toBe(0);
    expect(promoted.stdout).toContain(`gate: completed on tier1 (job ${v2}) ✓`);
    expect(promoted.stdout).toContain('1 job submitted');
  });

  it('refuses a gate naming a target the stack does not have, and writes nothing', async () => {
    const dir = makeProject({ 'stacks/demo.ts': stack('v1', 'tier9') });
    const synth = await hpcdk(dir, ['synth']);
    expect(synth.exitCode).toBe(1);
    expect(synth.stderr).toContain(
      '[demo/train] gate.completedOn: is not a target of stack demo (has: tier1, tier2, local) (got "tier9")',
    );
    expect(synth.stderr).toContain('[demo/grid] gate.completedOn: is not a target of stack demo');
    expect(synth.stderr).toContain('Nothing was written.');
    expect(existsSync(join(dir, 'snapshots'))).toBe(false);
  });
});
