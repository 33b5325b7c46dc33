import type { Colors } from '../cli/output.js';
import type { Action, Plan, ResourceChange } from './plan.js';

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
      const colored = l.startsWith('+') && !l.startsWith('+++') ? c.green(l) : l.startsWith('-') && !l.startsWith('---') ? c.red(l) : l.startsWith('@@') ? c.cyan(l) : l;
      return `        ${colored}`;
    })
    .join('\n')
    .trimEnd();
}

function resourceBlock(r: ResourceChange, c: Colors): string {
  const color = colorFor(r.action, c);
  const lines = [`  ${c.bold(`# ${r.address}`)} ${VERB[r.action]} (${r.reason})`, `  ${color(SYMBOL[r.action].padStart(3))} ${r.kind} "${r.address}"`];
  for (const f of r.files) {
    if (f.action === 'no-op') continue;
    const sym = f.action === 'create' ? '+' : f.action === 'update' ? '~' : '-';
    lines.push(`        ${colorFor(f.action === 'create' ? 'create' : f.action === 'update' ? 'update' : 'delete', c)(sym)} ${f.path}`);
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
  const action: Action = submit.length > 0 ? (cancel.length > 0 ? 'replace' : 'submit') : changed.some((p) => p.action === 'cancel') ? 'cancel' : 'update';
  const verb = submit.length > 0 ? `${submit.length} of ${points.length} point${points.length === 1 ? '' : 's'} will be submitted` : `${changed.length} of ${points.length} points change`;
  const lines = [`  ${c.bold(`# ${sweep}`)}: ${verb}`, `  ${colorFor(action, c)(SYMBOL[action].padStart(3))} sweep "${sweep}"`];
  const files = new Map<string, ResourceChange['files'][number]>();
  for (const p of changed) for (const f of p.files) if (f.action !== 'no-op') files.set(f.path, f);
  for (const f of files.values()) {
    const sym = f.action === 'create' ? '+' : f.action === 'update' ? '~' : '-';
    lines.push(`        ${colorFor(f.action === 'create' ? 'create' : f.action === 'update' ? 'update' : 'delete', c)(sym)} ${f.path}`);
    if (f.diff) lines.push(indentDiff(f.diff, c));
  }
  for (const p of changed.slice(0, POINTS_SHOWN)) {
    lines.push(`        ${colorFor(p.action, c)(SYMBOL[p.action])} ${p.address.slice(sweep.length + 1)} (${p.reason})`);
  }
  if (changed.length > POINTS_SHOWN) lines.push(`        … and ${changed.length - POINTS_SHOWN} more`);
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
    out.push(c.green(c.bold(`No changes.`)) + ` Target ${plan.target} matches stack ${plan.stack}.`);
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
      out.push(sweepBlock(r.group, plan.resources.filter((p) => p.group === r.group), c), '');
    }
  }
  out.push(c.bold(summaryLine(plan)));
  if (plan.lock) out.push('', c.yellow(`Note: the target is locked by ${plan.lock}`));
  return out.join('\n');
}
