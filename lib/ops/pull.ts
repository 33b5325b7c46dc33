/**
 * `hpcdk pull`: runs brought back into the project, as units (a job, or a
 * sweep with all its points). How they travel is the backend's
 * (lib/targets/shell/pull.ts).
 */
import type { ManifestResource } from '../core/output.js';
import { isRunnable, isSweepPoint, runGroup } from '../core/resource-spec.js';
import type { PullUnit } from '../targets/backend.js';

export type { PullUnit } from '../targets/backend.js';

/** The project folder runs are pulled into: `runs/<stack>/<target>/<address>/{logs,outputs/<i>}/`. */
export const RUNS_DIR = 'runs';

/**
 * The jobs and sweeps of a synthesis, all of them or those named (a sweep
 * point stands for its sweep). Names that are neither are returned apart.
 */
export function pullUnits(
  resources: readonly ManifestResource[],
  named: readonly string[],
): { units: PullUnit[]; unknown: string[] } {
  const all = new Map<string, PullUnit>();
  const pointOf = new Map<string, string>();
  for (const r of resources) {
    if (!isRunnable(r)) continue;
    const address = runGroup(r);
    if (isSweepPoint(r)) pointOf.set(r.address, address);
    if (all.has(address)) continue;
    const outputs = r.spec.outputs.map((o) => o.to);
    all.set(address, { address, kind: isSweepPoint(r) ? 'sweep' : 'job', outputs });
  }
  if (named.length === 0) return { units: [...all.values()], unknown: [] };
  const picked = new Map<string, PullUnit>();
  const unknown: string[] = [];
  for (const name of named) {
    const unit = all.get(name) ?? all.get(pointOf.get(name) ?? '');
    if (unit) picked.set(unit.address, unit);
    else unknown.push(name);
  }
  return { units: [...picked.values()], unknown };
}
