import type { Construct } from 'constructs';
import { z } from 'zod';
import { HpcConstruct, type ConstructOutput, type SynthContext } from '../core/hpc-construct.js';
import { STACK_DIR, isJobRuntime, type JobRuntime } from '../core/runtime.js';
import type { StageOutSpec } from '../render/stage-out.js';
import type { ValidationIssue } from '../core/validation.js';
import { renderSbatch, type CheckpointSpec, type JobStep } from '../render/sbatch.js';
import { RuntimeRef, isEnvName, word } from '../shell/index.js';
import {
  AllocationSchema,
  allocationOnTarget,
  memToMiB,
  resourceRequest,
  timeToMinutes,
  type Allocation,
} from '../core/allocation.js';
import { ResourceKind, type GateSpec, type RunSpec } from '../core/resource-spec.js';
import { Secret } from '../core/secret.js';
import { CodeBundle } from './code-bundle.js';
import { Dataset } from './dataset.js';
import { ShellValueSchema as shellValue } from './schemas.js';
import { LOGS_DIR } from '../state/layout.js';

/** How a job waits for another: SLURM's dependency types. */
export type DependencyType = 'afterok' | 'afterany' | 'afternotok';

/** Variables that name node-local scratch in job scripts (the target's own name is checked per target). */
const SCRATCH_VARIABLES = new Set(['HPCDK_SCRATCH', 'SLURM_TMPDIR', 'TMPDIR']);

const LOG_PATH = z.string().regex(/^[A-Za-z0-9_.%/-]+$/, 'must be a relative path of plain characters');

/** One output: a node-local folder, and the persistent folder it is copied to. */
const OutputSchema = z
  .object({
    /** The node-local folder: a RuntimeRef under scratch, e.g. `Scratch.path('job_output')`. */
    from: z.custom<RuntimeRef>((x) => x instanceof RuntimeRef && SCRATCH_VARIABLES.has(x.variable), {
      message: "must be a path under node-local scratch: Scratch.path('…')",
    }),
    /** Where it is kept: an absolute path, a RuntimeRef such as `RuntimeRef.env('HOME').join('results')`, or a path relative to the stack's folder. */
    to: shellValue,
    /** Also copy it in the background every N minutes while the job runs, never blocking the steps (checkpoints). */
    everyMinutes: z.number().int().positive().optional(),
    /** Keep only the newest N entries of the folder, at the destination and on scratch (old checkpoints). */
    keep: z.number().int().min(1, 'must keep at least 1').optional(),
    /** Give the steps the newest entry at the destination in this variable when the job starts: where a requeued or resumed run picks up. */
    resumeVar: z.string().refine(isEnvName, 'must be an environment variable name').optional(),
  })
  .strict();

