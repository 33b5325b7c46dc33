/**
 * What a job's state means to hpcdk, in SLURM's vocabulary (the local
 * scheduler and other backends report theirs in the same words). Plan,
 * apply, gc and the scripts that run on the target all decide from these
 * lists.
 */

/** States after which a job will not run again by itself. */
export const FINAL_STATES: ReadonlySet<string> = new Set([
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'OUT_OF_MEMORY',
  'NODE_FAIL',
  'PREEMPTED',
  'BOOT_FAIL',
  'DEADLINE',
  'DEPENDENCY_NEVER_SATISFIED',
]);

/** The final states that did not end in success, and UNKNOWN (a job hpcdk cannot find): plan submits the job again. */
export const RESUBMITTABLE_STATES: ReadonlySet<string> = new Set(
  [...FINAL_STATES, 'UNKNOWN'].filter((s) => s !== 'COMPLETED'),
);

/** States in which a job has started (its node runs its steps): an outdated one is left alone rather than cancelled. */
export const STARTED_STATES: ReadonlySet<string> = new Set(['RUNNING', 'COMPLETING', 'SUSPENDED']);

/** The states a live job of a stack can be in, as `squeue -t` takes them: a job found in one is never submitted twice. */
export const QUEUED_STATES = [
  'PENDING',
  'RUNNING',
  'CONFIGURING',
  'COMPLETING',
  'REQUEUED',
  'RESIZING',
  'SUSPENDED',
] as const;

/** States in which a job is still the scheduler's business. */
export function isActive(state: string): boolean {
  return !FINAL_STATES.has(state) && state !== 'UNKNOWN';
}
