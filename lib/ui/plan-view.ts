import type { Colors } from './colors.js';
import type { BudgetConsumer, BudgetFigure, ComputeFigures } from '../plan/budget.js';
import type { Action, Plan, ResourceChange } from '../plan/plan.js';
import { describeLockOwner } from '../state/lock.js';
import { gateLine, sweepGateLine } from './gate-view.js';

const SYMBOL: Record<Action, string> = {
  create: '+',
  update: '~',
  replace: '-/+',
  delete: '-',
  submit: '>',
  cancel: 'x',
  'no-op': ' ',
};

const VERB: Record<Action, string> = {
  create: 'will be created',
  update: 'will be updated in place',
  replace: 'will be replaced (cancelled, then submitted)',
  delete: 'will be destroyed',
  submit: 'will be submitted',
  cancel: 'will be cancelled',
  'no-op': 'is unchanged',
};

/** `Plan: 1 to add, 0 to change, 0 to destroy; 1 job to submit, 0 to cancel.` */
export function summaryLine(plan: Plan): string {
  const s = plan.summary;
  return `Plan: ${s.add} to add, ${s.change} to change, ${s.destroy} to destroy; ${s.submit} job${s.submit === 1 ? '' : 's'} to submit, ${s.cancel} to cancel.`;
}

const FIGURE_NAME: Record<BudgetFigure, string> = {
  nodeHours: 'node-hours',
  cpuHours: 'CPU-hours',
  gpuHours: 'GPU-hours',
};

/** One decimal, as budgets are thought of; small figures keep two significant digits rather than show as 0.0. */
export function formatHours(h: number): string {
  return h === 0 || h >= 0.1 ? h.toFixed(1) : String(Number(h.toPrecision(2)));
}

/** `12.0 node-hours, 96.0 CPU-hours, 48.0 GPU-hours (a100: 48.0)`; no GPU part for work without GPUs. */
export function computeFigures(f: ComputeFigures): string {
  const types = Object.entries(f.gpuHoursByType).map(([type, h]) => `${type}: ${formatHours(h)}`);
  const gpu =
    f.gpuHours > 0 || types.length > 0
      ? `, ${formatHours(f.gpuHours)} GPU-hours${types.length > 0 ? ` (${types.join(', ')})` : ''}`
      : '';
  return `${formatHours(f.nodeHours)} node-hours, ${formatHours(f.cpuHours)} CPU-hours${gpu}`;
}

const NAMES_SHOWN = 3;

/** `Compute requested: …` under the summary, when the plan submits anything. */
export function computeLine(plan: Plan): string | undefined {
  const compute = plan.compute as Plan['compute'] | undefined; // saved by an hpcdk without budgets
  if (!compute || compute.jobs === 0) return undefined;
  const n = compute.unbounded.length;
  const names =
    compute.unbounded.slice(0, NAMES_SHOWN).join(', ') + (n > NAMES_SHOWN ? `, … ${n - NAMES_SHOWN} more` : '');
  const uncounted = n > 0 ? `; not counted: ${n} job${n === 1 ? '' : 's'} without a time limit (${names})` : '';
  return `Compute requested: ${computeFigures(compute)}${uncounted}`;
}

function consumerLine(c: BudgetConsumer): string {
  const name = c.kind === 'sweep' ? `sweep ${c.address} (${c.points} point${c.points === 1 ? '' : 's'})` : c.address;
  return `${name}: ${c.unbounded ? 'no time limit, so unbounded (set allocation.time); counted: ' : ''}${computeFigures(c.compute)}`;
}

/** What exceeds the plan's budget and which jobs request the most; undefined when within it. */
export function budgetReport(plan: Plan): string | undefined {
  const budget = plan.budget;
  if (!budget || budget.exceeded.length === 0) return undefined;
  const lines = [`Stack ${plan.stack} on ${plan.target} requests more compute than its budget allows:`];
  for (const e of budget.exceeded) {
    const requested =
      e.requested === null ? 'unbounded (a job without a time limit)' : `${formatHours(e.requested)} requested`;
    lines.push(`  ${FIGURE_NAME[e.figure]}: ${requested}, over the budget of ${formatHours(e.limit)} (${e.from})`);
  }
  lines.push('The jobs requesting the most:', ...budget.top.map((c) => `  ${consumerLine(c)}`));
  return lines.join('\n');
}

function colorFor(action: Action, c: Colors): (s: string) => string {
  if (action === 'create' || action === 'submit') return c.green;
  if (action === 'update') return c.yellow;
  if (action === 'delete' || action === 'cancel' || action === 'replace') return c.red;
  return (s) => s;
}

function indentDiff(diff: string, c: Colors): string {
  return diff
    .split('\n')
    .filter((l) => !l.startsWith('====') && !l.startsWith('Index:'))
    .map((l) => {
      const colored =
        l.startsWith('+') && !l.startsWith('+++')
          ? c.green(l)
          : l.startsWith('-') && !l.startsWith('---')
            ? c.red(l)
            : l.startsWith('@@')
              ? c.cyan(l)
              : l;
      return `        ${colored}`;
    })
    .join('\n')
    .trimEnd();
}

/** What changed since the last apply, after a change's reason: ` because allocation, run changed`. */
function because(changed: readonly string[] | undefined): string {
  return changed && changed.length > 0 ? ` because ${changed.join(', ')} changed` : '';
}

