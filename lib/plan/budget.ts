import { runSpecOf, type ResourceRequest } from '../core/resource-spec.js';
import type { Budget } from '../core/cluster-profile.js';
import type { ManifestResource } from '../core/output.js';
import type {
  ResourceChange,
  BudgetFigure,
  ComputeFigures,
  PlanCompute,
  BudgetLimit,
  BudgetLimits,
  BudgetOverrun,
  BudgetConsumer,
  PlanBudget,
} from './types.js';

export type {
  BudgetFigure,
  ComputeFigures,
  PlanCompute,
  BudgetLimit,
  BudgetLimits,
  BudgetOverrun,
  BudgetConsumer,
  PlanBudget,
} from './types.js';

export const BUDGET_FIGURES: readonly BudgetFigure[] = ['gpuHours', 'cpuHours', 'nodeHours'];

/** How many consumers an overrun names. */
export const TOP_CONSUMERS = 5;

const SUBMITS = new Set(['submit', 'replace']);

/** Compute in unit-minutes (node-minutes, …): whole numbers, so sums are exact until they become hours. */
interface Minutes {
  node: number;
  cpu: number;
  gpu: Map<string, number>;
}

const emptyMinutes = (): Minutes => ({ node: 0, cpu: 0, gpu: new Map() });

function addMinutes(into: Minutes, m: Minutes): void {
  into.node += m.node;
  into.cpu += m.cpu;
  for (const [type, v] of m.gpu) into.gpu.set(type, (into.gpu.get(type) ?? 0) + v);
}

function requestMinutes(r: ResourceRequest, minutes: number): Minutes {
  const gpu = new Map<string, number>();
  if (r.gpus) gpu.set(r.gpus.type ?? 'any', r.gpus.count * r.nodes * minutes);
  return { node: r.nodes * minutes, cpu: r.cpus * minutes, gpu };
}

const hours = (minutes: number): number => Math.round((minutes / 60) * 1000) / 1000;

function toFigures(m: Minutes): ComputeFigures {
  const byType = [...m.gpu.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    nodeHours: hours(m.node),
    cpuHours: hours(m.cpu),
    gpuHours: hours(byType.reduce((sum, [, v]) => sum + v, 0)),
    gpuHoursByType: Object.fromEntries(byType.map(([type, v]) => [type, hours(v)])),
  };
}

/** The request a job or sweep point resource carries, if it carries one. */
export function requestOf(resource: ManifestResource): ResourceRequest | undefined {
  return runSpecOf(resource)?.request;
}

/** What one submission of `request` costs; undefined when it has no time limit. */
export function requestFigures(request: ResourceRequest): ComputeFigures | undefined {
  return request.timeMinutes === null ? undefined : toFigures(requestMinutes(request, request.timeMinutes));
}

/** The limits that apply: each figure's tightest among the sources (a stack's budget and its target's). */
export function budgetLimits(
  sources: ReadonlyArray<{ readonly budget?: Budget; readonly from: string }>,
): BudgetLimits {
  const limits: Partial<Record<BudgetFigure, BudgetLimit>> = {};
  for (const { budget, from } of sources) {
    for (const figure of BUDGET_FIGURES) {
      const limit = budget?.[figure];
      if (limit === undefined) continue;
      const current = limits[figure];
      if (current === undefined || limit < current.limit) limits[figure] = { limit, from };
    }
  }
  return limits;
}

/** Whether a job without a time limit makes `figure` unbounded: only if it asks for that kind of thing at all. */
function unboundedIn(figure: BudgetFigure, request: ResourceRequest): boolean {
  return figure !== 'gpuHours' || request.gpus !== null;
}

interface Submission {
  readonly change: ResourceChange;
  readonly request: ResourceRequest;
}

interface Consumer extends BudgetConsumer {
  /** The figures its jobs without a time limit make unbounded. */
  readonly unboundedFigures: ReadonlySet<BudgetFigure>;
}

