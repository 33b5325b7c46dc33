import type { Colors } from './colors.js';
import { unmetGates, type GateResult } from '../plan/gate.js';
import type { Plan, ResourceChange } from '../plan/plan.js';

/** `gate: completed on tier1-l4 (job 123) ✓`, `gate: never submitted on tier1-l4 ✗`. */
export function gateLine(gate: GateResult, c: Colors): string {
  if (gate.met === null) return `gate (completed on ${gate.target}): ${gate.reason}`;
  return gate.met ? c.green(`gate: ${gate.reason} ✓`) : c.red(`gate: ${gate.reason} ✗`);
}

const SHOWN = 3;

/** A sweep's gates in one line: all met, or how many are not and the first few reasons. */
export function sweepGateLine(points: readonly ResourceChange[], c: Colors): string | undefined {
  const gates = points.map((p) => p.gate).filter((g): g is GateResult => g !== undefined && g.met !== null);
  if (gates.length === 0) return undefined;
  const target = gates[0]!.target;
  const unmet = points.filter((p) => p.gate?.met === false);
  if (unmet.length === 0) return c.green(`gate: every point to submit completed on ${target} ✓`);
  return c.red(`gate: ${unmet.length} of ${gates.length} points not completed on ${target} ✗`);
}

/** Why a plan is held back by its gates, naming each gated submission; undefined when none is. */
export function gateReport(plan: Plan): string | undefined {
  const unmet = unmetGates(plan);
  if (unmet.length === 0) return undefined;
  const lines = [
    `Stack ${plan.stack} on ${plan.target} is gated: these submissions must first complete on another target.`,
  ];
  const sweeps = new Map<string, ResourceChange[]>();
  for (const r of unmet) {
    if (r.group === undefined) lines.push(`  ${r.address}: ${r.gate!.reason}`);
    else sweeps.set(r.group, [...(sweeps.get(r.group) ?? []), r]);
  }
  for (const [sweep, points] of sweeps) {
    const named = points.slice(0, SHOWN).map((p) => `${p.address.slice(sweep.length + 1)}: ${p.gate!.reason}`);
    const more = points.length > SHOWN ? `; … ${points.length - SHOWN} more` : '';
    lines.push(
      `  sweep ${sweep} (${points.length} point${points.length === 1 ? '' : 's'}): ${named.join('; ')}${more}`,
    );
  }
  const targets = [...new Set(unmet.map((r) => r.gate!.target))];
  lines.push(
    `Apply the stack on ${targets.join(' and ')} first (hpcdk apply ${plan.stack} -t ${targets[0]}) and let it complete.`,
  );
  return lines.join('\n');
}