function resourceBlock(r: ResourceChange, c: Colors): string {
  const color = colorFor(r.action, c);
  const lines = [
    `  ${c.bold(`# ${r.address}`)} ${VERB[r.action]} (${r.reason})${because(r.changed)}`,
    `  ${color(SYMBOL[r.action].padStart(3))} ${r.kind} "${r.address}"`,
  ];
  if (r.gate) lines.push(`        ${gateLine(r.gate, c)}`);
  for (const f of r.files) {
    if (f.action === 'no-op') continue;
    const sym = f.action === 'create' ? '+' : f.action === 'update' ? '~' : '-';
    lines.push(
      `        ${colorFor(f.action === 'create' ? 'create' : f.action === 'update' ? 'update' : 'delete', c)(sym)} ${f.path}`,
    );
    if (f.diff) lines.push(indentDiff(f.diff, c));
  }
  for (const id of r.job?.cancel ?? []) lines.push(`        ${c.red('x')} job ${id}`);
  return lines.join('\n');
}

const POINTS_SHOWN = 8;

/** A sweep's points as one block: how many of how many, the file changes once, the first few points. */
function sweepBlock(sweep: string, points: readonly ResourceChange[], c: Colors): string {
  const changed = points.filter((p) => p.action !== 'no-op');
  const submit = changed.filter((p) => p.action === 'submit' || p.action === 'replace');
  const cancel = changed.flatMap((p) => p.job?.cancel ?? []);
  const action: Action =
    submit.length > 0
      ? cancel.length > 0
        ? 'replace'
        : 'submit'
      : changed.some((p) => p.action === 'cancel')
        ? 'cancel'
        : 'update';
  const verb =
    submit.length > 0
      ? `${submit.length} of ${points.length} point${points.length === 1 ? '' : 's'} will be submitted`
      : `${changed.length} of ${points.length} points change`;
  const why = [...new Set(changed.flatMap((p) => p.changed ?? []))];
  const lines = [
    `  ${c.bold(`# ${sweep}`)}: ${verb}${because(why)}`,
    `  ${colorFor(action, c)(SYMBOL[action].padStart(3))} sweep "${sweep}"`,
  ];
  const files = new Map<string, ResourceChange['files'][number]>();
  for (const p of changed) for (const f of p.files) if (f.action !== 'no-op') files.set(f.path, f);
  for (const f of files.values()) {
    const sym = f.action === 'create' ? '+' : f.action === 'update' ? '~' : '-';
    lines.push(
      `        ${colorFor(f.action === 'create' ? 'create' : f.action === 'update' ? 'update' : 'delete', c)(sym)} ${f.path}`,
    );
    if (f.diff) lines.push(indentDiff(f.diff, c));
  }
  for (const p of changed.slice(0, POINTS_SHOWN)) {
    lines.push(
      `        ${colorFor(p.action, c)(SYMBOL[p.action])} ${p.address.slice(sweep.length + 1)} (${p.reason})${p.gate && p.gate.met !== null ? ` ${gateLine(p.gate, c)}` : ''}`,
    );
  }
  if (changed.length > POINTS_SHOWN) lines.push(`        … and ${changed.length - POINTS_SHOWN} more`);
  const gates = sweepGateLine(changed, c);
  if (gates) lines.push(`        ${gates}`);
  for (const id of cancel) lines.push(`        ${c.red('x')} job ${id}`);
  return lines.join('\n');
}

/** The human view of a plan, Terraform style. Rendered only from the plan data. */
export function renderPlan(plan: Plan, c: Colors): string {
  const out: string[] = [];
  if (plan.drift.length > 0) {
    out.push(c.bold('Objects have changed outside hpcdk'), '');
    for (const d of plan.drift) {
      out.push(`  ${c.yellow('#')} ${d.address}: ${d.message}`);
      if (d.diff) out.push(indentDiff(d.diff, c));
    }
    out.push('');
  }
  const notes = plan.resources.filter((r) => r.action === 'no-op' && (r.job?.outdated || r.job?.exhausted));
  if (notes.length > 0) {
    out.push(c.bold('Jobs that need attention'), '');
    for (const r of notes) out.push(`  ${c.yellow('!')} ${r.address}: ${r.reason}`);
    out.push('');
  }
  const changes = plan.resources.filter((r) => r.action !== 'no-op');
  if (changes.length === 0) {
    out.push(`${c.green(c.bold(`No changes.`))} Target ${plan.target} matches stack ${plan.stack}.`);
    return out.join('\n');
  }
  out.push(
    `hpcdk will perform the following actions on target ${c.bold(plan.target)} for stack ${c.bold(plan.stack)}:`,
    '',
    'Resource actions are indicated with the following symbols:',
    `  ${c.green('+')} create    ${c.yellow('~')} update in place    ${c.red('-')} destroy`,
    `  ${c.green('>')} submit    ${c.red('x')} cancel            ${c.red('-/+')} replace (cancel, then submit)`,
    '',
  );
  const shownSweeps = new Set<string>();
  for (const r of changes) {
    if (r.group === undefined) {
      out.push(resourceBlock(r, c), '');
    } else if (!shownSweeps.has(r.group)) {
      shownSweeps.add(r.group);
      out.push(
        sweepBlock(
          r.group,
          plan.resources.filter((p) => p.group === r.group),
          c,
        ),
        '',
      );
    }
  }
  out.push(c.bold(summaryLine(plan)));
  const compute = computeLine(plan);
  if (compute) out.push(compute);
  const overrun = plan.budget?.ignored ? budgetReport(plan) : undefined;
  if (overrun) out.push('', c.yellow(`Warning (--ignore-budget): ${overrun}`));
  if (plan.lock) out.push('', c.yellow(`Note: the target is locked by ${describeLockOwner(plan.lock)}`));
  return out.join('\n');
}
