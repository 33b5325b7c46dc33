import { describe, expect, it } from 'vitest';
import {
  ClusterProfile,
  Job,
  Sweep,
  Testing,
  ValidationError,
  type ManifestResource,
  type Stack,
} from '../../lib/index.js';
import { budgetLimits, budgetPlan, overBudget, TOP_CONSUMERS } from '../../lib/plan/budget.js';
import { computePlan, type Plan, type PlanOptions } from '../../lib/plan/plan.js';
import type { ActualState } from '../../lib/plan/read-target.js';
import { budgetReport, renderPlan } from '../../lib/ui/plan-view.js';
import { foldJournal } from '../../lib/state/journal.js';
import { synthesizeStack, type StackSynthesis } from '../../lib/synth/synthesize.js';
import pc from 'picocolors';

const cluster = new ClusterProfile('hpc', {
  scheduler: 'slurm',
  ssh: { host: 'hpc' },
  partitions: {
    gpu: { maxTime: '2-00:00:00', cpusPerNode: 64, gpus: { a100: 4, l4: 2 } },
    cpu: { maxTime: '06:00:00', cpusPerNode: 64 },
  },
});

const noColor = pc.createColors(false);

function stackOf(build: (stack: Stack) => void, props: Parameters<typeof Testing.stack>[0] = {}): Stack {
  const stack = Testing.stack({ targets: [cluster], ...props }, 'lab');
  build(stack);
  return stack;
}

/** The target as plan reads it: every file deployed, and `completed` ran to COMPLETED. */
function targetWith(synthesis: StackSynthesis, completed: readonly ManifestResource[]): ActualState {
  const artifacts = synthesis.manifest.artifacts;
  const recorded = foldJournal(
    [
      ...artifacts.map((a) => `file ${a.path} ${a.sha256} 1`),
      ...completed.map((r, i) => `job ${r.address} ${r.identity} ${1000 + i} 1`),
    ].join('\n'),
  );
  return {
    files: new Map(artifacts.map((a) => [a.path, a.sha256])),
    contents: new Map(),
    recorded,
    jobs: new Map(
      completed.map((_, i) => [
        String(1000 + i),
        { id: String(1000 + i), state: 'COMPLETED', comment: '', exitCode: 0 },
      ]),
    ),
    serial: recorded.serial,
    deployment: 'test',
    packageLocks: new Map(),
    refused: new Map(),
    buildPaths: new Map(),
  };
}

function planOf(
  stack: Stack,
  options: PlanOptions = {},
  completed: (r: ManifestResource, index: number) => boolean = () => false,
): Plan {
  const synthesis = synthesizeStack(stack, cluster);
  return computePlan(synthesis, targetWith(synthesis, synthesis.manifest.resources.filter(completed)), options);
}

/** 96 points: 12 learning rates × 8 seeds, each a node with 8 CPUs and 4 A100s for an hour. */
const bigSweep = (stack: Stack) =>
  new Sweep(stack, 'ppo', {
    grid: { lr: Array.from({ length: 12 }, (_, i) => (i + 1) / 1000), seed: [1, 2, 3, 4, 5, 6, 7, 8] },
    allocation: { partition: 'gpu', time: '01:00:00', cpusPerTask: 8, gpus: { type: 'a100', count: 4 } },
    run: ['true'],
  });

describe('the request a job carries in the manifest', () => {
  it('GIVEN tasks, CPUs per task, nodes and GPUs WHEN synthesized THEN the spec holds nodes, total CPUs, minutes and GPUs per node', () => {
    const stack = stackOf((s) => {
      new Job(s, 'mpi', {
        allocation: {
          partition: 'gpu',
          nodes: 2,
          ntasksPerNode: 4,
          cpusPerTask: 2,
          time: '1-06:30:00',
          gpus: { type: 'l4', count: 2 },
        },
        run: ['true'],
      });
      new Job(s, 'short', { allocation: { partition: 'cpu', ntasks: 3 }, run: ['true'] });
    });
    const synth = Testing.synth(stack);
    expect(synth.resource('mpi', 'job').spec.request).toEqual({
      nodes: 2,
      cpus: 16,
      timeMinutes: 1830,
      gpus: { type: 'l4', count: 2 },
    });
    // No time of its own: the partition's limit, as SLURM applies it.
    expect(synth.resource('short', 'job').spec.request).toEqual({ nodes: 1, cpus: 3, timeMinutes: 360, gpus: null });
  });
});

