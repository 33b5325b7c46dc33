import type { Construct } from 'constructs';
import { z } from 'zod';
import { HpcConstruct, type ConstructOutput, type SynthContext } from '../core/hpc-construct.js';
import type { ValidationIssue } from '../core/validation.js';
import { isJobRuntime, type JobRuntime } from '../core/runtime.js';
import { renderSbatch, type JobStep } from '../render/sbatch.js';
import { isEnvName } from '../shell/index.js';
import { AllocationSchema, memToMiB, timeToMinutes, type Allocation } from './allocation.js';
import { ShellValueSchema as shellValue } from './schemas.js';

/** How a job waits for another: SLURM's dependency types. */
export type DependencyType = 'afterok' | 'afterany' | 'afternotok';

export const JobPropsSchema = z
  .object({
    /**
     * What the job runs, in order. A string is a line of shell written as it
     * is (your code); an array is one command whose every word is quoted, the
     * safe way to pass paths and values.
     */
    run: z
      .array(z.union([z.string().min(1, 'a step must not be empty'), z.array(shellValue).min(1, 'a command needs at least one word')]))
      .min(1, 'a job needs at least one step'),
    /** What to ask the scheduler for. */
    allocation: AllocationSchema.default({ extra: {} }),
    /** Environment variables set before the steps run. Values are quoted; RuntimeRefs expand on the node. */
    env: z.record(z.string().refine(isEnvName, 'must be an environment variable name'), shellValue).default({}),
    /** The folder the steps run in. @default the job's folder in the deployed stack */
    workdir: shellValue.optional(),
    /** Where output goes, relative to the stack's folder on the target. `%x` is the job name, `%j` its id. @default `logs/<address>/%x-%j.out` */
    stdout: z.string().regex(/^[A-Za-z0-9_.%\/-]+$/, 'must be a relative path of plain characters').optional(),
    /** @default `logs/<address>/%x-%j.err` */
    stderr: z.string().regex(/^[A-Za-z0-9_.%\/-]+$/, 'must be a relative path of plain characters').optional(),
    /** How many times a failed job is submitted again before plan reports it failed. @default 3 */
    maxAttempts: z.number().int().min(1).default(3),
    /** A Python environment (or anything that prepares the job's shell) the steps run in. */
    environment: z.custom<JobRuntime>(isJobRuntime, { message: 'must be an environment construct' }).optional(),
    /** A container image the steps run inside. */
    image: z.custom<JobRuntime>(isJobRuntime, { message: 'must be an image construct' }).optional(),
  })
  .strict();

export type JobProps = z.input<typeof JobPropsSchema>;

/**
 * A batch job: commands, an allocation, an environment. Renders an sbatch
 * script; apply submits it once, and never again while it is unchanged.
 */
export class Job extends HpcConstruct<typeof JobPropsSchema> {
  public readonly kind = 'job';
  private readonly dependencies: Array<{ job: Job; type: DependencyType }> = [];

  constructor(scope: Construct, id: string, props: JobProps) {
    super(scope, id, JobPropsSchema, props);
  }

  /** Runs this job only after `job`: `afterok` (default) when it succeeded, `afterany` whatever happened, `afternotok` when it failed. */
  public dependsOn(job: Job, type: DependencyType = 'afterok'): this {
    if (job === this) this.addIssue('dependsOn', 'a job cannot depend on itself', this.address);
    this.dependencies.push({ job, type });
    return this;
  }

  /** The job name the scheduler shows: `<stack>.<address>` with `/` as `.`. */
  public get jobName(): string {
    return `${this.stack.stackName}.${this.address.replace(/\//g, '.')}`;
  }

  /** The allocation with the target's defaults filled in. */
  public allocationFor(ctx: SynthContext): Allocation {
    const a = this.props.allocation;
    const spec = ctx.target.spec;
    const partition = a.partition ?? spec.defaultPartition ?? (ctx.target.isLocal ? undefined : Object.keys(spec.partitions)[0]);
    const account = a.account ?? spec.account;
    return { ...a, ...(partition ? { partition } : {}), ...(account ? { account } : {}) };
  }

