import type { StackSynthesis } from '../synth/synthesize.js';
import type { TargetConnection } from '../targets/target-connection.js';
import type { Plan } from '../plan/plan.js';
import { HpcdkError } from '../core/hpcdk-error.js';
import { describeLockOwner } from '../state/lock.js';
import { applyProgram, countSteps, type ApplyInputs, type Upload } from './program.js';
import { LOGS_DIR } from '../state/layout.js';

export type ApplyEvent =
  | { readonly type: 'step'; readonly what: string; readonly done: number; readonly total: number }
  | {
      readonly type: 'submitted';
      readonly address: string;
      readonly jobId: string;
      readonly done: number;
      readonly total: number;
      readonly tasks?: number;
    }
  | { readonly type: 'note'; readonly message: string };

export interface ApplyResult {
  /** Jobs and array chunks submitted (`tasks` for arrays). */
  readonly submitted: ReadonlyArray<{ address: string; jobId: string; tasks?: number }>;
  readonly steps: number;
}

/** The target is held by another apply. */
export class LockedError extends HpcdkError {
  constructor(public readonly owner: string) {
    super(
      `the target is locked by ${describeLockOwner(owner)}; it is released when that apply ends (hpcdk force-unlock removes a lock you know is abandoned)`,
    );
    this.name = 'LockedError';
  }
}

/** The target's state changed between plan and apply. */
export class StalePlanError extends HpcdkError {
  constructor() {
    super('the target changed since this plan was made; run plan again');
    this.name = 'StalePlanError';
  }
}

/** The uploads a plan needs, taken from the synthesis it was made from. */
export function applyInputs(plan: Plan, synthesis: Pick<StackSynthesis, 'artifacts' | 'manifest'>): ApplyInputs {
  const uploads: Upload[] = synthesis.artifacts.map((a) => ({
    path: a.path,
    sha256: a.sha256,
    executable: a.executable,
    content: a.content,
  }));
  return { plan, uploads, resources: synthesis.manifest.resources };
}

/** Carries out `plan` in one round trip; reports progress through `onEvent`. */
export async function applyPlan(
  conn: TargetConnection,
  inputs: ApplyInputs,
  operation: string,
  onEvent: (e: ApplyEvent) => void = () => {},
): Promise<ApplyResult> {
  const total = countSteps(inputs.plan, conn.profile.spec.maxArraySize);
  if (total === 0) return { submitted: [], steps: 0 };
  const submitted: Array<{ address: string; jobId: string; tasks?: number }> = [];
  let done = 0;
  let locked: string | undefined;
  let stale = false;
  let finished = false;
  let failed: string | undefined;
  const r = await conn.backend.apply(applyProgram(conn, inputs, operation), {
    onLine: (line) => {
      if (line.startsWith('@@step ')) {
        done += 1;
        onEvent({ type: 'step', what: line.slice(7), done, total });
      } else if (line.startsWith('@@submitted ')) {
        done += 1;
        const [address = '', jobId = '', tasks] = line.slice(12).split(' ');
        submitted.push({ address, jobId, ...(tasks ? { tasks: Number(tasks) } : {}) });
        onEvent({ type: 'submitted', address, jobId, done, total, ...(tasks ? { tasks: Number(tasks) } : {}) });
      } else if (line.startsWith('@@locked ')) {
        locked = line.slice(9);
      } else if (line.startsWith('@@stale')) {
        stale = true;
      } else if (line.startsWith('@@failed ')) {
        failed = line.slice(9);
      } else if (line.startsWith('@@note ')) {
        onEvent({ type: 'note', message: line.slice(7) });
      } else if (line === '@@done') {
        finished = true;
      }
    },
  });
  if (locked !== undefined) throw new LockedError(locked);
  if (stale) throw new StalePlanError();
  if (failed !== undefined) {
    const [what, address] = failed.split(' ');
    throw new Error(
      `the ${what} of ${address} failed on ${conn.transport.description}; its log is ${LOGS_DIR}/${address}/build.log on the target:\n${r.stderr.trimEnd()}\nNothing after it was done; apply again once it is fixed.`,
    );
  }
  if (r.connectionLost) {
    throw new Error(
      `lost the connection to ${conn.transport.description} during apply, after ${done} of ${total} steps. Each step done on the target is recorded there; ` +
        'the script stops at its next step and releases the lock (until then apply reports the lock). Run apply again to finish.',
    );
  }
  if (r.exitCode !== 0 || !finished) {
    const what =
      submitted.length > 0
        ? ` Submitted before the failure: ${submitted.map((s) => `${s.address} (job ${s.jobId})`).join(', ')}; they are recorded, and apply again resumes.`
        : ' What was done is recorded; apply again resumes.';
    throw new Error(
      `apply on ${conn.transport.description} failed after ${done} of ${total} steps (exit ${r.exitCode}): ${r.stderr.trim().split('\n').slice(-5).join('\n')}${what}`,
    );
  }
  return { submitted, steps: done };
}

/** Removes a lock left by an apply that will never release it. */
export function forceUnlock(conn: TargetConnection, stack: string): Promise<string | undefined> {
  return conn.backend.unlock(stack);
}
