/** A job as the scheduler reports it. */
export interface SchedulerJob {
  readonly id: string;
  /** SLURM's vocabulary: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL… */
  readonly state: string;
  /** The comment hpcdk gave the job, if any. */
  readonly comment: string;
}

/** A job to submit in an apply, with its dependencies resolved to ids or to jobs submitted earlier in the same apply. */
export interface SubmitRequest {
  readonly address: string;
  readonly identity: string;
  /** Relative to the stack folder. */
  readonly script: string;
  readonly jobName: string;
  readonly stdout: string;
  readonly stderr: string;
  readonly comment: string;
  readonly dependencies: ReadonlyArray<{
    readonly type: string;
    readonly jobId?: string;
    readonly submittedAddress?: string;
  }>;
  /** Run one at a time among jobs of this name (`--dependency=singleton`). */
  readonly singleton?: boolean;
  /** An array of `size` tasks (indexes 0…size-1), at most `throttle` at once. */
  readonly array?: { readonly size: number; readonly throttle?: number };
  /** A params file (relative to the stack folder) the tasks read, as HPCDK_PARAMS_FILE. */
  readonly paramsFile?: string;
}

/**
 * What a scheduler contributes to the scripts hpcdk runs on a target: shell
 * snippets, never their own round trips. `$D` is the stack folder there.
 */
export interface Scheduler {
  readonly name: 'slurm' | 'local';
  /** Defines shell functions the other snippets use; included once per script. */
  readonly functions: string;
  /** Prints this stack's jobs as `id|STATE|comment` lines, one query for all of them. */
  queryLines(commentPrefix: string): string;
  /** Submits one job; sets `hpcdk_job_id`. */
  submitLines(request: SubmitRequest): string;
  /** Cancels the given jobs in one call. */
  cancelLines(jobIds: readonly string[]): string;
  /**
   * Asks the scheduler whether it would accept the script at `$1` (a path),
   * without submitting it; prints the refusal and fails if not. Undefined
   * where the scheduler cannot tell (the local one accepts everything).
   */
  readonly testOnlyCommand?: string;
}

/**
 * The comment that marks a job as hpcdk's: `hpcdk/<deployment>/<address>@<identity>`.
 * The deployment (`<stack>~<key>`, see TargetConnection.deployment) tells apart
 * two projects that deploy a stack of the same name to one cluster account.
 */
export function jobComment(deployment: string, address: string, identity: string): string {
  return `${commentPrefix(deployment)}${address}@${identity}`;
}

export function commentPrefix(deployment: string): string {
  return `hpcdk/${deployment}/`;
}

/** Reads `address` and `identity` back from a job comment, or undefined for other jobs. */
export function parseComment(deployment: string, comment: string): { address: string; identity: string } | undefined {
  const prefix = commentPrefix(deployment);
  if (!comment.startsWith(prefix)) return undefined;
  const rest = comment.slice(prefix.length);
  const at = rest.lastIndexOf('@');
  if (at <= 0) return undefined;
  return { address: rest.slice(0, at), identity: rest.slice(at + 1) };
}

/** Parses `id|STATE|comment` lines. */
export function parseQueueLines(text: string): SchedulerJob[] {
  const jobs: SchedulerJob[] = [];
  for (const line of text.split('\n')) {
    const [id, state, ...comment] = line.split('|');
    if (!id || !state) continue;
    jobs.push({ id: id.trim(), state: state.trim().split(' ')[0]!, comment: comment.join('|').trim() });
  }
  return jobs;
}

export { FINAL_STATES, isActive } from '../state/job-states.js';
