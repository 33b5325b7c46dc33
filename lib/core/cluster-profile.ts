import { z } from 'zod';
import { announceProfile } from './registry.js';
import { AllocationSchema } from './allocation.js';
import { ValidationError, issuesFromZod, rawPropIssues } from './validation.js';

/** The built-in target that needs no cluster: local processes instead of SSH and SLURM. */
export const LOCAL_TARGET = 'local';

const NAME = /^[a-z0-9][a-z0-9_-]*$/;

/** How hpcdk reaches a target over SSH. Host is an alias from ~/.ssh/config or a host name. */
export const SshConnectionSchema = z
  .object({
    /** A Host alias from ~/.ssh/config, or a host name. */
    host: z
      .string()
      .min(1, 'must not be empty')
      .regex(/^[^\s'"`$;&|<>]+$/, 'must be a host alias or name, without spaces or shell characters')
      // ssh would read a leading dash as an option (`-oProxyCommand=…`).
      .regex(/^[^-]/, 'must be a host alias or name, not starting with -'),
    /** @default taken from ~/.ssh/config, else the local user */
    user: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/, 'must be a user name')
      .optional(),
    /** @default taken from ~/.ssh/config, else 22 */
    port: z.number().int().min(1).max(65535).optional(),
    /** A jump host, as in ProxyJump. */
    proxyJump: z.string().min(1).optional(),
  })
  .strict();

export const PartitionSchema = z
  .object({
    /** The longest time a job may ask for, as SLURM writes it: `D-HH:MM:SS`, `HH:MM:SS` or minutes. */
    maxTime: z.string().optional(),
    /** GPU types and how many of each a node has, e.g. `{ a100: 4 }`. */
    gpus: z
      .record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'must be a GPU type name'), z.number().int().positive())
      .optional(),
    /** Memory per node, e.g. `512G`. */
    memPerNode: z
      .string()
      .regex(/^\d+[KMGT]?$/, 'must be a SLURM memory size such as 64G')
      .optional(),
    cpusPerNode: z.number().int().positive().optional(),
    /** GPU memory per GPU type, in GB, for "does the model fit" checks. */
    gpuMemoryGb: z.record(z.string(), z.number().positive()).optional(),
  })
  .strict();

/** The allocation fields a profile may default, validated as in a job's allocation: they become `#SBATCH` lines too. */
const JobDefaultsSchema = AllocationSchema.pick({
  account: true,
  partition: true,
  time: true,
  nodes: true,
  cpusPerTask: true,
  mem: true,
  gpus: true,
  qos: true,
  constraint: true,
});

const positiveHours = z.number({ error: 'must be a positive number' }).positive('must be a positive number');

/** The most compute one plan may request (over what it submits), in hours. Exceeding it stops plan and apply. */
export const BudgetSchema = z
  .object({
    gpuHours: positiveHours.optional(),
    cpuHours: positiveHours.optional(),
    nodeHours: positiveHours.optional(),
  })
  .strict();

export type Budget = z.output<typeof BudgetSchema>;

export const ClusterProfileSchema = z
  .object({
    /** `slurm` (over SSH) or `local` (processes on this machine). */
    scheduler: z.enum(['slurm', 'local']),
    /** Required for `slurm`. */
    ssh: SshConnectionSchema.optional(),
    /**
     * Where hpcdk keeps deployed files and state on the target.
     * @default `~/.hpcdk` on SSH targets, `.hpcdk/local` in the project for `local`
     */
    basePath: z.string().min(1).optional(),
    /** The partitions jobs may use, with their limits. */
    partitions: z.record(z.string().regex(NAME, 'must be a partition name'), PartitionSchema).default({}),
    /** @default the first partition */
    defaultPartition: z.string().optional(),
    /** The account jobs are charged to unless a job says otherwise. */
    account: AllocationSchema.shape.account,
    /** Largest array index + 1 the scheduler accepts; larger sweeps are split into chunks. @default 1001 */
    maxArraySize: z.number().int().positive().default(1001),
    /** The module system, if any. */
    modules: z.enum(['lmod', 'environment-modules', 'none']).default('none'),
    /** Files a batch script sources before `module` or `conda activate` work. */
    shellInit: z.array(z.string().min(1)).default([]),
    /** The node-local scratch variable: `SLURM_TMPDIR` on DRAC, `TMPDIR` elsewhere. */
    scratchVar: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
      .default('TMPDIR'),
    /** Container runtime available to jobs on this target. */
    containerRuntime: z.enum(['apptainer', 'singularity', 'podman', 'docker', 'none']).default('none'),
    /**
     * Allocation defaults for every job on this target (the cluster layer):
     * a job's own allocation is layered on top, and wins.
     */
    jobDefaults: z.lazy(() => JobDefaultsSchema).default({}),
    /** Environment variables every job on this target gets, e.g. `{ TRAIN_CONFIG: 'configs/mini.yaml' }`. A job's own env wins. */
    env: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'), z.string())
      .default({}),
    /**
     * Automation-node mode, for clusters that require MFA for interactive logins
     * (DRAC's robot nodes): every remote operation is one allow-listed command
     * with no spaces in its arguments, and what that cannot do is refused at plan.
     * @default false
     */
    automation: z.boolean().default(false),
    /** The most compute one plan on this target may request; a stack's own budget applies too, and the tighter wins. */
    budget: BudgetSchema.optional(),
    description: z.string().optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.scheduler === 'slurm' && !p.ssh) {
      ctx.addIssue({
        code: 'custom',
        path: ['ssh'],
        message: 'a slurm target needs an ssh connection',
        input: undefined,
      });
    }
    if (p.defaultPartition !== undefined && !(p.defaultPartition in p.partitions)) {
      ctx.addIssue({
        code: 'custom',
        path: ['defaultPartition'],
        message: 'is not one of the declared partitions',
        input: p.defaultPartition,
      });
    }
  });

