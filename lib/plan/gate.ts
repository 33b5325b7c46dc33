/**
 * Promotion gates ("don't start a 2-day A100 job without testing on
 * L4 first"). A job or sweep with `gate: { completedOn: A }` is submitted on
 * another target B only once the same resource, at its current identity on A
 * (A's own synthesis: the same code bundle and environment content), ran to
 * COMPLETED there. The verdicts are computed here from A's plan; reading A is
 * the caller's.
 */
import type { ManifestResource } from '../core/output.js';
import { runSpecOf, type GateSpec } from '../core/resource-spec.js';
import type { ActualState } from './read-target.js';
import type { ResourceChange, Plan } from './types.js';

export type { GateResult } from './types.js';

export type { GateSpec } from '../core/resource-spec.js';

/** The newest job a target knows for an address, of whatever version. */
export interface KnownJob {
  readonly id: string;
  readonly state: string;
}

/** What the gate's target says: its plan for its own synthesis, and each address's newest job of any version. */
export interface GateEvidence {
  readonly plan: Plan;
  readonly newest: ReadonlyMap<string, KnownJob>;
}

const SUBMITS = new Set(['submit', 'replace']);

export function gateOf(resource: ManifestResource | undefined): GateSpec | undefined {
  return resource !== undefined ? runSpecOf(resource)?.gate : undefined;
}

/** The targets whose state this plan's gates need: only those of resources it would submit. */
export function gateTargets(plan: Plan, wanted: readonly ManifestResource[]): string[] {
  const byAddress = new Map(wanted.map((r) => [r.address, r]));
  const targets = plan.resources
    .filter((c) => SUBMITS.has(c.action))
    .map((c) => gateOf(byAddress.get(c.address))?.completedOn);
  return [...new Set(targets.filter((t): t is string => t !== undefined))].sort();
}

/** Each address's newest job in a target's journal (jobs of every version). */
export function newestJobs(actual: Pick<ActualState, 'recorded' | 'jobs'>): Map<string, KnownJob> {
  const out = new Map<string, KnownJob>();
  for (const [address, history] of actual.recorded.jobs) {
    const last = history.at(-1);
    if (last) out.set(address, { id: last.id, state: actual.jobs.get(last.id)?.state ?? 'UNKNOWN' });
  }
  return out;
}

/** Whether `change` (the resource in the gate target's plan) shows a COMPLETED run at that target's current identity. */
export function gateVerdict(
  target: string,
  change: ResourceChange | undefined,
  newest: KnownJob | undefined,
): { met: boolean; reason: string } {
  const on = `on ${target}`;
  if (!change) return { met: false, reason: `not in the stack ${on}` };
  const job = change.job;
  if (job?.jobId !== undefined && !job.outdated) {
    const state = job.state ?? 'UNKNOWN';
    const ended = `${state}${job.exitCode !== undefined ? ` (exit ${job.exitCode})` : ''}`;
    if (state === 'COMPLETED') return { met: true, reason: `completed ${on} (job ${job.jobId})` };
    if (change.action === 'no-op' || change.action === 'update') {
      if (job.exhausted)
        return { met: false, reason: `failed ${on} (its job ${job.jobId} there is ${ended}, no attempts left)` };
      return { met: false, reason: `${state.toLowerCase()} ${on} (job ${job.jobId})` };
    }
    if (job.attempts > 0) return { met: false, reason: `not completed ${on} (its job ${job.jobId} there is ${ended})` };
  }
  // No job at the current identity on A: an older version ran, or nothing did.
  const older = job?.outdated ? { id: job.jobId!, state: job.state ?? 'UNKNOWN' } : newest;
  if (older)
    return {
      met: false,
      reason: `not run ${on} at this content (its job ${older.id} there is ${older.state}, of another version)`,
    };
  return { met: false, reason: `never submitted ${on}` };
}

/**
 * The plan with each gated resource's verdict: evaluated for what it would
 * submit, "not evaluated" for the rest. Pure: the gate targets' evidence is given.
 */
export function applyGates(
  plan: Plan,
  wanted: readonly ManifestResource[],
  evidence: ReadonlyMap<string, GateEvidence>,
): Plan {
  const byAddress = new Map(wanted.map((r) => [r.address, r]));
  let gated = false;
  const resources = plan.resources.map((change): ResourceChange => {
    const gate = gateOf(byAddress.get(change.address));
    if (!gate) return change;
    gated = true;
    const target = gate.completedOn;
    if (!SUBMITS.has(change.action))
      return { ...change, gate: { target, met: null, reason: `not evaluated: nothing to submit on ${plan.target}` } };
    const tier = evidence.get(target);
    if (!tier) return { ...change, gate: { target, met: false, reason: `${target} was not read` } };
    const there = tier.plan.resources.find((r) => r.address === change.address);
    return { ...change, gate: { target, ...gateVerdict(target, there, tier.newest.get(change.address)) } };
  });
  return gated ? { ...plan, resources } : plan;
}

/** Reads a gate target's state (one round trip there): the caller opens and closes the connection. */
export type ReadGateTarget = (target: string) => Promise<GateEvidence>;

/** Evaluates the plan's gates, reading each gate target once, and only when something gated is to be submitted. */
export async function evaluateGates(
  plan: Plan,
  wanted: readonly ManifestResource[],
  read: ReadGateTarget,
): Promise<Plan> {
  const evidence = new Map<string, GateEvidence>();
  for (const target of gateTargets(plan, wanted)) evidence.set(target, await read(target));
  return applyGates(plan, wanted, evidence);
}

/** The submissions a plan holds back: gated, to be submitted, and not met. */
export function unmetGates(plan: Plan): ResourceChange[] {
  return plan.resources.filter((r) => r.gate?.met === false && SUBMITS.has(r.action));
}