/** The fields every batch job has, whether it runs once (Job) or per point (Sweep). */
export const BatchWorkFields = {
  /**
   * What the job runs, in order. A string is a line of shell written as it
   * is (your code); an array is one command whose every word is quoted, the
   * safe way to pass paths and values.
   */
  run: z
    .array(
      z.union([
        z.string().min(1, 'a step must not be empty'),
        z.array(shellValue).min(1, 'a command needs at least one word'),
      ]),
    )
    .min(1, 'a job needs at least one step'),
  /** What to ask the scheduler for. */
  allocation: AllocationSchema.default({ extra: {} }),
  /** Environment variables set before the steps run. Values are quoted; RuntimeRefs expand on the node. */
  env: z
    .record(
      z.string().refine(isEnvName, 'must be an environment variable name'),
      z.union([
        shellValue,
        z.custom<Secret>(Secret.isSecret, { message: 'must be a string, a RuntimeRef or a Secret' }),
      ]),
    )
    .default({}),
  /**
   * Caches to keep on node-local disk, e.g. `{ HF_HOME: '.cache/huggingface' }`:
   * each variable is set to that path under the target's scratch variable.
   */
  caches: z
    .record(
      z.string().refine(isEnvName, 'must be an environment variable name'),
      z.string().regex(/^[A-Za-z0-9_./-]+$/, 'must be a relative path of plain characters'),
    )
    .default({}),
  /** The folder the steps run in. @default the stack's folder on the target */
  workdir: shellValue.optional(),
  /** Where output goes, relative to the stack's folder on the target. @default `logs/<address>/%x-%j.out` (`%x-%A_%a` for sweeps) */
  stdout: LOG_PATH.optional(),
  /** @default like stdout, with `.err` */
  stderr: LOG_PATH.optional(),
  /** How many times a failed job is submitted again before plan reports it failed. @default 3 */
  maxAttempts: z.number().int().min(1).default(3),
  /** A Python environment (or anything that prepares the job's shell) the steps run in. */
  environment: z.custom<JobRuntime>(isJobRuntime, { message: 'must be an environment construct' }).optional(),
  /** A container image the steps run inside. */
  image: z.custom<JobRuntime>(isJobRuntime, { message: 'must be an image construct' }).optional(),
  /**
   * Checkpoint and requeue: SLURM signals the batch shell `secondsBefore` the
   * time limit (`--signal=B:USR2@N`); the hook runs, then the job requeues
   * itself (`--requeue`). `HPCDK_RESTART_COUNT` tells the steps how often.
   */
  checkpoint: z
    .object({
      /** Shell run when the signal arrives, e.g. `kill -USR1 "$HPCDK_STEP_PID"` to ask the training to save. */
      hook: z.string().min(1),
      /** @default 300 */
      secondsBefore: z.number().int().positive().default(300),
      /** @default 'USR2' */
      signal: z.enum(['USR1', 'USR2', 'TERM', 'INT']).default('USR2'),
      /** Requeue after the hook. @default true */
      requeue: z.boolean().default(true),
    })
    .strict()
    .optional(),
  /** The code the job runs: a bundle of committed files. Jobs see HPCDK_CODE_DIR and HPCDK_CODE_COMMIT. */
  code: z.custom<CodeBundle>((x) => x instanceof CodeBundle, { message: 'must be a CodeBundle' }).optional(),
  /** Datasets to stage to node-local disk before the steps run (once per node). */
  stage: z.array(z.custom<Dataset>((x) => x instanceof Dataset, { message: 'must be a Dataset' })).default([]),
  /**
   * Write the packages each run uses next to its logs (`logs/<address>/frozen/<job id>.txt`), as
   * provenance: the environment's own freeze command, else `python3 -m pip freeze`.
   * @default true when the job has an environment, else false
   */
  freeze: z.boolean().optional(),
  /**
   * Outputs written to node-local scratch and where they are kept (such as
   * `$SLURM_TMPDIR/job_output`, or checkpoints). Each is copied back
   * with rsync when the job ends, whether it succeeded or not, and when the
   * warning signal arrives before the time limit; a copy that fails fails the
   * job, naming what was not copied. A sweep's tasks each copy into a folder
   * of their own below `to`, named after their point.
   */
  outputs: z.array(OutputSchema).default([]),
  /**
   * Submit only after the same construct, at the same code and environment content, ran to
   * COMPLETED on that target. Plan and apply on the stack's
   * other declared targets refuse until it has; on the named target itself, and on targets the
   * stack is only tried on (`-t local`, a shared profile), the gate does nothing.
   * Not part of the identity: adding a gate submits nothing again.
   */
  gate: z
    .object({
      /** The target's name: one of the stack's targets, or `local`. */
      completedOn: z.string(),
    })
    .strict()
    .optional(),
  /** Run one at a time among jobs of the same name and user (`--dependency=singleton`). @default false */
  singleton: z.boolean().default(false),
  /** What the work needs of the hardware, checked against the target's partition. */
  requires: z
    .object({
      /** GPU memory per GPU, in GB. */
      gpuMemoryGb: z.number().positive().optional(),
    })
    .strict()
    .default({}),
};

export const JobPropsSchema = z.object(BatchWorkFields).strict();

export type JobProps = z.input<typeof JobPropsSchema>;
type BatchWorkProps = z.output<typeof JobPropsSchema>;

/** What differs between a job's script and a sweep's. */
export interface ScriptVariant {
  readonly stdout: string;
  readonly stderr: string;
  /** Extra lines before the environment's prologue (a sweep loads its point's parameters). */
  readonly preamble: readonly string[];
  /** Array tasks: each copies its outputs into a folder of its own. */
  readonly perTask?: boolean;
}

