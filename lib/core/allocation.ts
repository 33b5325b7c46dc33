import { z } from 'zod';
import type { ResourceRequest } from './resource-spec.js';

const SAFE_VALUE = /^[A-Za-z0-9_.,:@%+=/-]+$/;
const safe = (what: string) => z.string().regex(SAFE_VALUE, `must be ${what}, without spaces or shell characters`);

/** SLURM time: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS. */
export const SLURM_TIME = /^(\d+-\d{1,2}(:\d{1,2}(:\d{1,2})?)?|\d+(:\d{1,2}(:\d{1,2})?)?)$/;

/**
 * sbatch options `extra` may not set: hpcdk renders, submits or tracks each
 * itself, and half-supporting one would be wrong silently (an array given
 * this way would be tracked, cancelled and budgeted as one job).
 */
export const EXTRA_REFUSED: Readonly<Record<string, string>> = {
  array: 'use a Sweep, whose points become array tasks that hpcdk tracks, cancels, retries and budgets one by one',
  dependency: "use job.dependsOn(other, 'afterok' | 'afterany' | 'afternotok')",
  comment: 'hpcdk keeps its own comment on every job, to find it again',
  'job-name': 'the job name is the stack and address (`%x` in log names)',
  output: "use the job's stdout prop",
  error: "use the job's stderr prop",
  parsable: 'hpcdk submits with --parsable itself',
};

export const GpuRequestSchema = z
  .object({
    /** A GPU type the partition offers, e.g. `a100`, `t4`. */
    type: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, 'must be a GPU type name')
      .optional(),
    count: z.number().int().positive().default(1),
  })
  .strict();

/** What a job asks the scheduler for. Every field is optional; the target's defaults fill the rest. */
export const AllocationSchema = z
  .object({
    account: safe('an account name').optional(),
    partition: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be a partition name')
      .optional(),
    /** Wall time, as SLURM writes it: `02:00:00`, `1-12:00:00`, `90`. */
    time: z.string().regex(SLURM_TIME, 'must be a SLURM time such as 02:00:00 or 1-12:00:00').optional(),
    nodes: z.number().int().positive().optional(),
    ntasks: z.number().int().positive().optional(),
    ntasksPerNode: z.number().int().positive().optional(),
    cpusPerTask: z.number().int().positive().optional(),
    /** Memory per node, e.g. `64G`. */
    mem: z
      .string()
      .regex(/^\d+[KMGT]?$/, 'must be a SLURM memory size such as 64G')
      .optional(),
    gpus: GpuRequestSchema.optional(),
    constraint: safe('a constraint expression').optional(),
    qos: safe('a QOS name').optional(),
    mail: z
      .object({
        user: z.string().regex(/^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+$/, 'must be an email address'),
        type: z
          .array(z.enum(['BEGIN', 'END', 'FAIL', 'REQUEUE', 'ALL', 'TIME_LIMIT', 'TIME_LIMIT_80', 'ARRAY_TASKS']))
          .min(1)
          .default(['FAIL']),
      })
      .strict()
      .optional(),
    /**
     * Extra `#SBATCH --name=value` directives, for what the fields above do
     * not cover. The options hpcdk itself manages are refused here, each
     * with what to use instead (see EXTRA_REFUSED).
     */
    extra: z
      .record(
        z
          .string()
          .regex(/^[a-z][a-z0-9-]*$/, 'must be a long option name without dashes')
          .refine((name) => !(name in EXTRA_REFUSED), {
            error: (issue) => `--${String(issue.input)} is managed by hpcdk: ${EXTRA_REFUSED[String(issue.input)]}`,
          }),
        safe('an option value'),
      )
      .default({}),
  })
  .strict();

export type AllocationProps = z.input<typeof AllocationSchema>;
export type Allocation = z.output<typeof AllocationSchema>;

/** What of a target an allocation is resolved against (a ClusterProfile has all of it). */
export interface AllocationTarget {
  readonly isLocal: boolean;
  readonly spec: {
    readonly jobDefaults: Partial<Allocation>;
    readonly defaultPartition?: string | undefined;
    readonly partitions: Readonly<Record<string, unknown>>;
    readonly account?: string | undefined;
  };
}

/**
 * An allocation on `target`: the target's job defaults, then `own` (later
 * wins), with the target's default partition (on a cluster, else its first)
 * and account filled in. Jobs and interactive sessions resolve theirs alike.
 */
export function allocationOnTarget(target: AllocationTarget, own: Allocation): Allocation {
  const spec = target.spec;
  const given = Object.fromEntries(Object.entries(own).filter(([, v]) => v !== undefined));
  const a = { ...spec.jobDefaults, ...given } as Allocation;
  const partition =
    a.partition ?? spec.defaultPartition ?? (target.isLocal ? undefined : Object.keys(spec.partitions)[0]);
  const account = a.account ?? spec.account;
  return { ...a, ...(partition ? { partition } : {}), ...(account ? { account } : {}) };
}

/** Parses a SLURM time to minutes (seconds rounded up), for comparisons with partition limits. */
export function timeToMinutes(time: string): number {
  const dash = time.indexOf('-');
  if (dash >= 0) {
    // D-HH, D-HH:MM, D-HH:MM:SS
    const [h = 0, m = 0, s = 0] = time
      .slice(dash + 1)
      .split(':')
      .map(Number);
    return Number(time.slice(0, dash)) * 1440 + h * 60 + m + Math.ceil(s / 60);
  }
  const parts = time.split(':').map(Number);
  // minutes, MM:SS, HH:MM:SS
  if (parts.length === 1) return parts[0]!;
  if (parts.length === 2) return parts[0]! + Math.ceil(parts[1]! / 60);
  return parts[0]! * 60 + parts[1]! + Math.ceil(parts[2]! / 60);
}

const UNITS: Record<string, number> = { K: 1 / 1024, M: 1, G: 1024, T: 1024 * 1024 };

/** Parses a SLURM memory size to MiB (a bare number is MiB, as in SLURM). */
export function memToMiB(mem: string): number {
  const match = /^(\d+)([KMGT]?)$/.exec(mem);
  if (!match) return Number.NaN;
  return Number(match[1]) * (UNITS[match[2] || 'M'] ?? 1);
}

/**
 * What one submission asks the scheduler for, as plan's compute budget counts
 * it: whole nodes for `timeMinutes`, `cpus` in all, `gpus.count` per node (as
 * `--gres` asks). A sweep point is one array task of this size.
 */

/** The request of an allocation already layered over the target's defaults, on the target's partitions. */
export function resourceRequest(
  a: Allocation,
  partitions: Readonly<Record<string, { readonly maxTime?: string }>>,
): ResourceRequest {
  const nodes = a.nodes ?? 1;
  // SLURM starts one task per node unless told otherwise.
  const tasks = a.ntasks ?? (a.ntasksPerNode ?? 1) * nodes;
  const time = a.time ?? (a.partition !== undefined ? partitions[a.partition]?.maxTime : undefined);
  return {
    nodes,
    cpus: tasks * (a.cpusPerTask ?? 1),
    timeMinutes: time !== undefined && SLURM_TIME.test(time) ? timeToMinutes(time) : null,
    gpus: a.gpus ? { type: a.gpus.type ?? null, count: a.gpus.count } : null,
  };
}
