/**
 * A plan as data: what apply would do, why, and what it costs. Types only,
 * apart from the code that computes plans (plan.ts, budget.ts, gate.ts,
 * drift.ts), so every module that reads a plan imports this one and nothing
 * that imports it back. The human view is rendered from these same objects.
 */
import type { ManifestResource } from '../core/output.js';
import type { ResourceKind } from '../core/resource-spec.js';

export type Action = 'create' | 'update' | 'replace' | 'delete' | 'submit' | 'cancel' | 'no-op';

export interface FileChange {
  readonly path: string;
  readonly action: 'create' | 'update' | 'delete' | 'no-op';
  /** Unified diff (deployed → wanted) for updates, when the deployed file could be read. */
  readonly diff?: string;
}

export interface JobStatus {
  /** The job this plan is about (the newest with this identity, or the outdated one). */
  readonly jobId?: string;
  readonly state?: string;
  readonly exitCode?: number;
  /** Submissions of the current identity so far. */
  readonly attempts: number;
  readonly maxAttempts: number;
  /** True when the running job is of an older identity and is left alone. */
  readonly outdated?: boolean;
  /** True when the job failed as often as it may. */
  readonly exhausted?: boolean;
  /** Jobs to cancel first (a pending outdated job, or a forced replace). */
  readonly cancel: readonly string[];
}

export interface ResourceChange {
  readonly address: string;
  readonly kind: ResourceKind;
  readonly action: Action;
  /** Why, in words: "new", "last attempt FAILED (exit 1)", "running (job 12)". */
  readonly reason: string;
  /**
   * What changed since it was last applied, when it changes because it is
   * different (not because it failed): its inputs by name (`run`,
   * `requirements`, a sweep's `template`…), `script` when only the rendering
   * did, and `<address> (dependency)` for what it depends on that changes too.
   */
  readonly changed?: readonly string[];
  readonly identity?: string;
  readonly files: readonly FileChange[];
  readonly job?: JobStatus;
  /** Apply builds it (an environment, an image) after uploading its files. */
  readonly build?: boolean;
  /** The sweep a point belongs to: points are shown, and submitted, per sweep. */
  readonly group?: string;
  /** What this submission requests (jobs and sweep points this plan submits, when their time limit is known). */
  readonly compute?: ComputeFigures;
  /** A promotion gate's verdict (see gate.ts), on gated jobs and sweep points. */
  readonly gate?: GateResult;
}

export interface DriftItem {
  readonly address: string;
  readonly kind: string;
  readonly message: string;
  readonly diff?: string;
}

export interface PlanSummary {
  readonly add: number;
  readonly change: number;
  readonly destroy: number;
  readonly submit: number;
  readonly cancel: number;
}

/** A plan: what apply would do, as data. The human view is rendered from this same object. */
export interface Plan {
  readonly format_version: string;
  readonly stack: string;
  readonly target: string;
  /** The journal's length when read; a saved plan applies only while it is unchanged. */
  readonly serial: number;
  readonly lock?: string;
  readonly resources: readonly ResourceChange[];
  readonly drift: readonly DriftItem[];
  readonly summary: PlanSummary;
  readonly changes: boolean;
  /** The compute the plan's submissions request. */
  readonly compute: PlanCompute;
  /** The limits that apply and what exceeds them; absent when no budget is set. */
  readonly budget?: PlanBudget;
}

export interface PlanOptions {
  /** Addresses to cancel (if active) and submit again whatever their state. */
  readonly replace?: readonly string[];
  /** Plan to remove everything the stack deployed and cancel what it submitted. */
  readonly destroy?: boolean;
  /** The compute budget the submissions must keep to. */
  readonly budget?: BudgetLimits;
  /** Record an overrun without letting it stop apply (--ignore-budget). */
  readonly ignoreBudget?: boolean;
}

/** The figures a budget can limit. */
export type BudgetFigure = 'nodeHours' | 'cpuHours' | 'gpuHours';

/** Compute, in hours (rounded to thousandths). */
export interface ComputeFigures {
  readonly nodeHours: number;
  readonly cpuHours: number;
  readonly gpuHours: number;
  /** GPU-hours by GPU type; `any` for GPUs asked for without a type. */
  readonly gpuHoursByType: Readonly<Record<string, number>>;
}

/** What a plan requests in all: only what it submits (a sweep's points still to run, not all of them). */
export interface PlanCompute extends ComputeFigures {
  /** Submissions counted; each sweep point is one array task. */
  readonly jobs: number;
  /** Submitted jobs with no time limit, neither their own nor their partition's: their hours cannot be counted. */
  readonly unbounded: readonly string[];
}

/** One limit, and who set it (`stack rsm`, `target tier2-a100`). */
export interface BudgetLimit {
  readonly limit: number;
  readonly from: string;
}

export type BudgetLimits = Readonly<Partial<Record<BudgetFigure, BudgetLimit>>>;

/** A figure over its limit; `requested` is null when a job without a time limit makes it unbounded. */
export interface BudgetOverrun {
  readonly figure: BudgetFigure;
  readonly requested: number | null;
  readonly limit: number;
  readonly from: string;
}

/** A job or a whole sweep, with what its submissions in this plan request. */
export interface BudgetConsumer {
  readonly address: string;
  readonly kind: 'job' | 'sweep';
  /** Sweep points submitted. */
  readonly points?: number;
  readonly compute: ComputeFigures;
  /** It has no time limit: its hours are not counted, and may be any number. */
  readonly unbounded?: boolean;
}

export interface PlanBudget {
  readonly limits: BudgetLimits;
  readonly exceeded: readonly BudgetOverrun[];
  /** When exceeded: the jobs and sweeps requesting the most, largest first. */
  readonly top: readonly BudgetConsumer[];
  /** The plan was made with --ignore-budget: an overrun does not stop apply. */
  readonly ignored?: boolean;
}

/** A gate's verdict, on the ResourceChange it gates. */
export interface GateResult {
  /** The target the resource must have completed on first. */
  readonly target: string;
  /** Whether it has; null when not evaluated because this plan does not submit the resource (it never blocks then). */
  readonly met: boolean | null;
  /** `completed on tier1-l4 (job 123)`, `never submitted on tier1-l4`, … */
  readonly reason: string;
}

/** Checks one built resource's recorded lock against what it declares. */
export type DriftChecker = (resource: ManifestResource, lock: string) => DriftItem[];