function consumersOf(submissions: readonly Submission[]): Consumer[] {
  const byOwner = new Map<
    string,
    { kind: 'job' | 'sweep'; points: number; minutes: Minutes; unboundedFigures: Set<BudgetFigure> }
  >();
  for (const { change, request } of submissions) {
    const owner = change.group ?? change.address;
    const entry = byOwner.get(owner) ?? {
      kind: change.group === undefined ? 'job' : 'sweep',
      points: 0,
      minutes: emptyMinutes(),
      unboundedFigures: new Set(),
    };
    entry.points += 1;
    if (request.timeMinutes !== null) addMinutes(entry.minutes, requestMinutes(request, request.timeMinutes));
    else for (const f of BUDGET_FIGURES) if (unboundedIn(f, request)) entry.unboundedFigures.add(f);
    byOwner.set(owner, entry);
  }
  return [...byOwner.entries()].map(([address, e]) => ({
    address,
    kind: e.kind,
    ...(e.kind === 'sweep' ? { points: e.points } : {}),
    compute: toFigures(e.minutes),
    ...(e.unboundedFigures.size > 0 ? { unbounded: true } : {}),
    unboundedFigures: e.unboundedFigures,
  }));
}

/** The consumers that matter for these overruns, largest first: unbounded ones, then by each overrun figure in turn. */
function topConsumers(consumers: readonly Consumer[], exceeded: readonly BudgetOverrun[]): BudgetConsumer[] {
  const figures = exceeded.map((e) => e.figure);
  const isUnbounded = (c: Consumer) => figures.some((f) => c.unboundedFigures.has(f));
  return consumers
    .filter((c) => isUnbounded(c) || figures.some((f) => c.compute[f] > 0))
    .sort((a, b) => {
      if (isUnbounded(a) !== isUnbounded(b)) return isUnbounded(a) ? -1 : 1;
      for (const f of figures) if (a.compute[f] !== b.compute[f]) return b.compute[f] - a.compute[f];
      return a.address < b.address ? -1 : a.address > b.address ? 1 : 0;
    })
    .slice(0, TOP_CONSUMERS)
    .map(({ unboundedFigures: _figures, ...consumer }) => consumer);
}

export interface BudgetedPlan {
  /** The changes, each submission with the compute it requests. */
  readonly resources: ResourceChange[];
  readonly compute: PlanCompute;
  /** Present when limits apply. */
  readonly budget?: PlanBudget;
}

/**
 * The compute a plan requests, per resource and in all, counting only what it
 * submits, checked against `limits`. Pure.
 */
export function budgetPlan(
  changes: readonly ResourceChange[],
  wanted: readonly ManifestResource[],
  limits: BudgetLimits = {},
  ignored = false,
): BudgetedPlan {
  const requests = new Map<string, ResourceRequest>();
  for (const r of wanted) {
    const request = requestOf(r);
    if (request) requests.set(r.address, request);
  }
  const submissions: Submission[] = [];
  const total = emptyMinutes();
  const resources = changes.map((change) => {
    const request = requests.get(change.address);
    if (!request || !SUBMITS.has(change.action)) return change;
    submissions.push({ change, request });
    const figures = requestFigures(request);
    if (!figures) return change;
    addMinutes(total, requestMinutes(request, request.timeMinutes!));
    return { ...change, compute: figures };
  });
  const unbounded = submissions.filter((s) => s.request.timeMinutes === null);
  const compute: PlanCompute = {
    ...toFigures(total),
    jobs: submissions.length,
    unbounded: unbounded.map((s) => s.change.address).sort(),
  };
  if (Object.keys(limits).length === 0) return { resources, compute };

  const exceeded: BudgetOverrun[] = [];
  for (const figure of BUDGET_FIGURES) {
    const limit = limits[figure];
    if (!limit) continue;
    if (unbounded.some((s) => unboundedIn(figure, s.request))) exceeded.push({ figure, requested: null, ...limit });
    else if (compute[figure] > limit.limit) exceeded.push({ figure, requested: compute[figure], ...limit });
  }
  const top = exceeded.length > 0 ? topConsumers(consumersOf(submissions), exceeded) : [];
  return { resources, compute, budget: { limits, exceeded, top, ...(ignored ? { ignored: true } : {}) } };
}

/** True when the plan's budget is exceeded and was not set aside with --ignore-budget. */
export function overBudget(budget: PlanBudget | undefined): boolean {
  return budget !== undefined && budget.exceeded.length > 0 && !budget.ignored;
}