export type ClusterProfileProps = z.input<typeof ClusterProfileSchema>;
export type ResolvedClusterProfile = z.output<typeof ClusterProfileSchema>;

/**
 * A target: a place stacks are deployed to, with what it offers and its limits.
 * Profiles are plain values, so one profile can serve many stacks (like a
 * shared cluster config), and `extend` layers project-level overrides on top.
 */
export class ClusterProfile {
  public readonly name: string;
  public readonly spec: ResolvedClusterProfile;
  private readonly input: ClusterProfileProps;

  constructor(name: string, props: ClusterProfileProps) {
    const issues = [];
    if (!NAME.test(name)) {
      issues.push({
        path: `target:${name}`,
        field: 'name',
        message: 'must be lowercase letters, digits, - or _',
        got: name,
      });
    }
    const parsed = ClusterProfileSchema.safeParse(props, { reportInput: true });
    if (!parsed.success) issues.push(...issuesFromZod(`target:${name}`, parsed.error));
    issues.push(...rawPropIssues(`target:${name}`, props));
    if (issues.length > 0 || !parsed.success) throw new ValidationError(issues);
    this.name = name;
    this.spec = parsed.data;
    this.input = props;
    announceProfile(this);
  }

  /** The embedded default: this machine, no cluster. Permissive, and GPUs are emulated. */
  public static local(props: Partial<ClusterProfileProps> = {}): ClusterProfile {
    return new ClusterProfile(LOCAL_TARGET, {
      scheduler: 'local',
      partitions: { local: { cpusPerNode: 1024, memPerNode: '4096G', gpus: { a100: 8, l4: 8, t4: 8 } } },
      scratchVar: 'TMPDIR',
      ...props,
    });
  }

  /**
   * A new profile: this one with `overrides` layered on top (later layers
   * win). Partitions merge by name and then field by field, GPU types by
   * type: overriding one field of a partition keeps its other limits.
   */
  public extend(name: string, overrides: Partial<ClusterProfileProps>): ClusterProfile {
    const partitions = mergePartitions(this.input.partitions ?? {}, overrides.partitions ?? {});
    const jobDefaults = { ...(this.input.jobDefaults ?? {}), ...(overrides.jobDefaults ?? {}) };
    const env = { ...(this.input.env ?? {}), ...(overrides.env ?? {}) };
    const budget =
      this.input.budget || overrides.budget ? { budget: { ...this.input.budget, ...overrides.budget } } : {};
    return new ClusterProfile(name, { ...this.input, ...overrides, partitions, jobDefaults, env, ...budget });
  }

  public get isLocal(): boolean {
    return this.spec.scheduler === 'local';
  }

  /** What the manifest records about the target: everything but connection details. */
  public toManifest(): Record<string, unknown> {
    // The budget governs plans, not what is rendered: changing it leaves snapshots as they are.
    const { ssh: _ssh, budget: _budget, ...rest } = this.spec;
    return { name: this.name, ...rest };
  }
}

type PartitionsInput = NonNullable<ClusterProfileProps['partitions']>;

/** `over` on top of `base`: by partition name, then by field; `gpus` and `gpuMemoryGb` by GPU type. */
function mergePartitions(base: PartitionsInput, over: PartitionsInput): PartitionsInput {
  const out: Record<string, PartitionsInput[string]> = { ...base };
  for (const [name, later] of Object.entries(over)) {
    const earlier = base[name];
    if (earlier === undefined || later === undefined) {
      out[name] = later;
      continue;
    }
    const gpus = earlier.gpus || later.gpus ? { gpus: { ...earlier.gpus, ...later.gpus } } : {};
    const gpuMemoryGb =
      earlier.gpuMemoryGb || later.gpuMemoryGb ? { gpuMemoryGb: { ...earlier.gpuMemoryGb, ...later.gpuMemoryGb } } : {};
    out[name] = { ...earlier, ...later, ...gpus, ...gpuMemoryGb };
  }
  return out;
}
