import type { StackSynthesis } from '../synth/synthesize.js';
import type { TargetConnection } from '../targets/connection.js';
import { computePlan, type Plan, type PlanOptions } from './plan.js';
import { readTarget, type ActualState } from './read-target.js';

/** The files a synthesis deploys (everything but the manifest), path → sha256. */
export function expectedFiles(synthesis: StackSynthesis): Map<string, string> {
  return new Map(synthesis.manifest.artifacts.map((a) => [a.path, a.sha256]));
}

/** Reads the target once and compares: the whole of `hpcdk plan` for one stack. */
export async function planStack(conn: TargetConnection, synthesis: StackSynthesis, options: PlanOptions = {}): Promise<{ plan: Plan; actual: ActualState }> {
  const actual = await readTarget(conn, synthesis.stack, expectedFiles(synthesis));
  return { plan: computePlan(synthesis, actual, options), actual };
}
