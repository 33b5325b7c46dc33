import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import {
  applyInputs,
  applyPlan,
  forceUnlock,
  LockedError,
  StalePlanError,
  type ApplyEvent,
} from '../../apply/apply.js';
import type { ApplyInputs } from '../../apply/execute.js';
import { DirtyBundleError, bundlePayloads } from '../../apply/payloads.js';
import { MissingSecretError, secretsToUpload } from '../../apply/secrets.js';
import { canonicalJson } from '../../core/digest.js';
import { budgetLimits, overBudget } from '../../plan/budget.js';
import { PLAN_FORMAT_VERSION, type Plan } from '../../plan/plan.js';
import { planStack, readGateEvidence } from '../../plan/plan-stack.js';
import { evaluateGates, type GateEvidence } from '../../plan/gate.js';
import { gateReport } from '../../ui/gate-view.js';
import type { Stack } from '../../core/stack.js';
import { synthesizeStack } from '../../synth/synthesize.js';
import { budgetReport, renderPlan } from '../../ui/plan-view.js';
import { CliError, EXIT, type Output } from '../output.js';
import { openProject, pickStacks } from '../project.js';
import { openTarget, resolveTarget, synthesizeFor, type TargetOptions } from '../session.js';
import type { TargetConnection } from '../../targets/connection.js';

export interface PlanCommandOptions extends TargetOptions {
  readonly dir?: string;
  readonly json?: boolean;
  readonly detailedExitcode?: boolean;
  readonly out?: string;
  readonly replace?: string[];
  readonly destroy?: boolean;
  /** Bundle the last commit even where bundled paths have uncommitted changes. */
  readonly allowDirty?: boolean;
  /** Plan and apply even when the submissions request more compute than the budget allows. */
  readonly ignoreBudget?: boolean;
}

/** A saved plan: the plans and everything apply needs to carry them out exactly. */
interface SavedPlan {
  readonly format_version: string;
  readonly kind: 'hpcdk-saved-plan';
  readonly entries: ReadonlyArray<{ readonly target: string; readonly inputs: ApplyInputs }>;
}

interface PlannedStack {
  readonly plan: Plan;
  readonly inputs: ApplyInputs;
  readonly targetName: string;
  /** The connection the plan was read over, kept open so apply uses the same one. */
  readonly conn?: TargetConnection;
}

/**
 * Plans each stack over its own connection. With `keepOpen` the connections
 * stay open for apply, so a command makes one SSH connection per target; the
 * caller closes them.
 */
async function planAll(
  names: string[],
  options: PlanCommandOptions,
  io: Output,
  keepOpen = false,
): Promise<{ planned: PlannedStack[]; project: Awaited<ReturnType<typeof openProject>> }> {
  const project = await openProject(options.dir);
  const planned: PlannedStack[] = [];
  try {
    for (const { stack } of pickStacks(project, names)) {
      const profile = resolveTarget(project, stack, options.target);
      const conn = await openTarget(project, profile, options).catch((e: unknown) => {
        // A stack that does not render says so, even when its target is out of reach.
        synthesizeFor(project, stack, profile, io);
        throw e;
      });
      try {
        // The read's remote shell starts up while the stack renders.
        await conn.transport.prewarm?.();
        const synthesis = synthesizeFor(project, stack, profile, io);
        const budget = budgetLimits([
          { budget: stack.budget, from: `stack ${stack.stackName}` },
          { budget: profile.spec.budget, from: `target ${profile.name}` },
        ]);
        const { plan: ungated } = await planStack(conn, synthesis, {
          replace: options.replace ?? [],
          destroy: options.destroy ?? false,
          budget,
          ignoreBudget: options.ignoreBudget ?? false,
        });
        // Gated submissions wait for a completed run on the gate's target: one more read, of that target.
        const plan = options.destroy
          ? ungated
          : await evaluateGates(ungated, synthesis.manifest.resources, (name) =>
              readGateTarget(project, stack, name, options),
            );
        planned.push({
          plan,
          inputs: applyInputs(plan, synthesis),
          targetName: profile.name,
          ...(keepOpen ? { conn } : {}),
        });
      } catch (e) {
        // Not yet in `planned`, so closeAll would miss it: an open connection keeps the process alive.
        if (keepOpen) await conn.close();
        throw e;
      } finally {
        if (!keepOpen) await conn.close();
      }
    }
  } catch (e) {
    await closeAll(planned);
    throw e;
  }
  return { planned, project };
}

async function closeAll(planned: readonly PlannedStack[]): Promise<void> {
  await Promise.all(planned.map((p) => p.conn?.close()));
}

