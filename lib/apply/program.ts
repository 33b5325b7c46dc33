import type { ManifestResource } from '../core/output.js';
import {
  ResourceKind,
  buildOf,
  isRunnable,
  isSweepPoint,
  type RunDependency,
  type Runnable,
} from '../core/resource-spec.js';
import { digestOf } from '../core/digest.js';
import type { Plan } from '../plan/plan.js';
import type { ChunkPoint } from '../render/params.js';
import { inputsLine } from '../state/journal.js';
import { isActive } from '../state/job-states.js';
import { PARAMS_DIR } from '../state/layout.js';
import type { ApplyProgram, FileStep, Payload, Submission, Upload } from '../targets/apply-program.js';
import { jobComment, type SubmitRequest } from '../targets/scheduler.js';
import type { TargetConnection } from '../targets/target-connection.js';
import type { SecretValue } from './secrets.js';

export type { Payload, Submission, Upload } from '../targets/apply-program.js';

/** Everything apply needs besides the plan: the rendered files, payloads and the resources' specs. */
export interface ApplyInputs {
  readonly plan: Plan;
  readonly uploads: readonly Upload[];
  readonly resources: readonly ManifestResource[];
  readonly payloads?: readonly Payload[];
  /** Secret values for this apply only: never saved with a plan. */
  readonly secrets?: readonly SecretValue[];
}

const ACTS_ON_FILES = new Set(['create', 'update', 'submit', 'replace']);
const REMOVES_FILES = new Set(['delete', 'cancel']);

/** The plan's file steps in order: uploads (each file once: points of a sweep share one script) and removals. */
export function fileSteps(inputs: ApplyInputs): FileStep[] {
  const wanted = new Map(inputs.uploads.map((u) => [u.path, u]));
  const uploaded = new Set<string>();
  const steps: FileStep[] = [];
  for (const r of inputs.plan.resources) {
    if (ACTS_ON_FILES.has(r.action)) {
      for (const f of r.files) {
        if (f.action === 'no-op' || uploaded.has(f.path)) continue;
        uploaded.add(f.path);
        const u = wanted.get(f.path);
        if (!u) throw new Error(`apply: no content for ${f.path}`);
        steps.push({ upload: u });
      }
    }
    if (REMOVES_FILES.has(r.action)) for (const f of r.files) steps.push({ remove: f.path });
  }
  return steps;
}

/** Resources to build, each after the ones it depends on (an image after the environment it installs). */
function buildOrder(plan: Plan, resources: readonly ManifestResource[]): ManifestResource[] {
  const toBuild = new Set(plan.resources.filter((r) => r.build).map((r) => r.address));
  return dependencyOrder(toBuild, resources);
}

function dependencyOrder(selected: ReadonlySet<string>, resources: readonly ManifestResource[]): ManifestResource[] {
  const byAddress = new Map(resources.map((r) => [r.address, r]));
  const ordered: ManifestResource[] = [];
  const seen = new Set<string>();
  const visit = (address: string) => {
    if (seen.has(address) || !selected.has(address)) return;
    seen.add(address);
    const r = byAddress.get(address)!;
    for (const d of r.dependsOn) visit(d);
    ordered.push(r);
  };
  for (const a of [...selected].sort()) visit(a);
  return ordered;
}

/** Jobs to submit, ordered so each comes after the jobs it depends on. */
function submissionOrder(plan: Plan, resources: readonly ManifestResource[]): Array<Runnable<ManifestResource>> {
  const toSubmit = new Set(
    plan.resources.filter((r) => r.action === 'submit' || r.action === 'replace').map((r) => r.address),
  );
  return dependencyOrder(toSubmit, resources).filter(isRunnable);
}

/** The plan as an apply program: what apply does on the target, in order, for the backend to carry out. */
export function applyProgram(conn: TargetConnection, inputs: ApplyInputs, operation: string): ApplyProgram {
  const { plan } = inputs;
  return {
    stack: plan.stack,
    serial: plan.serial,
    operation,
    files: fileSteps(inputs),
    payloads: inputs.payloads ?? [],
    builds: buildOrder(plan, inputs.resources).flatMap((r) => {
      const build = buildOf(r);
      // Plan marks for building only what has a build spec.
      return build === undefined
        ? []
        : [
            {
              address: r.address,
              kind: r.kind,
              identity: r.identity,
              build,
              inputsLine: inputsLine(r.address, r.inputs),
            },
          ];
    }),
    secrets: inputs.secrets ?? [],
    cancels: plan.resources.flatMap((r) => r.job?.cancel ?? []),
    submissions: submissions(conn, inputs),
    forgets: plan.resources
      .filter((r) => r.action === 'cancel' || (r.action === 'delete' && r.kind === ResourceKind.job))
      .map((r) => r.address),
  };
}

/**
 * A job's dependencies as the scheduler needs them: jobs submitted in this
 * apply (by address; a sweep stands for all of its chunks) or ids of jobs
 * still queued or running. One that already finished has been satisfied (or
 * never will be), and is left out.
 */