describe('compute requested by a plan', () => {
  it('GIVEN a 96-point sweep with 84 points completed WHEN planned THEN only the 12 to submit count', () => {
    const plan = planOf(stackOf(bigSweep), {}, (_, i) => i >= 12);
    expect(plan.summary.submit).toBe(12);
    expect(plan.compute).toEqual({
      jobs: 12,
      nodeHours: 12,
      cpuHours: 96,
      gpuHours: 48,
      gpuHoursByType: { a100: 48 },
      unbounded: [],
    });
    const submitted = plan.resources.filter((r) => r.action === 'submit');
    expect(submitted.every((r) => r.compute?.gpuHours === 4)).toBe(true);
    expect(plan.resources.filter((r) => r.compute !== undefined)).toHaveLength(12);
    const view = renderPlan(plan, noColor);
    expect(view).toContain(
      'Plan: 0 to add, 0 to change, 0 to destroy; 12 jobs to submit, 0 to cancel.\nCompute requested: 12.0 node-hours, 96.0 CPU-hours, 48.0 GPU-hours (a100: 48.0)',
    );
  });

  it('GIVEN jobs on several GPU types WHEN planned THEN GPU-hours are given per type, untyped GPUs as any', () => {
    const plan = planOf(
      stackOf((s) => {
        new Job(s, 'big', {
          allocation: { partition: 'gpu', nodes: 2, time: '10:00:00', gpus: { type: 'a100', count: 4 } },
          run: ['true'],
        });
        new Job(s, 'small', {
          allocation: { partition: 'gpu', time: '00:30:00', gpus: { type: 'l4', count: 1 } },
          run: ['true'],
        });
        new Job(s, 'any', { allocation: { partition: 'gpu', time: '00:20:00', gpus: { count: 2 } }, run: ['true'] });
        new Job(s, 'cpu', { allocation: { partition: 'cpu', time: '02:00:00', cpusPerTask: 16 }, run: ['true'] });
      }),
    );
    expect(plan.compute.gpuHoursByType).toEqual({ a100: 80, any: 0.667, l4: 0.5 });
    expect(plan.compute.gpuHours).toBe(81.167);
    expect(plan.compute.cpuHours).toBe(20 + 0.5 + 0.333 + 32);
    expect(plan.resources.find((r) => r.address === 'cpu')!.compute).toEqual({
      nodeHours: 2,
      cpuHours: 32,
      gpuHours: 0,
      gpuHoursByType: {},
    });
  });

  it('GIVEN a job already submitted and one to replace WHEN planned THEN the replacement counts, the running one does not', () => {
    const stack = stackOf((s) => {
      new Job(s, 'done', { allocation: { partition: 'cpu', time: '01:00:00' }, run: ['true'] });
      new Job(s, 'again', { allocation: { partition: 'cpu', time: '03:00:00' }, run: ['true'] });
    });
    const plan = planOf(stack, { replace: ['again'] }, () => true);
    expect(plan.resources.map((r) => `${r.action} ${r.address}`)).toEqual(['submit again', 'no-op done']);
    expect(plan.compute).toMatchObject({ jobs: 1, nodeHours: 3 });
  });

  it('GIVEN a plan that submits nothing THEN there is no compute line', () => {
    const plan = planOf(stackOf(bigSweep), {}, () => true);
    expect(plan.compute.jobs).toBe(0);
    expect(renderPlan(plan, noColor)).not.toContain('Compute requested');
  });
});