  public override validateForTarget(ctx: SynthContext): ValidationIssue[] {
    // The local target is permissive: every stack can be tried on a laptop.
    if (ctx.target.isLocal) return [];
    const issues: ValidationIssue[] = [];
    const a = this.allocationFor(ctx);
    const partitions = ctx.target.spec.partitions;
    if (Object.keys(partitions).length === 0 || a.partition === undefined) return issues;
    const p = partitions[a.partition];
    if (!p) {
      issues.push(this.issue('allocation.partition', `target ${ctx.target.name} has no such partition (has: ${Object.keys(partitions).join(', ')})`, a.partition));
      return issues;
    }
    if (a.time && p.maxTime && timeToMinutes(a.time) > timeToMinutes(p.maxTime)) {
      issues.push(this.issue('allocation.time', `exceeds partition ${a.partition}'s limit of ${p.maxTime} on ${ctx.target.name}`, a.time));
    }
    if (a.gpus) {
      const offered = p.gpus ?? {};
      if (a.gpus.type !== undefined && !(a.gpus.type in offered)) {
        issues.push(this.issue('allocation.gpus.type', `partition ${a.partition} on ${ctx.target.name} has no GPUs of this type (has: ${Object.keys(offered).join(', ') || 'none'})`, a.gpus.type));
      } else {
        const max = a.gpus.type !== undefined ? offered[a.gpus.type]! : Object.values(offered).reduce((x, y) => Math.max(x, y), 0);
        if (a.gpus.count > max) issues.push(this.issue('allocation.gpus.count', `partition ${a.partition} nodes have at most ${max}`, a.gpus.count));
      }
    }
    if (a.mem && p.memPerNode && memToMiB(a.mem) > memToMiB(p.memPerNode)) {
      issues.push(this.issue('allocation.mem', `more than a node of partition ${a.partition} has (${p.memPerNode})`, a.mem));
    }
    const cpus = (a.cpusPerTask ?? 1) * (a.ntasksPerNode ?? 1);
    if (p.cpusPerNode && cpus > p.cpusPerNode) {
      issues.push(this.issue('allocation.cpusPerTask', `asks ${cpus} CPUs per node; partition ${a.partition} nodes have ${p.cpusPerNode}`, a.cpusPerTask));
    }
    return issues;
  }

  public synthesize(ctx: SynthContext): ConstructOutput {
    const allocation = this.allocationFor(ctx);
    const shape = { nodes: allocation.nodes ?? 1, address: this.address };
    const runtimes = [this.props.environment, this.props.image].filter((r): r is JobRuntime => r !== undefined);
    const prologue = runtimes.flatMap((r) => r.jobPrologue(ctx, shape));
    const image = this.props.image;
    const stdout = this.props.stdout ?? `logs/${this.address}/%x-%j.out`;
    const stderr = this.props.stderr ?? `logs/${this.address}/%x-%j.err`;
    const script = renderSbatch({
      jobName: this.jobName,
      allocation,
      stdout,
      stderr,
      env: Object.entries(this.props.env).sort(([x], [y]) => (x < y ? -1 : 1)),
      workdir: this.props.workdir,
      prologue,
      steps: this.props.run as JobStep[],
      ...(image?.wrapStep ? { wrapStep: (step: string) => image.wrapStep!(ctx, step, shape) } : {}),
      header: [`${this.node.path} on target ${ctx.target.name}`, 'Rendered by hpcdk; edit the stack, not this file.'],
    });
    const dependencies = this.dependencies.map((d) => ({ address: d.job.address, type: d.type }));
    return {
      artifacts: [{ path: 'job.sbatch', kind: 'sbatch', content: script, executable: true }],
      resources: [
        {
          kind: this.kind,
          inputs: { allocation, run: this.props.run, env: this.props.env, workdir: this.props.workdir ?? null, dependencies },
          dependsOn: [...this.dependencies.map((d) => d.job), ...runtimes.filter((r): r is JobRuntime & HpcConstruct => HpcConstruct.isHpcConstruct(r))],
          spec: {
            script: `${this.address}/job.sbatch`,
            jobName: this.jobName,
            stdout,
            stderr,
            dependencies,
            maxAttempts: this.props.maxAttempts,
          },
        },
      ],
    };
  }
}