/** Adds what apply makes at apply time (code archives) to each planned stack. */
function withPayloads(planned: PlannedStack[], projectDir: string, allowDirty: boolean): PlannedStack[] {
  return planned.map((p) => {
    try {
      const payloads = bundlePayloads(p.plan, p.inputs.resources, projectDir, allowDirty);
      return payloads.length === 0 ? p : { ...p, inputs: { ...p.inputs, payloads } };
    } catch (e) {
      if (e instanceof DirtyBundleError) throw new CliError(`${p.plan.stack}: ${e.message}`);
      throw e;
    }
  });
}

/** Refuses plans whose submissions exceed their budget, naming what requests the most; `--ignore-budget` lets them through. */
function checkBudgets(plans: readonly Plan[], ignore: boolean, consequence: string): void {
  if (ignore) return;
  const reports = plans.filter((p) => overBudget(p.budget)).map(budgetReport);
  const advice = [consequence, 'Raise the budget, or pass --ignore-budget to go ahead anyway.']
    .filter((x) => x !== '')
    .join(' ');
  if (reports.length > 0) throw new CliError(`${reports.join('\n\n')}\n${advice}`);
}

/** A gate's target read for another target's plan, over a connection of its own (its own profile says how to reach it). */
async function readGateTarget(
  project: Awaited<ReturnType<typeof openProject>>,
  stack: Stack,
  name: string,
  options: TargetOptions,
): Promise<GateEvidence> {
  const profile = stack.target(name);
  if (!profile) throw new CliError(`stack ${stack.stackName}: the gate's target ${name} is not one of its targets`);
  const synthesis = synthesizeStack(stack, profile, project.dir);
  const conn = await openTarget(project, profile, { ...options, automation: false });
  try {
    return await readGateEvidence(conn, synthesis);
  } catch (e) {
    throw new CliError(`checking the gates on ${name}: ${(e as Error).message}`);
  } finally {
    await conn.close();
  }
}

/** Refuses plans that would submit gated work before it completed on the gate's target, naming each. */
function checkGates(plans: readonly Plan[], consequence: string): void {
  const reports = plans.map(gateReport).filter((r): r is string => r !== undefined);
  if (reports.length > 0) throw new CliError([reports.join('\n\n'), consequence].filter((x) => x !== '').join('\n'));
}

/** The versioned JSON document `plan --json` prints. */
export function planDocument(plans: readonly Plan[]): string {
  return `${canonicalJson({ format_version: PLAN_FORMAT_VERSION, plans }, 2)}\n`;
}

/** `hpcdk plan [STACK…]` */
export async function planCommand(names: string[], options: PlanCommandOptions, io: Output): Promise<number> {
  const { planned: bare, project } = await planAll(names, options, io);
  // Archives are made only when the plan is saved for apply.
  const planned = options.out ? withPayloads(bare, project.dir, options.allowDirty ?? false) : bare;
  if (options.json) io.out(planDocument(planned.map((p) => p.plan)).trimEnd());
  else io.out(planned.map((p) => renderPlan(p.plan, io.colors)).join('\n\n'));
  checkBudgets(
    planned.map((p) => p.plan),
    false,
    options.out ? 'The plan was not saved.' : '',
  );
  checkGates(
    planned.map((p) => p.plan),
    options.out ? 'The plan was not saved.' : '',
  );
  if (options.out) {
    const saved: SavedPlan = {
      format_version: PLAN_FORMAT_VERSION,
      kind: 'hpcdk-saved-plan',
      entries: planned.map((p) => ({ target: p.targetName, inputs: p.inputs })),
    };
    writeFileSync(options.out, `${canonicalJson(saved, 2)}\n`, { mode: 0o600 });
    if (!options.json)
      io.out(`\nSaved the plan to ${options.out}. To carry out exactly these actions, run: hpcdk apply ${options.out}`);
  }
  const changes = planned.some((p) => p.plan.changes);
  return options.detailedExitcode && changes ? EXIT.changes : EXIT.ok;
}

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

/** `hpcdk force-unlock STACK` */
export async function forceUnlockCommand(
  name: string,
  options: TargetOptions & { dir?: string },
  io: Output,
): Promise<number> {
  const project = await openProject(options.dir);
  const stack = pickStacks(project, [name])[0]!.stack;
  const profile = resolveTarget(project, stack, options.target);
  const conn = await openTarget(project, profile, options);
  try {
    const owner = await forceUnlock(conn, stack.stackName);
    io.out(
      owner
        ? `Removed the lock on ${stack.stackName} (${profile.name}) held by ${owner}.`
        : `${stack.stackName} on ${profile.name} was not locked.`,
    );
    return EXIT.ok;
  } finally {
    await conn.close();
  }
}