describe('budgets', () => {
  it("GIVEN a stack's and a target's budget THEN each figure's tighter limit wins, naming who set it", () => {
    expect(
      budgetLimits([
        { budget: { gpuHours: 50 }, from: 'stack lab' },
        { budget: { gpuHours: 100, cpuHours: 10 }, from: 'target hpc' },
        { from: 'nobody' },
      ]),
    ).toEqual({ gpuHours: { limit: 50, from: 'stack lab' }, cpuHours: { limit: 10, from: 'target hpc' } });
    expect(
      budgetLimits([
        { budget: { gpuHours: 100 }, from: 'stack lab' },
        { budget: { gpuHours: 40 }, from: 'target hpc' },
      ]),
    ).toEqual({ gpuHours: { limit: 40, from: 'target hpc' } });
  });

  it('GIVEN submissions within the budget THEN nothing is exceeded', () => {
    const plan = planOf(
      stackOf(bigSweep),
      { budget: budgetLimits([{ budget: { gpuHours: 48 }, from: 'stack lab' }]) },
      (_, i) => i >= 12,
    );
    expect(plan.budget).toEqual({ limits: { gpuHours: { limit: 48, from: 'stack lab' } }, exceeded: [], top: [] });
    expect(overBudget(plan.budget)).toBe(false);
    expect(budgetReport(plan)).toBeUndefined();
  });

  it('GIVEN submissions over the budget THEN the overrun names the figures and the jobs requesting the most, sweeps as one', () => {
    const stack = stackOf((s) => {
      bigSweep(s);
      for (let i = 1; i <= 6; i += 1) {
        new Job(s, `job-${i}`, {
          allocation: { partition: 'gpu', time: `0${i}:00:00`, gpus: { type: 'l4', count: 1 } },
          run: ['true'],
        });
      }
    });
    const limits = budgetLimits([
      { budget: { gpuHours: 100 }, from: 'stack lab' },
      { budget: { gpuHours: 500, cpuHours: 1000 }, from: 'target hpc' },
    ]);
    const plan = planOf(stack, { budget: limits });
    expect(plan.compute.gpuHours).toBe(384 + 21);
    expect(plan.budget!.exceeded).toEqual([{ figure: 'gpuHours', requested: 405, limit: 100, from: 'stack lab' }]);
    expect(overBudget(plan.budget)).toBe(true);
    expect(plan.budget!.top).toHaveLength(TOP_CONSUMERS);
    expect(plan.budget!.top.map((c) => c.address)).toEqual(['ppo', 'job-6', 'job-5', 'job-4', 'job-3']);
    expect(plan.budget!.top[0]).toMatchObject({
      kind: 'sweep',
      points: 96,
      compute: { gpuHours: 384, cpuHours: 768, nodeHours: 96 },
    });
    expect(budgetReport(plan)).toBe(
      [
        'Stack lab on hpc requests more compute than its budget allows:',
        '  GPU-hours: 405.0 requested, over the budget of 100.0 (stack lab)',
        'The jobs requesting the most:',
        '  sweep ppo (96 points): 96.0 node-hours, 768.0 CPU-hours, 384.0 GPU-hours (a100: 384.0)',
        '  job-6: 6.0 node-hours, 6.0 CPU-hours, 6.0 GPU-hours (l4: 6.0)',
        '  job-5: 5.0 node-hours, 5.0 CPU-hours, 5.0 GPU-hours (l4: 5.0)',
        '  job-4: 4.0 node-hours, 4.0 CPU-hours, 4.0 GPU-hours (l4: 4.0)',
        '  job-3: 3.0 node-hours, 3.0 CPU-hours, 3.0 GPU-hours (l4: 3.0)',
      ].join('\n'),
    );
  });

  it('GIVEN --ignore-budget THEN the overrun is recorded but does not stop the plan, and the view warns', () => {
    const plan = planOf(stackOf(bigSweep), {
      budget: budgetLimits([{ budget: { cpuHours: 10 }, from: 'target hpc' }]),
      ignoreBudget: true,
    });
    expect(plan.budget).toMatchObject({ ignored: true, exceeded: [{ figure: 'cpuHours', requested: 768, limit: 10 }] });
    expect(overBudget(plan.budget)).toBe(false);
    expect(renderPlan(plan, noColor)).toContain(
      'Warning (--ignore-budget): Stack lab on hpc requests more compute than its budget allows:',
    );
  });

  it('GIVEN a job with no time limit anywhere THEN its hours are unbounded: over any CPU budget, but not over a GPU budget it asks no GPUs of', () => {
    const profile = new ClusterProfile('open', {
      scheduler: 'slurm',
      ssh: { host: 'open' },
      partitions: { any: { cpusPerNode: 8 } },
    });
    const stack = Testing.stack({ targets: [profile] }, 'lab');
    new Job(stack, 'forever', { run: ['true'] });
    const synthesis = synthesizeStack(stack, profile);
    const plan = computePlan(synthesis, targetWith(synthesis, []), {
      budget: budgetLimits([{ budget: { cpuHours: 1000, gpuHours: 1 }, from: 'stack lab' }]),
    });
    expect(plan.compute).toMatchObject({ jobs: 1, cpuHours: 0, unbounded: ['forever'] });
    expect(plan.budget!.exceeded).toEqual([{ figure: 'cpuHours', requested: null, limit: 1000, from: 'stack lab' }]);
    expect(plan.budget!.top).toEqual([
      {
        address: 'forever',
        kind: 'job',
        unbounded: true,
        compute: { nodeHours: 0, cpuHours: 0, gpuHours: 0, gpuHoursByType: {} },
      },
    ]);
    expect(renderPlan(plan, noColor)).toContain(
      'Compute requested: 0.0 node-hours, 0.0 CPU-hours; not counted: 1 job without a time limit (forever)',
    );
    expect(budgetReport(plan)).toContain(
      'CPU-hours: unbounded (a job without a time limit), over the budget of 1000.0 (stack lab)',
    );
    expect(budgetReport(plan)).toContain('  forever: no time limit, so unbounded (set allocation.time)');
  });

  it('GIVEN changes without a budget THEN the plan carries the figures and no budget', () => {
    const result = budgetPlan([], []);
    expect(result).toEqual({
      resources: [],
      compute: { jobs: 0, nodeHours: 0, cpuHours: 0, gpuHours: 0, gpuHoursByType: {}, unbounded: [] },
    });
  });
});

