import { writeFileSync } from 'node:fs';
import { applyInputs } from '../../apply/apply.js';
import type { ApplyInputs } from '../../apply/program.js';
import { DirtyBundleError, bundlePayloads, dirtyBundleWarning, dirtyBundles } from '../../apply/payloads.js';
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
export interface SavedPlan {
  readonly format_version: string;
  readonly kind: 'hpcdk-saved-plan';
  readonly entries: ReadonlyArray<{ readonly target: string; readonly inputs: ApplyInputs }>;
}

export interface PlannedStack {
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
export async function planAll(
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
        if (!options.destroy)
          for (const d of dirtyBundles(synthesis.manifest.resources, project.dir))
            io.err(io.colors.yellow(`Warning: ${dirtyBundleWarning(d)}`));
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

export async function closeAll(planned: readonly PlannedStack[]): Promise<void> {
  await Promise.all(planned.map((p) => p.conn?.close()));
}

/** Adds what apply makes at apply time (code archives) to each planned stack. */
export function withPayloads(planned: PlannedStack[], projectDir: string, allowDirty: boolean): PlannedStack[] {
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
export function checkBudgets(plans: readonly Plan[], ignore: boolean, consequence: string): void {
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
export function checkGates(plans: readonly Plan[], consequence: string): void {
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
