import pc from 'picocolors';
import { describe, expect, it } from 'vitest';
import { ClusterProfile, Job, Sweep, Testing, ValidationError, type Stack } from '../../lib/index.js';
import {
  applyGates,
  evaluateGates,
  gateTargets,
  gateVerdict,
  newestJobs,
  unmetGates,
  type GateEvidence,
} from '../../lib/plan/gate.js';
import { gateReport } from '../../lib/ui/gate-view.js';
import { computePlan, type Plan } from '../../lib/plan/plan.js';
import type { ActualState } from '../../lib/plan/read-target.js';
import { renderPlan } from '../../lib/ui/plan-view.js';
import { foldJournal } from '../../lib/state/journal.js';
import { synthesizeStack, type StackSynthesis } from '../../lib/synth/synthesize.js';

const tier1 = new ClusterProfile('tier1-l4', { scheduler: 'slurm', ssh: { host: 'tier1' } });
const tier2 = new ClusterProfile('tier2-a100', { scheduler: 'slurm', ssh: { host: 'tier2' } });
const noColor = pc.createColors(false);

/** The experiment of seed 004: a training job and a sweep, both gated on tier 1 unless told otherwise. */
function experiment(
  command = 'python3 train.py',
  gate: { completedOn: string } | null = { completedOn: 'tier1-l4' },
): Stack {
  const stack = Testing.stack({ targets: [tier1, tier2] }, 'rsm');
  new Job(stack, 'train', { run: [command], ...(gate ? { gate } : {}) });
  new Sweep(stack, 'grid', { grid: { lr: [1, 2] }, run: [command], ...(gate ? { gate } : {}) });
  return stack;
}

interface RanJob {
  readonly address: string;
  readonly identity: string;
  readonly id: string;
  readonly state: string;
  readonly exitCode?: number;
}

/** A target as plan reads it: the synthesis's files deployed, and these jobs in its journal and queue. */
function targetState(synthesis: StackSynthesis, jobs: readonly RanJob[]): ActualState {
  const artifacts = synthesis.manifest.artifacts;
  const recorded = foldJournal(
    [
      ...artifacts.map((a) => `file ${a.path} ${a.sha256} 1`),
      ...jobs.map((j, i) => `job ${j.address} ${j.identity} ${j.id} ${i + 1}`),
    ].join('\n'),
  );
  return {
    files: new Map(artifacts.map((a) => [a.path, a.sha256])),
    contents: new Map(),
    recorded,
    jobs: new Map(
      jobs.map((j) => [
        j.id,
        { id: j.id, state: j.state, comment: '', ...(j.exitCode !== undefined ? { exitCode: j.exitCode } : {}) },
      ]),
    ),
    serial: recorded.serial,
    deployment: 'test',
    packageLocks: new Map(),
    refused: new Map(),
    buildPaths: new Map(),
  };
}

function identityOn(synthesis: StackSynthesis, address: string): string {
  return synthesis.manifest.resources.find((r) => r.address === address)!.identity;
}

/** Tier 1's evidence, with `jobs(synthesis)` run there. */
function onTier1(stack: Stack, jobs: (s: StackSynthesis) => RanJob[] = () => []): GateEvidence {
  const synthesis = synthesizeStack(stack, tier1);
  const actual = targetState(synthesis, jobs(synthesis));
  return { plan: computePlan(synthesis, actual), newest: newestJobs(actual) };
}

/** Tier 2's plan (nothing there yet, unless told) with its gates evaluated against `evidence`. */
function gatedOnTier2(stack: Stack, evidence: GateEvidence, jobs: (s: StackSynthesis) => RanJob[] = () => []): Plan {
  const synthesis = synthesizeStack(stack, tier2);
  return applyGates(
    computePlan(synthesis, targetState(synthesis, jobs(synthesis))),
    synthesis.manifest.resources,
    new Map([['tier1-l4', evidence]]),
  );
}

const gateOf = (plan: Plan, address: string) => plan.resources.find((r) => r.address === address)!.gate;

