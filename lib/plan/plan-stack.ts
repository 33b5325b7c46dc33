import type { StackSynthesis } from '../synth/synthesize.js';
import type { TargetConnection } from '../targets/target-connection.js';
import { computePlan, type Plan, type PlanOptions } from './plan.js';
import { newestJobs, type GateEvidence } from './gate.js';
import {
  readTarget,
  type ActualState,
  type BuildToDescribe,
  type PackageLockToRead,
  type ScriptToTest,
} from './read-target.js';
import { buildOf } from '../core/resource-spec.js';
import { HpcdkError } from '../core/hpcdk-error.js';

/** The files a synthesis deploys (everything but the manifest), path → sha256. */
export function expectedFiles(synthesis: StackSynthesis): Map<string, string> {
  return new Map(synthesis.manifest.artifacts.map((a) => [a.path, a.sha256]));
}

/** The batch scripts of a synthesis, for the scheduler's dry run. */
export function batchScripts(synthesis: StackSynthesis): ScriptToTest[] {
  return synthesis.artifacts
    .filter((a) => a.kind === 'sbatch')
    .map((a) => ({ path: a.path, sha256: a.sha256, content: a.content }));
}

/** The lock commands of the synthesis's buildable resources, to re-run during the read. */
export function packageLockCommands(synthesis: StackSynthesis): PackageLockToRead[] {
  return synthesis.manifest.resources.flatMap((r) => {
    const command = buildOf(r)?.lock;
    return command ? [{ address: r.address, command }] : [];
  });
}

/** Build scripts that can describe how they would build on the target. */
export function buildsToDescribe(synthesis: StackSynthesis): BuildToDescribe[] {
  return synthesis.manifest.resources.flatMap((r) => {
    const build = buildOf(r);
    if (!build?.describe) return [];
    const script = synthesis.artifacts.find((a) => a.path === build.script);
    return script ? [{ address: r.address, content: script.content }] : [];
  });
}

/** A script the scheduler refused, reported against the construct that rendered it. */
export class ScriptRefusedError extends HpcdkError {
  constructor(public readonly refusals: ReadonlyArray<{ construct: string; path: string; message: string }>) {
    super(refusals.map((r) => `[${r.construct}] ${r.message}`).join('\n'));
    this.name = 'ScriptRefusedError';
  }
}

/** Reads the target once and compares: the whole of `hpcdk plan` for one stack. */
export async function planStack(
  conn: TargetConnection,
  synthesis: StackSynthesis,
  options: PlanOptions = {},
): Promise<{ plan: Plan; actual: ActualState }> {
  // Refused before the read, which would write the helper: nothing is left on the target.
  if (!options.destroy) await conn.backend.refuseUnsupported(synthesis.stack, synthesis.manifest.resources);
  const actual = await readTarget(conn, {
    stack: synthesis.stack,
    expected: expectedFiles(synthesis),
    scripts: options.destroy ? [] : batchScripts(synthesis),
    packageLocks: packageLockCommands(synthesis),
    builds: options.destroy ? [] : buildsToDescribe(synthesis),
  });
  const byPath = new Map(synthesis.artifacts.map((a) => [a.path, a.construct]));
  const refusals = [...actual.refused].map(([path, message]) => ({
    construct: byPath.get(path) ?? path,
    path,
    message: `the scheduler refused ${path} (sbatch --test-only): ${message}`,
  }));
  for (const [address, path] of actual.buildPaths) {
    const resource = synthesis.manifest.resources.find((r) => r.address === address);
    if (!path.ok && resource && actual.recorded.built.get(address) !== resource.identity) {
      refusals.push({
        construct: resource.construct,
        path: address,
        message: `cannot be built on ${conn.profile.name}: ${path.text}`,
      });
    }
  }
  if (refusals.length > 0) throw new ScriptRefusedError(refusals);
  return { plan: computePlan(synthesis, actual, options), actual };
}

/** A gate target's state for the gates of another target's plan: one read (no dry runs), compared with its own synthesis. */
export async function readGateEvidence(conn: TargetConnection, synthesis: StackSynthesis): Promise<GateEvidence> {
  const actual = await readTarget(conn, { stack: synthesis.stack, expected: expectedFiles(synthesis) });
  return { plan: computePlan(synthesis, actual), newest: newestJobs(actual) };
}