function resolveDependencies(
  plan: Plan,
  dependencies: readonly RunDependency[],
): Array<SubmitRequest['dependencies'][number]> {
  const out: Array<SubmitRequest['dependencies'][number]> = [];
  const seen = new Set<string>();
  for (const d of dependencies) {
    for (const m of plan.resources.filter((r) => r.address === d.address || r.group === d.address)) {
      if (m.action === 'submit' || m.action === 'replace') {
        const address = m.group ?? m.address;
        if (!seen.has(`${d.type}@${address}`)) out.push({ type: d.type, submittedAddress: address });
        seen.add(`${d.type}@${address}`);
      } else if (m.job?.jobId && m.job.state !== undefined && isActive(m.job.state)) {
        out.push({ type: d.type, jobId: m.job.jobId });
      }
    }
  }
  return out;
}

/** The plan's submissions, each after the jobs it depends on; a sweep's points as chunks. */
export function submissions(conn: TargetConnection, inputs: ApplyInputs): Submission[] {
  const { plan } = inputs;
  const deployment = conn.deployment(plan.stack);
  const emittedSweeps = new Set<string>();
  const out: Submission[] = [];
  for (const r of submissionOrder(plan, inputs.resources)) {
    const spec = r.spec;
    const base = {
      script: spec.script,
      jobName: spec.jobName,
      stdout: spec.stdout,
      stderr: spec.stderr,
      dependencies: resolveDependencies(plan, spec.dependencies),
      singleton: spec.singleton,
    };
    if (r.kind !== ResourceKind.sweepPoint) {
      out.push({
        request: {
          ...base,
          address: r.address,
          identity: r.identity,
          comment: jobComment(deployment, r.address, r.identity),
        },
        inputsLine: inputsLine(r.address, r.inputs),
      });
      continue;
    }
    const sweep = r.spec.sweep;
    if (emittedSweeps.has(sweep)) continue;
    emittedSweeps.add(sweep);
    out.push(...sweepChunks(conn, inputs, deployment, sweep, base));
  }
  return out;
}

/**
 * A sweep's points to submit, as job arrays of at most the target's
 * MaxArraySize tasks. Each chunk gets a params file holding only its points;
 * its comment carries the chunk identity (the hash of its points'
 * identities), so a chunk submitted by a killed apply is found, not repeated.
 */
function sweepChunks(
  conn: TargetConnection,
  inputs: ApplyInputs,
  deployment: string,
  sweep: string,
  base: Omit<SubmitRequest, 'address' | 'identity' | 'comment'>,
): Submission[] {
  const byAddress = new Map(inputs.resources.filter(isSweepPoint).map((m) => [m.address, m]));
  const pointsToSubmit = inputs.plan.resources
    .filter((r) => r.group === sweep && (r.action === 'submit' || r.action === 'replace'))
    .flatMap((r) => byAddress.get(r.address) ?? [])
    .sort((a, b) => (a.address < b.address ? -1 : 1));
  const chunkSize = conn.profile.spec.maxArraySize;
  const throttle = pointsToSubmit[0]?.spec.throttle ?? undefined;
  const out: Submission[] = [];
  for (let start = 0; start < pointsToSubmit.length; start += chunkSize) {
    const chunk = pointsToSubmit.slice(start, start + chunkSize);
    const chunkId = digestOf(chunk.map((p) => p.identity).sort());
    const points: ChunkPoint[] = chunk.map((p, index) => ({
      index,
      identity: p.identity,
      address: p.address,
      key: p.spec.key,
      params: p.spec.params,
    }));
    const request: SubmitRequest = {
      ...base,
      address: sweep,
      identity: `chunk-${chunkId}`,
      comment: jobComment(deployment, sweep, `chunk-${chunkId}`),
      array: { size: chunk.length, ...(throttle ? { throttle } : {}) },
      paramsFile: `${PARAMS_DIR}/${sweep}/${chunkId.slice(0, 16)}.sh`,
    };
    // Points share the sweep's job template; their own input, the params, is in their address.
    out.push({
      request,
      chunk: { id: chunkId, sweep, points },
      inputsLine: inputsLine(sweep, chunk[0]!.inputs, ['template']),
    });
  }
  return out;
}

/** How many `@@step`/`@@submitted` lines the script will print, for the progress display. */
export function countSteps(plan: Plan, maxArraySize = 1001): number {
  let n = 0;
  const files = new Set<string>();
  const sweeps = new Map<string, number>();
  for (const r of plan.resources)
    if (r.group && (r.action === 'submit' || r.action === 'replace'))
      sweeps.set(r.group, (sweeps.get(r.group) ?? 0) + 1);
  for (const count of sweeps.values()) n += Math.ceil(count / maxArraySize);
  for (const r of plan.resources) {
    if (ACTS_ON_FILES.has(r.action)) {
      for (const f of r.files) if (f.action !== 'no-op' && !files.has(f.path)) files.add(f.path);
    }
    if (REMOVES_FILES.has(r.action)) n += r.files.length;
    n += r.job?.cancel.length ?? 0;
    if (r.build) n += 1;
    if ((r.action === 'submit' || r.action === 'replace') && !r.group) n += 1;
  }
  return n + files.size;
}
