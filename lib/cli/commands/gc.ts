import { canonicalJson } from '../../core/digest.js';
import { decideGc, type GcItem, type GcPlan } from '../../ops/gc/decide.js';
import { parseRemoval, removalScript, type RemovalResult, type StackRemoval } from '../../ops/gc/remove.js';
import { formatSize, gcSummary, renderGc } from '../../ui/gc-view.js';
import { describeLockOwner } from '../../state/lock.js';
import { CliError, EXIT, type Output } from '../output.js';
import type { TargetOptions } from '../session.js';
import { GC_FORMAT_VERSION, readTargets, type ReadTarget } from './images.js';
import { confirm } from './apply.js';

export interface GcCommandOptions extends TargetOptions {
  readonly dir?: string;
  /** Keep each job's newest N runs' logs (a string from the command line). */
  readonly keepRuns?: string;
  readonly yes?: boolean;
  readonly json?: boolean;
  /** Stack names given that the project does not have are stack folders to remove whole. */
  readonly orphans?: boolean;
}

function keepRunsOf(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value))
    throw new CliError(`--keep-runs takes a whole number of runs to keep per job (got ${value})`);
  return Number(value);
}

interface TargetGc {
  readonly read: ReadTarget;
  readonly plan: GcPlan;
  result?: RemovalResult;
}

/** Removes one target's items in one round trip: a block per stack, under its lock. */
async function carryOut(t: TargetGc): Promise<RemovalResult> {
  const indexed = t.plan.items.map((item, index) => ({ index, item })).filter(({ item }) => item.remove);
  const stacks: StackRemoval[] = t.plan.stacks.map((s) => ({
    stack: s.stack,
    stackDir: t.read.conn.stackDir(s.stack),
    serial: s.serial,
    items: indexed.filter(({ item }) => item.stack === s.stack),
  }));
  const script = removalScript(
    t.read.base,
    stacks,
    indexed.filter(({ item }) => item.stack === ''),
  );
  const r = await t.read.conn.transport.run(script);
  const result = parseRemoval(r.stdout);
  if (!result.finished) {
    throw new Error(
      `gc on ${t.read.conn.transport.description} stopped early (exit ${r.exitCode}): ${(r.stderr.trim() || r.stdout.trim()).split('\n').slice(-5).join('\n')}. What was removed is consistent; run gc again.`,
    );
  }
  return result;
}

function resultOf(t: TargetGc, index: number, item: GcItem): string | undefined {
  if (!t.result || !item.remove) return undefined;
  if (t.result.removed.has(index)) return 'removed';
  if (t.result.failed.has(index)) return 'failed';
  return 'not attempted';
}

function document(all: readonly TargetGc[]): string {
  const targets = all.map((t) => ({
    target: t.read.profile.name,
    items: t.plan.items.map((item, index) => {
      const { steps: _steps, ...rest } = item;
      const result = resultOf(t, index, item);
      const error = t.result?.failed.get(index);
      return {
        ...rest,
        action: item.remove ? 'remove' : 'keep',
        ...(result ? { result } : {}),
        ...(error ? { error } : {}),
      };
    }),
    notes: t.plan.stacks.flatMap((s) => s.notes.map((n) => `${s.stack}: ${n}`)),
  }));
  const items = all.flatMap((t) => t.plan.items);
  const remove = items.filter((i) => i.remove).length;
  return canonicalJson(
    { format_version: GC_FORMAT_VERSION, targets, summary: { remove, kept: items.length - remove } },
    2,
  );
}

/** What removal did on one target, for the person; false when anything was left undone. */
function report(t: TargetGc, io: Output): boolean {
  const r = t.result!;
  const target = t.read.profile.name;
  for (const note of r.notes) io.err(note);
  for (const [stack, owner] of r.locked)
    io.err(io.colors.red(`${stack} on ${target} is locked by ${describeLockOwner(owner)}: nothing was removed there.`));
  for (const stack of r.stale)
    io.err(
      io.colors.red(
        `${stack} on ${target} changed since it was read (an apply ran): nothing was removed there; run gc again.`,
      ),
    );
  t.plan.items.forEach((item, index) => {
    const message = r.failed.get(index);
    if (message !== undefined)
      io.err(
        io.colors.red(
          `Could not remove ${item.what}${item.stack ? ` (stack ${item.stack})` : ''}: ${message || 'failed'}`,
        ),
      );
  });
  const removed = t.plan.items.filter((_, i) => r.removed.has(i));
  io.out(
    io.colors.green(
      `GC complete on ${target}: ${removed.length} removed, ${formatSize(removed.reduce((n, i) => n + i.size, 0))} freed.`,
    ),
  );
  return r.locked.size === 0 && r.stale.size === 0 && r.failed.size === 0;
}

/** `hpcdk gc [STACK…]`: shows what no stack and no running job uses, asks, then removes it under each stack's lock. */
export async function gcCommand(names: string[], options: GcCommandOptions, io: Output): Promise<number> {
  const keepRuns = keepRunsOf(options.keepRuns);
  const { project, targets } = await readTargets(
    names,
    options,
    io,
    options.orphans
      ? undefined
      : ' (to remove a stack folder the project no longer has, name it with --orphans and --target)',
  );
  try {
    const projectStacks = new Set(project.stacks.map((s) => s.stack.stackName));
    const orphans = new Set(names.filter((n) => !projectStacks.has(n)));
    const all: TargetGc[] = targets.map((read) => {
      for (const name of orphans) {
        if (!read.inventory.stacks.has(name))
          throw new CliError(`no stack folder named ${name} on target ${read.profile.name}`);
      }
      return {
        read,
        plan: decideGc(read.inventory, { ...read.context, orphans, ...(keepRuns !== undefined ? { keepRuns } : {}) }),
      };
    });
    if (options.json && !options.yes) {
      // Without --yes, --json is a dry run: the document is the preview.
      io.out(document(all));
      return EXIT.ok;
    }
    if (!options.json) {
      io.out(
        all
          .map((t) =>
            renderGc(
              t.read.profile.name,
              t.plan.items,
              t.plan.stacks.flatMap((s) => s.notes.map((n) => `${s.stack}: ${n}`)),
              io.colors,
            ),
          )
          .join('\n\n'),
      );
    }
    const toRemove = all.filter((t) => t.plan.items.some((i) => i.remove));
    if (toRemove.length === 0) {
      if (options.json) io.out(document(all));
      return EXIT.ok;
    }
    if (!options.yes) {
      const ok = await confirm(`\nDo you want to remove these? (${gcSummary(all.flatMap((t) => t.plan.items))})`, 'gc');
      if (!ok) {
        io.err('GC cancelled.');
        return EXIT.error;
      }
    }
    let complete = true;
    for (const t of toRemove) {
      t.result = await carryOut(t);
      if (!options.json) complete = report(t, io) && complete;
      else complete = complete && t.result.failed.size === 0 && t.result.locked.size === 0 && t.result.stale.size === 0;
    }
    if (options.json) io.out(document(all));
    return complete ? EXIT.ok : EXIT.error;
  } finally {
    await Promise.all(targets.map((t) => t.conn.close()));
  }
}