describe('the gate prop', () => {
  it('GIVEN a job and a sweep gated on tier 1 WHEN synthesized THEN tier 2 carries the gate per job and per point, tier 1 none, and no identity changes', () => {
    const gated = experiment();
    const plain = experiment('python3 train.py', null);
    expect(Testing.synth(plain, { target: 'tier2-a100' }).resource('train', 'job').spec.gate).toBeUndefined();
    const t2 = Testing.synth(gated, { target: 'tier2-a100' });
    expect(t2.resource('train', 'job').spec.gate).toEqual({ completedOn: 'tier1-l4' });
    expect(t2.resource('grid/lr=1', 'sweep-point').spec.gate).toEqual({ completedOn: 'tier1-l4' });
    expect(t2.resource('grid/lr=2', 'sweep-point').spec.gate).toEqual({ completedOn: 'tier1-l4' });
    // On the target it names, the job is the run the gate waits for.
    const t1 = Testing.synth(gated, { target: 'tier1-l4' });
    expect(t1.resource('train', 'job').spec.gate).toBeUndefined();
    expect(t1.resource('grid/lr=1', 'sweep-point').spec.gate).toBeUndefined();
    // Adding a gate resubmits nothing.
    for (const target of ['tier1-l4', 'tier2-a100']) {
      const before = Testing.synth(plain, { target }).resources.map((r) => [r.address, r.identity]);
      expect(Testing.synth(gated, { target }).resources.map((r) => [r.address, r.identity])).toEqual(before);
    }
  });

  it('GIVEN a gate naming a target the stack does not have WHEN synthesized THEN it is refused with the construct path, on every target', () => {
    const stack = experiment('true', { completedOn: 'tier3' });
    for (const target of ['tier1-l4', 'tier2-a100', 'local']) {
      let error: unknown;
      try {
        Testing.synth(stack, { target });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as Error).message).toContain(
        '[rsm/train] gate.completedOn: is not a target of stack rsm (has: tier1-l4, tier2-a100, local) (got "tier3")',
      );
      expect((error as Error).message).toContain('[rsm/grid] gate.completedOn: is not a target of stack rsm');
    }
  });

  it('GIVEN a gate with an unknown field or no target WHEN synthesized THEN zod names the field', () => {
    const stack = Testing.stack({ targets: [tier1, tier2] }, 'rsm');
    new Job(stack, 'a', {
      run: ['true'],
      gate: { completedOn: 'tier1-l4', after: 'x' } as unknown as { completedOn: string },
    });
    new Job(stack, 'b', { run: ['true'], gate: {} as unknown as { completedOn: string } });
    expect(() => Testing.synth(stack)).toThrow(
      /\[rsm\/a\] gate\.after: unknown field[\s\S]*\[rsm\/b\] gate\.completedOn: is required/,
    );
  });
});

describe('gate verdicts from tier 1 state', () => {
  it('GIVEN the job completed on tier 1 at its current identity WHEN tier 2 plans THEN the gate is met, naming the job', () => {
    const stack = experiment();
    const plan = gatedOnTier2(
      stack,
      onTier1(stack, (s) => [
        { address: 'train', identity: identityOn(s, 'train'), id: '123', state: 'COMPLETED', exitCode: 0 },
      ]),
    );
    expect(gateOf(plan, 'train')).toEqual({ target: 'tier1-l4', met: true, reason: 'completed on tier1-l4 (job 123)' });
    // The sweep's points never ran there.
    expect(gateOf(plan, 'grid/lr=1')).toEqual({
      target: 'tier1-l4',
      met: false,
      reason: 'never submitted on tier1-l4',
    });
    expect(unmetGates(plan).map((r) => r.address)).toEqual(['grid/lr=1', 'grid/lr=2']);
  });

  it('GIVEN tier 1 running, pending, failed or exhausted at the current identity WHEN tier 2 plans THEN the gate is not met and says which', () => {
    const stack = experiment();
    const jobs =
      (state: string, exitCode?: number, times = 1) =>
      (s: StackSynthesis) =>
        Array.from({ length: times }, (_, i) => ({
          address: 'train',
          identity: identityOn(s, 'train'),
          id: String(450 + i),
          state,
          ...(exitCode !== undefined ? { exitCode } : {}),
        }));
    expect(gateOf(gatedOnTier2(stack, onTier1(stack, jobs('RUNNING'))), 'train')).toEqual({
      target: 'tier1-l4',
      met: false,
      reason: 'running on tier1-l4 (job 450)',
    });
    expect(gateOf(gatedOnTier2(stack, onTier1(stack, jobs('PENDING'))), 'train')!.reason).toBe(
      'pending on tier1-l4 (job 450)',
    );
    expect(gateOf(gatedOnTier2(stack, onTier1(stack, jobs('FAILED', 1))), 'train')!.reason).toBe(
      'not completed on tier1-l4 (its job 450 there is FAILED (exit 1))',
    );
    expect(gateOf(gatedOnTier2(stack, onTier1(stack, jobs('FAILED', 1, 3))), 'train')!.reason).toBe(
      'failed on tier1-l4 (its job 452 there is FAILED (exit 1), no attempts left)',
    );
  });

  it('GIVEN tier 1 ran an older version (completed, or still running) WHEN tier 2 plans the new one THEN the gate is not met: not run at this content', () => {
    const old = experiment('python3 train.py --v1');
    const current = experiment('python3 train.py --v2');
    const oldIdentity = identityOn(synthesizeStack(old, tier1), 'train');
    const completed = gatedOnTier2(
      current,
      onTier1(current, () => [{ address: 'train', identity: oldIdentity, id: '456', state: 'COMPLETED', exitCode: 0 }]),
    );
    expect(gateOf(completed, 'train')).toEqual({
      target: 'tier1-l4',
      met: false,
      reason: 'not run on tier1-l4 at this content (its job 456 there is COMPLETED, of another version)',
    });
    const running = gatedOnTier2(
      current,
      onTier1(current, () => [{ address: 'train', identity: oldIdentity, id: '457', state: 'RUNNING' }]),
    );
    expect(gateOf(running, 'train')!.reason).toBe(
      'not run on tier1-l4 at this content (its job 457 there is RUNNING, of another version)',
    );
    const pending = gatedOnTier2(
      current,
      onTier1(current, () => [{ address: 'train', identity: oldIdentity, id: '458', state: 'PENDING' }]),
    );
    expect(gateOf(pending, 'train')!.reason).toBe(
      'not run on tier1-l4 at this content (its job 458 there is PENDING, of another version)',
    );
  });

  it('GIVEN the resource has no change on tier 1 WHEN judged THEN the gate is not met', () => {
    expect(gateVerdict('tier1-l4', undefined, undefined)).toEqual({
      met: false,
      reason: 'not in the stack on tier1-l4',
    });
  });
});