/**
 * The common ground of Job and Sweep: an allocation checked against the
 * target, dependencies, and one rendered batch script.
 */
export abstract class BatchWork<
  S extends z.ZodType<BatchWorkProps, unknown> = z.ZodType<BatchWorkProps, unknown>,
> extends HpcConstruct<S> {
  private readonly dependencies: Array<{ job: BatchWork; type: DependencyType }> = [];

  /** Runs this only after `job`: `afterok` (default) when it succeeded, `afterany` whatever happened, `afternotok` when it failed. */
  public dependsOn(job: BatchWork, type: DependencyType = 'afterok'): this {
    if (job === (this as BatchWork)) this.addIssue('dependsOn', 'a job cannot depend on itself', this.address);
    this.dependencies.push({ job, type });
    return this;
  }

  /** The job name the scheduler shows: `<stack>.<address>` with `/` as `.`. */
  public get jobName(): string {
    return `${this.stack.stackName}.${this.address.replace(/\//g, '.')}`;
  }

  protected get work(): BatchWorkProps {
    return this.props as BatchWorkProps;
  }

  /** The allocation with the target's defaults filled in. */
  public allocationFor(ctx: SynthContext): Allocation {
    return allocationOnTarget(ctx.target, this.work.allocation);
  }

  /** Destinations that would be deleted with the job's scratch: on every target. */
  private outputIssues(ctx: SynthContext): ValidationIssue[] {
    const scratch = new Set([...SCRATCH_VARIABLES, ctx.target.spec.scratchVar]);
    return this.work.outputs.flatMap((o, i) => {
      const to = o.to;
      const variable = to instanceof RuntimeRef ? to.variable : /^\$\{?([A-Za-z_][A-Za-z0-9_]*)/.exec(to)?.[1];
      return variable !== undefined && scratch.has(variable)
        ? [
            this.issue(
              `outputs[${i}].to`,
              'is inside node-local scratch, which is deleted when the job ends: name a persistent folder',
              String(to),
            ),
          ]
        : [];
    });
  }

  /** A gate must name a target the stack can be deployed to. */
  private gateIssues(): ValidationIssue[] {
    const on = this.work.gate?.completedOn;
    if (on === undefined || this.stack.target(on)) return [];
    const names = [...new Set([...this.stack.targets.map((t) => t.name), 'local'])];
    return [
      this.issue('gate.completedOn', `is not a target of stack ${this.stack.stackName} (has: ${names.join(', ')})`, on),
    ];
  }

  /**
   * The gate as the resource spec carries it: on the stack's other declared
   * targets (the promotion it guards). None on the target it names, where the
   * run it waits for happens, and none on a target the stack is only tried on
   * (`-t local`, a shared profile): that is not a promotion.
   */
  protected gateSpec(ctx: SynthContext): { gate?: GateSpec } {
    const on = this.work.gate?.completedOn;
    const declared = this.stack.targets.some((t) => t.name === ctx.target.name);
    return on === undefined || on === ctx.target.name || !declared ? {} : { gate: { completedOn: on } };
  }

  public override validateForTarget(ctx: SynthContext): ValidationIssue[] {
    const outputIssues = [...this.outputIssues(ctx), ...this.gateIssues()];
    // The local target is permissive: every stack can be tried on a laptop.
    if (ctx.target.isLocal) return outputIssues;
    const issues: ValidationIssue[] = [...outputIssues];
    const a = this.allocationFor(ctx);
    const partitions = ctx.target.spec.partitions;
    if (Object.keys(partitions).length === 0 || a.partition === undefined) return issues;
    const p = partitions[a.partition];
    const on = `on ${ctx.target.name}`;
    if (!p) {
      issues.push(
        this.issue(
          'allocation.partition',
          `target ${ctx.target.name} has no such partition (has: ${Object.keys(partitions).join(', ')})`,
          a.partition,
        ),
      );
      return issues;
    }
    if (a.time && p.maxTime && timeToMinutes(a.time) > timeToMinutes(p.maxTime)) {
      issues.push(
        this.issue('allocation.time', `exceeds partition ${a.partition}'s limit of ${p.maxTime} ${on}`, a.time),
      );
    }
    if (a.gpus) {
      const offered = p.gpus ?? {};
      if (a.gpus.type !== undefined && !(a.gpus.type in offered)) {
        issues.push(
          this.issue(
            'allocation.gpus.type',
            `partition ${a.partition} ${on} has no GPUs of this type (has: ${Object.keys(offered).join(', ') || 'none'})`,
            a.gpus.type,
          ),
        );
      } else {
        const max =
          a.gpus.type !== undefined
            ? offered[a.gpus.type]!
            : Object.values(offered).reduce((x, y) => Math.max(x, y), 0);
        if (a.gpus.count > max)
          issues.push(
            this.issue(
              'allocation.gpus.count',
              `partition ${a.partition} nodes ${on} have at most ${max}`,
              a.gpus.count,
            ),
          );
      }
      const need = this.work.requires.gpuMemoryGb;
      if (need !== undefined) {
        const types = a.gpus.type !== undefined ? [a.gpus.type] : Object.keys(offered);
        for (const type of types) {
          const has = p.gpuMemoryGb?.[type];
          if (has !== undefined && has < need) {
            issues.push(
              this.issue(
                'requires.gpuMemoryGb',
                `needs ${need} GB of GPU memory; ${type} on partition ${a.partition} ${on} has ${has} GB`,
                need,
              ),
            );
          }
        }
      }
    }
    if (a.mem && p.memPerNode && memToMiB(a.mem) > memToMiB(p.memPerNode)) {
      issues.push(
        this.issue('allocation.mem', `more than a node of partition ${a.partition} ${on} has (${p.memPerNode})`, a.mem),
      );
    }
    const cpus = (a.cpusPerTask ?? 1) * (a.ntasksPerNode ?? 1);
    if (p.cpusPerNode && cpus > p.cpusPerNode) {
      issues.push(
        this.issue(
          'allocation.cpusPerTask',
          `asks ${cpus} CPUs per node; partition ${a.partition} nodes ${on} have ${p.cpusPerNode}`,
          a.cpusPerTask,
        ),
      );
    }
    return issues;
  }

  /** What prepares the job's node: datasets staged first, then the environment and image. */
  protected runtimes(): JobRuntime[] {
    return [this.work.code, ...this.work.stage, this.work.environment, this.work.image].filter(
      (r): r is JobRuntime => r !== undefined,
    );
  }

  /** What the resource depends on: jobs it waits for, and the runtimes it runs in. */
  protected dependencyConstructs(): HpcConstruct[] {
    return [
      ...this.dependencies.map((d) => d.job),
      ...this.runtimes().filter((r): r is JobRuntime & HpcConstruct => HpcConstruct.isHpcConstruct(r)),
    ];
  }

  /** Scheduler dependencies, by address, for apply to resolve to job ids. */
  protected schedulerDependencies(): Array<{ address: string; type: DependencyType }> {
    return this.dependencies.map((d) => ({ address: d.job.address, type: d.type }));
  }

  /** The outputs with relative destinations made absolute: below the stack's folder, wherever the steps cd to. */
  private outputsOnTarget(): StageOutSpec[] {
    return this.work.outputs.map((o) => ({
      ...o,
      to: typeof o.to === 'string' && !o.to.startsWith('/') ? STACK_DIR.join(o.to) : o.to,
    }));
  }

  /** Renders the batch script. */
  protected renderScript(ctx: SynthContext, allocation: Allocation, variant: ScriptVariant): string {
    const work = this.work;
    const scratch = RuntimeRef.env(ctx.target.spec.scratchVar);
    const caches = Object.entries(work.caches)
      .sort(([x], [y]) => (x < y ? -1 : 1))
      .map(([name, path]) => [name, scratch.join(path)] as const);
    const env = [
      ...Object.entries({ ...ctx.target.spec.env, ...work.env }).sort(([x], [y]) => (x < y ? -1 : 1)),
      ...caches,
    ];
    const shape = {
      nodes: allocation.nodes ?? 1,
      address: this.address,
      gpus: allocation.gpus?.count ?? 0,
      envNames: env.map(([name]) => name).sort(),
    };
    const image = work.image;
    const checkpoint: CheckpointSpec | undefined = work.checkpoint;
    return renderSbatch({
      jobName: this.jobName,
      allocation,
      stdout: variant.stdout,
      stderr: variant.stderr,
      env,
      workdir: work.workdir,
      prologue: [...variant.preamble, ...this.runtimes().flatMap((r) => r.jobPrologue(ctx, shape))],
      steps: work.run as JobStep[],
      ...(image?.wrapStep ? { wrapStep: (step: string) => image.wrapStep!(ctx, step, shape) } : {}),
      ...(checkpoint ? { checkpoint } : {}),
      freeze:
        (work.freeze ?? work.environment !== undefined)
          ? {
              dir: `${LOGS_DIR}/${this.address}/frozen`,
              command: work.environment?.freezeCommand ?? 'python3 -m pip freeze',
            }
          : undefined,
      singleton: work.singleton,
      scratchVar: ctx.target.spec.scratchVar,
      outputs: this.outputsOnTarget(),
      perTask: variant.perTask === true,
      run: {
        stack: this.stack.stackName,
        address: this.address,
        ...(work.environment && HpcConstruct.isHpcConstruct(work.environment)
          ? { environment: work.environment.address }
          : {}),
        ...(work.image && HpcConstruct.isHpcConstruct(work.image) ? { image: work.image.address } : {}),
      },
      header: [`${this.node.path} on target ${ctx.target.name}`, 'Rendered by hpcdk; edit the stack, not this file.'],
    });
  }

  /** The resource spec apply needs for any batch work. */
  protected runSpec(ctx: SynthContext, allocation: Allocation, variant: ScriptVariant, script: string): RunSpec {
    return {
      script,
      jobName: this.jobName,
      stdout: variant.stdout,
      stderr: variant.stderr,
      dependencies: this.schedulerDependencies(),
      maxAttempts: this.work.maxAttempts,
      singleton: this.work.singleton,
      // Names only: apply reads the values from its own environment and uploads them.
      secrets: Object.values(this.work.env)
        .filter(Secret.isSecret)
        .filter((x) => x.source === 'env')
        .map((x) => x.name)
        .sort(),
      // Where the outputs are kept, as the target's shell writes the path (hpcdk pull fetches them).
      outputs: this.outputsOnTarget().map((o) => ({ to: word(o.to), perTask: variant.perTask === true })),
      request: resourceRequest(allocation, ctx.target.spec.partitions),
      // Gated on a run on the gate's target (each sweep point on its own).
      ...this.gateSpec(ctx),
    };
  }

  /** The inputs every batch resource's identity is made of, besides its files. */
  protected runInputs(ctx: SynthContext, allocation: Allocation): Record<string, unknown> {
    const w = this.work;
    return {
      allocation,
      run: w.run,
      env: w.env,
      targetEnv: ctx.target.spec.env,
      caches: w.caches,
      workdir: w.workdir ?? null,
      checkpoint: w.checkpoint ?? null,
      outputs: w.outputs,
      dependencies: this.schedulerDependencies(),
    };
  }
}

/**
 * A batch job: commands, an allocation, an environment. Renders an sbatch
 * script; apply submits it once, and never again while it is unchanged.
 */
export class Job extends BatchWork<typeof JobPropsSchema> {
  public readonly kind = ResourceKind.job;

  constructor(scope: Construct, id: string, props: JobProps) {
    super(scope, id, JobPropsSchema, props);
  }

  private variant(): ScriptVariant {
    return {
      stdout: this.work.stdout ?? `${LOGS_DIR}/${this.address}/%x-%j.out`,
      stderr: this.work.stderr ?? `${LOGS_DIR}/${this.address}/%x-%j.err`,
      preamble: [],
    };
  }

  public synthesize(ctx: SynthContext): ConstructOutput {
    const allocation = this.allocationFor(ctx);
    const variant = this.variant();
    return {
      artifacts: [
        { path: 'job.sbatch', kind: 'sbatch', content: this.renderScript(ctx, allocation, variant), executable: true },
      ],
      resources: [
        {
          kind: this.kind,
          inputs: this.runInputs(ctx, allocation),
          dependsOn: this.dependencyConstructs(),
          spec: this.runSpec(ctx, allocation, variant, `${this.address}/job.sbatch`),
        },
      ],
    };
  }
}
