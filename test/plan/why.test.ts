import { describe, expect, it } from 'vitest';
import pc from 'picocolors';
import { ClusterProfile, Job, PythonEnv, Sweep, Testing, type Stack } from '../../lib/index.js';
import { computePlan } from '../../lib/plan/plan.js';
import type { ActualState } from '../../lib/plan/read-target.js';
import { renderPlan } from '../../lib/ui/plan-view.js';
import { foldJournal, inputsLine } from '../../lib/state/journal.js';
import { synthesizeStack, type StackSynthesis } from '../../lib/synth/synthesize.js';
import { buildOf } from '../../lib/core/resource-spec.js';

const cluster = new ClusterProfile('hpc', {
  scheduler: 'slurm',
  ssh: { host: 'hpc' },
  partitions: { cpu: { maxTime: '06:00:00' } },
});

/** The target as the last apply left it: `before` deployed, built and run to COMPLETED, with the journal lines apply writes. */
function appliedState(before: StackSynthesis): ActualState {
  const lines: string[] = before.manifest.artifacts.map((a) => `file ${a.path} ${a.sha256} 1`);
  let id = 100;
  const sweeps = new Set<string>();
  for (const r of before.manifest.resources) {
    if (buildOf(r)) lines.push(`built ${r.address} ${r.identity} 1`, `${inputsLine(r.address, r.inputs).join(' ')} 1`);
    if (r.kind === 'job')
      lines.push(`job ${r.address} ${r.identity} ${id++} 1`, `${inputsLine(r.address, r.inputs).join(' ')} 1`);
    if (r.kind === 'sweep-point') {
      lines.push(`job ${r.address} ${r.identity} ${id++} 1`);
      const sweep = String(r.spec.sweep);
      if (!sweeps.has(sweep)) lines.push(`${inputsLine(sweep, r.inputs, ['template']).join(' ')} 1`);
      sweeps.add(sweep);
    }
  }
  const recorded = foldJournal(lines.join('\n'));
  const jobs = new Map(
    [...recorded.jobs.values()].flat().map((j) => [j.id, { id: j.id, state: 'COMPLETED', comment: '', exitCode: 0 }]),
  );
  return {
    files: new Map(before.manifest.artifacts.map((a) => [a.path, a.sha256])),
    contents: new Map(),
    recorded,
    jobs,
    serial: recorded.serial,
    deployment: 'test',
    packageLocks: new Map(),
    refused: new Map(),
    buildPaths: new Map(),
  };
}

function stack(build: (s: Stack) => void): StackSynthesis {
  const s = Testing.stack({ targets: [cluster] }, 'lab');
  build(s);
  return synthesizeStack(s, cluster);
}

interface Knobs {
  readonly requirement: string;
  readonly command: string;
  readonly time: string;
  readonly template: string;
}

const base: Knobs = { requirement: 'numpy==1.26.4', command: 'python train.py', time: '01:00:00', template: 'echo' };

function lab(k: Knobs): StackSynthesis {
  return stack((s) => {
    const env = new PythonEnv(s, 'env', { requirements: [k.requirement] });
    new Job(s, 'train', { environment: env, allocation: { partition: 'cpu', time: k.time }, run: [k.command] });
    new Job(s, 'report', { allocation: { partition: 'cpu' }, run: ['echo report'] });
    new Sweep(s, 'grid', {
      grid: { lr: [1, 2] },
      allocation: { partition: 'cpu' },
      run: [[k.template, Sweep.param('lr')]],
    });
  });
}

const noColor = pc.createColors(false);

describe('plan says why a resource changes', () => {
  it('names the input that changed since the last apply', () => {
    // GIVEN a stack applied as it was
    const actual = appliedState(lab(base));
    // WHEN its command and its time limit change
    const plan = computePlan(lab({ ...base, command: 'python train.py --epochs 3', time: '02:00:00' }), actual);
    // THEN the job is resubmitted because of exactly those inputs, and nothing else is touched
    const train = plan.resources.find((r) => r.address === 'train')!;
    expect(train.action).toBe('submit');
    expect(train.changed).toEqual(['allocation', 'run']);
    expect(plan.resources.filter((r) => r.changed).map((r) => r.address)).toEqual(['train']);
    expect(renderPlan(plan, noColor)).toMatch(
      /# train will be submitted \(changed since job \d+ \(COMPLETED\)\) because allocation, run changed\n/,
    );
  });

  it("names a requirement change on the environment, and the environment as the job's changed dependency", () => {
    const actual = appliedState(lab(base));
    const plan = computePlan(lab({ ...base, requirement: 'numpy==2.0.0' }), actual);
    const env = plan.resources.find((r) => r.address === 'env')!;
    expect(env).toMatchObject({ action: 'update', build: true, changed: ['requirements'] });
    expect(plan.resources.find((r) => r.address === 'train')!.changed).toEqual(['env (dependency)']);
    expect(plan.resources.find((r) => r.address === 'report')!.changed).toBeUndefined();
    expect(renderPlan(plan, noColor)).toContain(
      '# env will be updated in place (changed: will be rebuilt) because requirements changed\n',
    );
  });

  it("names a sweep's job template once for all its points", () => {
    const actual = appliedState(lab(base));
    const plan = computePlan(lab({ ...base, template: 'printf' }), actual);
    const points = plan.resources.filter((r) => r.group === 'grid');
    expect(points.map((p) => [p.action, p.changed])).toEqual([
      ['submit', ['template']],
      ['submit', ['template']],
    ]);
    expect(renderPlan(plan, noColor)).toContain('# grid: 2 of 2 points will be submitted because template changed\n');
  });

  it('says nothing changed for a job resubmitted because it failed', () => {
    const synthesis = lab(base);
    const actual = appliedState(synthesis);
    const failed = {
      ...actual,
      jobs: new Map([...actual.jobs].map(([id, j]) => [id, { ...j, state: 'FAILED', exitCode: 1 }])),
    };
    const plan = computePlan(synthesis, failed);
    const train = plan.resources.find((r) => r.address === 'train')!;
    expect(train.action).toBe('submit');
    expect(train.changed).toBeUndefined();
  });
});
