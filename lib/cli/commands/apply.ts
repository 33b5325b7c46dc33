import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { applyPlan, LockedError, StalePlanError, type ApplyEvent } from '../../apply/apply.js';
import { MissingSecretError, secretsToUpload } from '../../apply/secrets.js';
import { PLAN_FORMAT_VERSION } from '../../plan/plan.js';
import { renderPlan } from '../../ui/plan-view.js';
import { CliError, EXIT, type Output } from '../output.js';
import { openProject } from '../project.js';
import { openTarget, resolveTarget } from '../session.js';

import {
  closeAll,
  planAll,
  withPayloads,
  checkBudgets,
  checkGates,
  type PlanCommandOptions,
  type PlannedStack,
  type SavedPlan,
} from './plan.js';

export interface ApplyCommandOptions extends PlanCommandOptions {
  readonly yes?: boolean;
}

/** Asks for `yes` on a terminal; without one, refuses: `command` (apply, gc) must then be given --yes. */
export async function confirm(question: string, command = 'apply'): Promise<boolean> {
  if (!process.stdin.isTTY) {
    throw new CliError(
      `${command} asks for confirmation, and stdin is not a terminal: pass --yes to ${command} without asking`,
    );
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: `);
    return answer.trim() === 'yes';
  } finally {
    rl.close();
  }
}

/** Progress: a live count on a terminal, one plain line per step otherwise. */
function progress(io: Output): { onEvent: (e: ApplyEvent) => void; end: () => void } {
  const live = Boolean(process.stderr.isTTY);
  let shown = false;
  return {
    onEvent: (e) => {
      if (e.type === 'note') {
        io.err(e.message);
        return;
      }
      const what =
        e.type === 'submitted'
          ? `submitted ${e.address} (job ${e.jobId}${e.tasks ? `, ${e.tasks} array tasks` : ''})`
          : e.what;
      if (live) {
        process.stderr.write(`\r\u001b[K[${e.done}/${e.total}] ${what}`);
        shown = true;
      } else {
        io.err(`[${e.done}/${e.total}] ${what}`);
      }
    },
    end: () => {
      if (shown) process.stderr.write('\n');
    },
  };
}

function isSavedPlanFile(arg: string): boolean {
  if (!existsSync(arg)) return false;
  try {
    return (JSON.parse(readFileSync(arg, 'utf8')) as { kind?: string }).kind === 'hpcdk-saved-plan';
  } catch {
    return false;
  }
}

/** `hpcdk apply [STACK…|PLANFILE]` and `hpcdk destroy [STACK…]` */
export async function applyCommand(
  args: string[],
  options: ApplyCommandOptions,
  io: Output,
  operation: 'apply' | 'destroy' = 'apply',
): Promise<number> {
  let planned: PlannedStack[];
  let project: Awaited<ReturnType<typeof openProject>>;
  const savedFile = args.length === 1 && isSavedPlanFile(args[0]!) ? args[0]! : undefined;
  if (savedFile) {
    project = await openProject(options.dir);
    const saved = JSON.parse(readFileSync(savedFile, 'utf8')) as SavedPlan;
    if (saved.format_version !== PLAN_FORMAT_VERSION)
      throw new CliError(
        `${savedFile} is a plan of format ${saved.format_version}; this hpcdk reads ${PLAN_FORMAT_VERSION}`,
      );
    planned = saved.entries.map((e) => ({ plan: e.inputs.plan, inputs: e.inputs, targetName: e.target }));
  } else {
    ({ planned, project } = await planAll(args, { ...options, destroy: operation === 'destroy' }, io, true));
    try {
      planned = withPayloads(planned, project.dir, options.allowDirty ?? false);
    } catch (e) {
      await closeAll(planned);
      throw e;
    }
  }
  try {
    return await carryOut(planned, project, options, io, operation, savedFile !== undefined);
  } finally {
    await closeAll(planned);
  }
}

async function carryOut(
  planned: PlannedStack[],
  project: Awaited<ReturnType<typeof openProject>>,
  options: ApplyCommandOptions,
  io: Output,
  operation: 'apply' | 'destroy',
  fromSavedPlan: boolean,
): Promise<number> {
  io.out(planned.map((p) => renderPlan(p.plan, io.colors)).join('\n\n'));
  checkBudgets(
    planned.map((p) => p.plan),
    options.ignoreBudget ?? false,
    'Nothing was applied.',
  );
  checkGates(
    planned.map((p) => p.plan),
    'Nothing was applied.',
  );
  const withChanges = planned.filter((p) => p.plan.changes);
  if (withChanges.length === 0) return EXIT.ok;
  if (!options.yes && !fromSavedPlan) {
    const ok = await confirm(
      `\nDo you want to ${operation === 'destroy' ? 'destroy these resources' : 'perform these actions'}?`,
    );
    if (!ok) {
      io.err(`${operation === 'destroy' ? 'Destroy' : 'Apply'} cancelled.`);
      return EXIT.error;
    }
  }
  // Secret values are read now, from this process's environment, and go to the
  // target only. All are checked before any stack is touched.
  const secretsByStack = new Map<PlannedStack, ReturnType<typeof secretsToUpload>>();
  for (const p of withChanges) {
    try {
      secretsByStack.set(p, secretsToUpload(p.plan, p.inputs.resources));
    } catch (e) {
      if (e instanceof MissingSecretError) throw new CliError(`${p.plan.stack}: ${e.message}`);
      throw e;
    }
  }
  for (const p of withChanges) {
    const stack = project.stacks.find((s) => s.stack.stackName === p.plan.stack)?.stack;
    if (!stack) throw new CliError(`the plan is for stack ${p.plan.stack}, which the project no longer has`);
    const profile = resolveTarget(project, stack, p.targetName);
    const secrets = secretsByStack.get(p)!;
    const conn = p.conn ?? (await openTarget(project, profile, options));
    const bar = progress(io);
    try {
      const result = await applyPlan(conn, { ...p.inputs, secrets }, operation, bar.onEvent);
      bar.end();
      const s = p.plan.summary;
      io.out(
        io.colors.green(
          `${operation === 'destroy' ? 'Destroy' : 'Apply'} complete! ${p.plan.stack} on ${p.targetName}: ${s.add} added, ${s.change} changed, ${s.destroy} destroyed; ${jobsSubmitted(result.submitted)} submitted, ${s.cancel} cancelled.`,
        ),
      );
    } catch (e) {
      bar.end();
      if (e instanceof LockedError || e instanceof StalePlanError)
        throw new CliError(`${p.plan.stack} on ${p.targetName}: ${e.message}`);
      throw e;
    } finally {
      if (!p.conn) await conn.close();
    }
  }
  return EXIT.ok;
}

function jobsSubmitted(submitted: ReadonlyArray<{ tasks?: number }>): string {
  const n = submitted.reduce((sum, s) => sum + (s.tasks ?? 1), 0);
  return `${n} job${n === 1 ? '' : 's'}`;
}
