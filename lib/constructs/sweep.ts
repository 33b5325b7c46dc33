import type { Construct } from 'constructs';
import { z } from 'zod';
import type { ConstructOutput, ResourceDeclaration, SynthContext } from '../core/hpc-construct.js';
import { digestOf } from '../core/digest.js';
import type { ValidationIssue } from '../core/validation.js';
import { RuntimeRef, isEnvName } from '../shell/index.js';
import { ResourceKind } from '../core/resource-spec.js';
import { BatchWork, BatchWorkFields, type ScriptVariant } from './job.js';
import { LOGS_DIR } from '../state/layout.js';

/** Names a parameter may not take: they would shadow what the shell or the scheduler sets. */
const RESERVED = new Set([
  'PATH',
  'HOME',
  'USER',
  'SHELL',
  'PWD',
  'IFS',
  'LANG',
  'TMPDIR',
  'TERM',
  'HOSTNAME',
  'OLDPWD',
  'PS1',
  'PS4',
  'BASH_ENV',
  'ENV',
]);

const ParamName = z
  .string()
  .refine(isEnvName, 'must be a valid environment variable name (letters, digits, _)')
  .refine(
    (n) => !RESERVED.has(n) && !n.startsWith('SLURM_') && !n.startsWith('HPCDK_'),
    'is reserved (PATH, HOME, SLURM_*, HPCDK_* and the like)',
  );

const ParamValue = z.union([z.string(), z.number().finite(), z.boolean()]);
export type ParamValue = z.infer<typeof ParamValue>;

export const SweepPropsSchema = z
  .object({
    ...BatchWorkFields,
    /** Every combination of these values is a point: `{ lr: [1e-3, 1e-4], seed: [1, 2, 3] }` is six points. */
    grid: z.record(ParamName, z.array(ParamValue).min(1, 'a grid parameter needs at least one value')).default({}),
    /** Points listed one by one, added to the grid's. */
    points: z.array(z.record(ParamName, ParamValue)).default([]),
    /** At most this many array tasks run at once (`--array=…%N`). @default no limit */
    throttle: z.number().int().positive().optional(),
    /** Split the points into several arrays when there are more than the target's MaxArraySize. @default true */
    chunking: z.boolean().default(true),
  })
  .strict();

export type SweepProps = z.input<typeof SweepPropsSchema>;

/** One point of a sweep: its parameters, and a key that names it stably. */
export interface SweepPoint {
  readonly key: string;
  readonly params: Readonly<Record<string, ParamValue>>;
}

const PLAIN = /^[A-Za-z0-9._+-]+$/;

/** `lr=0.001,seed=1` when the values are plain, else a short hash: readable, and stable under reordering. */
export function pointKey(params: Readonly<Record<string, ParamValue>>): string {
  const names = Object.keys(params).sort();
  const parts = names.map((n) => `${n}=${String(params[n])}`);
  if (names.every((n) => PLAIN.test(String(params[n])))) return parts.join(',');
  return `p-${digestOf(params).slice(0, 12)}`;
}

function cartesian(grid: Readonly<Record<string, readonly ParamValue[]>>): Array<Record<string, ParamValue>> {
  let out: Array<Record<string, ParamValue>> = [{}];
  for (const name of Object.keys(grid).sort()) {
    out = out.flatMap((p) => grid[name]!.map((v) => ({ ...p, [name]: v })));
  }
  return Object.keys(grid).length === 0 ? [] : out;
}

/**
 * A parameter sweep: one batch script, run as SLURM job arrays over a grid
 * and/or a list of points. Each point is its own resource with its own
 * identity, so adding a point submits that point only, and a plan can say
 * "12 of 96 points to submit".
 */
export class Sweep extends BatchWork<typeof SweepPropsSchema> {
  public readonly kind = 'sweep';

  constructor(scope: Construct, id: string, props: SweepProps) {
    super(scope, id, SweepPropsSchema, props);
  }