describe('budget props', () => {
  it('GIVEN a stack budget that is not a positive number WHEN synthesized THEN a validation error names the stack and field', () => {
    const stack = stackOf((s) => new Job(s, 'j', { allocation: { partition: 'cpu', time: '10' }, run: ['true'] }), {
      budget: { gpuHours: -1, cpuHours: 'lots' as unknown as number },
    });
    expect(() => Testing.synth(stack)).toThrow(ValidationError);
    expect(() => Testing.synth(stack)).toThrow('[lab] budget.gpuHours: must be a positive number (got -1)');
    expect(() => Testing.synth(stack)).toThrow('[lab] budget.cpuHours: must be a positive number (got "lots")');
  });

  it('GIVEN a profile budget that is not a positive number THEN the profile is refused with its target path', () => {
    expect(() => new ClusterProfile('big', { scheduler: 'local', budget: { gpuHours: 0 } })).toThrow(
      '[target:big] budget.gpuHours: must be a positive number (got 0)',
    );
    expect(() => new ClusterProfile('big', { scheduler: 'local', budget: { hours: 3 } as never })).toThrow(
      '[target:big] budget.hours: unknown field',
    );
  });

  it('GIVEN a profile extended with a budget THEN the budgets layer by field, and the manifest does not carry them', () => {
    const base = new ClusterProfile('base', { scheduler: 'local', budget: { gpuHours: 100, cpuHours: 50 } });
    const project = base.extend('project', { budget: { cpuHours: 20 } });
    expect(project.spec.budget).toEqual({ gpuHours: 100, cpuHours: 20 });
    expect(base.extend('same', {}).spec.budget).toEqual({ gpuHours: 100, cpuHours: 50 });
    expect(project.toManifest()).not.toHaveProperty('budget');
  });
});