describe('which gates are evaluated', () => {
  it('GIVEN the gated job already completed on tier 2 WHEN tier 2 plans THEN its gate is not evaluated, tier 1 is not read, and nothing is held back', async () => {
    const stack = experiment();
    const synthesis = synthesizeStack(stack, tier2);
    const done = synthesis.manifest.resources.map((r, i) => ({
      address: r.address,
      identity: r.identity,
      id: String(10 + i),
      state: 'COMPLETED',
      exitCode: 0,
    }));
    const plan = computePlan(synthesis, targetState(synthesis, done));
    expect(gateTargets(plan, synthesis.manifest.resources)).toEqual([]);
    let reads = 0;
    const gated = await evaluateGates(plan, synthesis.manifest.resources, async () => {
      reads += 1;
      return onTier1(stack);
    });
    expect(reads).toBe(0);
    expect(gateOf(gated, 'train')).toEqual({
      target: 'tier1-l4',
      met: null,
      reason: 'not evaluated: nothing to submit on tier2-a100',
    });
    expect(unmetGates(gated)).toEqual([]);
    expect(gateReport(gated)).toBeUndefined();
  });

  it('GIVEN many gated submissions on one target WHEN evaluated THEN that target is read once', async () => {
    const stack = experiment();
    const synthesis = synthesizeStack(stack, tier2);
    const reads: string[] = [];
    const gated = await evaluateGates(
      computePlan(synthesis, targetState(synthesis, [])),
      synthesis.manifest.resources,
      async (target) => {
        reads.push(target);
        return onTier1(stack, (s) =>
          s.manifest.resources.map((r, i) => ({
            address: r.address,
            identity: r.identity,
            id: String(70 + i),
            state: 'COMPLETED',
            exitCode: 0,
          })),
        );
      },
    );
    expect(reads).toEqual(['tier1-l4']);
    expect(gated.resources.map((r) => r.gate?.met)).toEqual([true, true, true]);
  });

  it('GIVEN a stack without gates WHEN evaluated THEN the plan is returned as it was', async () => {
    const stack = experiment('true', null);
    const synthesis = synthesizeStack(stack, tier2);
    const plan = computePlan(synthesis, targetState(synthesis, []));
    expect(
      await evaluateGates(plan, synthesis.manifest.resources, async () => {
        throw new Error('not read');
      }),
    ).toBe(plan);
  });
});

describe('how gates are shown', () => {
  it('GIVEN met and unmet gates WHEN rendered THEN each job and sweep shows its gate, and the refusal names every held-back submission', () => {
    const stack = experiment();
    const plan = gatedOnTier2(
      stack,
      onTier1(stack, (s) => [
        { address: 'train', identity: identityOn(s, 'train'), id: '123', state: 'COMPLETED', exitCode: 0 },
        { address: 'grid/lr=1', identity: identityOn(s, 'grid/lr=1'), id: '124_0', state: 'FAILED', exitCode: 2 },
      ]),
    );
    const view = renderPlan(plan, noColor);
    expect(view).toContain(
      '  # train will be submitted (new)\n    > job "train"\n        gate: completed on tier1-l4 (job 123) ✓',
    );
    expect(view).toContain(
      '        > lr=1 (new) gate: not completed on tier1-l4 (its job 124_0 there is FAILED (exit 2)) ✗',
    );
    expect(view).toContain('        > lr=2 (new) gate: never submitted on tier1-l4 ✗');
    expect(view).toContain('        gate: 2 of 2 points not completed on tier1-l4 ✗');
    expect(gateReport(plan)).toBe(
      [
        'Stack rsm on tier2-a100 is gated: these submissions must first complete on another target.',
        '  sweep grid (2 points): lr=1: not completed on tier1-l4 (its job 124_0 there is FAILED (exit 2)); lr=2: never submitted on tier1-l4',
        'Apply the stack on tier1-l4 first (hpcdk apply rsm -t tier1-l4) and let it complete.',
      ].join('\n'),
    );
  });
});
