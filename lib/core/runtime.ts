import type { IConstruct } from 'constructs';
import { RuntimeRef } from '../shell/index.js';
import type { SynthContext } from './hpc-construct.js';

const RUNTIME = Symbol.for('hpcdk.JobRuntime');

/** What a job script needs to know about the job a runtime serves. */
export interface JobShape {
  /** Nodes the job spans: per-node setup runs once on each. */
  readonly nodes: number;
  /** The job's address, for messages and per-job paths. */
  readonly address: string;
  /** GPUs per node the job asks for (an image runtime passes them through: `--nv`). */
  readonly gpus: number;
  /** The variables the job sets (an image runtime passes them into the container), sorted. */
  readonly envNames: readonly string[];
}

/**
 * Something a job runs in: a Python environment, a container image. It adds
 * lines before the job's steps (load modules, build or activate) and may wrap
 * each step (run it inside an image).
 */
export interface JobRuntime extends IConstruct {
  /** Lines the batch script runs before the steps. Already quoted shell. */
  jobPrologue(ctx: SynthContext, job: JobShape): string[];
  /** The step as it must run; the default is the step unchanged. */
  wrapStep?(ctx: SynthContext, step: string, job: JobShape): string;
  /** Prints the packages the job runs with (`python -m pip freeze`, `conda list --export`), for the freeze next to its logs. */
  readonly freezeCommand?: string;
}

/** Marks a construct class's instances as JobRuntimes (call in the constructor). */
export function markJobRuntime(x: object): void {
  Object.defineProperty(x, RUNTIME, { value: true });
}

export function isJobRuntime(x: unknown): x is JobRuntime {
  return typeof x === 'object' && x !== null && RUNTIME in x;
}

/** The stack's folder on the target, as scripts see it at run time. */
export const STACK_DIR = RuntimeRef.env('HPCDK_STACK_DIR');

/** Where a construct's deployed file is at run time: `"${HPCDK_STACK_DIR}/files/<address>/<file>"`. */
export function deployedFile(address: string, file: string): RuntimeRef {
  return STACK_DIR.join('files', address, file);
}

/** The line every rendered script starts with, so HPCDK_STACK_DIR is set in jobs (the submit dir) and in apply (set by apply). */
export const STACK_DIR_LINE = 'export HPCDK_STACK_DIR="${HPCDK_STACK_DIR:-${SLURM_SUBMIT_DIR:-$PWD}}"';

/**
 * Node-local scratch, whatever the target calls it ($SLURM_TMPDIR on DRAC,
 * $TMPDIR elsewhere): every job script exports HPCDK_SCRATCH, so stacks can
 * name node-local paths once for all targets.
 */
export const Scratch = {
  /** `"${HPCDK_SCRATCH}/<segments>"`, expanded on the node. */
  path(...segments: string[]): RuntimeRef {
    return RuntimeRef.env('HPCDK_SCRATCH').join(...segments);
  },
  /** The line that sets HPCDK_SCRATCH from the target's scratch variable, failing loudly when it is unset. */
  exportLine(scratchVar: string): string {
    return `export HPCDK_SCRATCH="\${${scratchVar}:?node-local scratch $${scratchVar} is not set on this node}"`;
  },
};