  /** The points, in a stable order (by key). */
  public get points(): SweepPoint[] {
    const all = [...cartesian(this.props.grid), ...this.props.points];
    return all
      .map((params) => ({ key: pointKey(params), params }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /**
   * A parameter as the job sees it at run time, for the sweep's own `run`
   * (the sweep does not exist yet there): `Sweep.param('lr')` renders `"${lr}"`.
   */
  public static param(name: string): RuntimeRef {
    const ref = RuntimeRef.env(name);
    STATIC_PARAMS.add(ref);
    return ref;
  }

  /** A parameter of this sweep, as its jobs see it at run time; an unknown name is a validation error. */
  public param(name: string): RuntimeRef {
    const names = new Set([
      ...Object.keys(this.props.grid ?? {}),
      ...(this.props.points ?? []).flatMap((p) => Object.keys(p)),
    ]);
    if (!names.has(name))
      this.addIssue('param', `is not a parameter of this sweep (has: ${[...names].sort().join(', ') || 'none'})`, name);
    return RuntimeRef.env(isEnvName(name) ? name : 'INVALID_PARAM');
  }

  public override validateForTarget(ctx: SynthContext): ValidationIssue[] {
    const issues = super.validateForTarget(ctx);
    const points = this.points;
    // `Sweep.param(name)` in the sweep's own props must name one of its parameters, or every task fails unbound.
    const params = new Set(points.flatMap((p) => Object.keys(p.params)));
    for (const { field, name } of staticParamsIn(this.props))
      if (!params.has(name))
        issues.push(
          this.issue(
            field,
            `Sweep.param('${name}') is not a parameter of this sweep (has: ${[...params].sort().join(', ') || 'none'})`,
            name,
          ),
        );
    if (points.length === 0) issues.push(this.issue('grid', 'a sweep needs at least one point (a grid or points)'));
    const seen = new Map<string, number>();
    points.forEach((p, i) => {
      if (seen.has(p.key)) issues.push(this.issue(`points[${i}]`, `repeats point ${p.key}`, p.params));
      seen.set(p.key, i);
    });
    const max = ctx.target.spec.maxArraySize;
    if (!this.props.chunking && points.length > max) {
      issues.push(
        this.issue(
          'chunking',
          `${points.length} points make an array larger than ${ctx.target.name} allows (MaxArraySize ${max}); allow chunking or use fewer points`,
          false,
        ),
      );
    }
    const names = points.map((p) => Object.keys(p.params).sort().join(','));
    if (new Set(names).size > 1)
      issues.push(this.issue('points', 'every point must set the same parameters', [...new Set(names)]));
    return issues;
  }

  private variant(): ScriptVariant {
    return {
      stdout: this.props.stdout ?? `${LOGS_DIR}/${this.address}/%x-%A_%a.out`,
      stderr: this.props.stderr ?? `${LOGS_DIR}/${this.address}/%x-%A_%a.err`,
      preamble: [
        "# hpcdk: this array task's parameters, from the params file apply wrote for its chunk.",
        '# shellcheck source=/dev/null',
        'source "${HPCDK_PARAMS_FILE:?submitted by hpcdk apply}"',
      ],
      perTask: true,
    };
  }

  public synthesize(ctx: SynthContext): ConstructOutput {
    const allocation = this.allocationFor(ctx);
    const variant = this.variant();
    const script = this.renderScript(ctx, allocation, variant);
    const template = this.runInputs(ctx, allocation);
    const run = this.runSpec(ctx, allocation, variant, `${this.address}/sweep.sbatch`);
    const resources: ResourceDeclaration[] = this.points.map((p) => ({
      address: `${this.address}/${p.key}`,
      kind: ResourceKind.sweepPoint,
      inputs: { template, params: p.params },
      dependsOn: this.dependencyConstructs(),
      spec: { ...run, sweep: this.address, throttle: this.props.throttle ?? null, key: p.key, params: p.params },
    }));
    return { artifacts: [{ path: 'sweep.sbatch', kind: 'sbatch', content: script, executable: true }], resources };
  }
}

/** References made by the static `Sweep.param(name)`, so a sweep can check the names it is given. */
const STATIC_PARAMS = new WeakSet<RuntimeRef>();

/** Every `Sweep.param(…)` reference in `value` (props: arrays and plain objects), with its field path. */
function staticParamsIn(value: unknown, field = ''): Array<{ field: string; name: string }> {
  if (value instanceof RuntimeRef) return STATIC_PARAMS.has(value) ? [{ field, name: value.variable }] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => staticParamsIn(v, `${field}[${i}]`));
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return [];
  return Object.entries(value).flatMap(([k, v]) => staticParamsIn(v, field === '' ? k : `${field}.${k}`));
}
