import { createTwoFilesPatch } from 'diff';
import type { ManifestResource } from '../core/output.js';
import { ResourceKind, buildOf, isRunnable, isSweepPoint, runGroup, type Runnable } from '../core/resource-spec.js';
import { budgetPlan } from './budget.js';
import { checkLockDrift } from './drift.js';
import type { StackSynthesis } from '../synth/synthesize.js';
import { isActive, RESUBMITTABLE_STATES, STARTED_STATES } from '../state/job-states.js';
import { parseComment } from '../targets/scheduler.js';
import { shortDigest, type JobRecord } from '../state/journal.js';
import type { ActualState } from './read-target.js';
import type { FileChange, ResourceChange, DriftItem, PlanSummary, Plan, PlanOptions } from './types.js';

export type {
  Action,
  FileChange,
  JobStatus,
  ResourceChange,
  DriftItem,
  PlanSummary,
  Plan,
  PlanOptions,
} from './types.js';

/** Bumped when the plan's JSON shape changes in a way readers must know about. */
export const PLAN_FORMAT_VERSION = '1';

function describeState(state: string, exitCode: number | undefined): string {
  return exitCode !== undefined && state !== 'COMPLETED' ? `${state} (exit ${exitCode})` : state;
}

function fileChanges(
  resource: ManifestResource,
  wantedContent: ReadonlyMap<string, string>,
  actual: ActualState,
  shaByPath: ReadonlyMap<string, string>,
): FileChange[] {
  return resource.artifacts.map((path) => {
    const wantSha = shaByPath.get(path)!;
    const have = actual.files.get(path);
    if (have === undefined) return { path, action: 'create' as const };
    if (have === wantSha) return { path, action: 'no-op' as const };
    const old = actual.contents.get(path);
    return {
      path,
      action: 'update' as const,
      ...(old !== undefined
        ? { diff: createTwoFilesPatch(path, path, old, wantedContent.get(path)!, 'deployed', 'wanted') }
        : {}),
    };
  });
}

/**
 * Jobs in the queue that carry this deployment's comment but that the journal
 * does not know: submitted by an apply killed before it wrote the journal.
 * Found once for all addresses (a sweep has thousands).
 */
function adoptedJobs(actual: ActualState): Map<string, JobRecord[]> {
  const journaled = new Set([...actual.recorded.jobs.values()].flat().map((j) => j.id));
  const adopted = new Map<string, JobRecord[]>();
  for (const job of actual.jobs.values()) {
    if (journaled.has(job.id) || actual.recorded.cancelled.has(job.id) || actual.recorded.retired.has(job.id)) continue;
    const tag = parseComment(actual.deployment, job.comment);
    if (!tag) continue;
    // An array chunk: its task index names the point, as the chunk's journal line listed them.
    const chunk = actual.recorded.chunks.get(`${tag.address}@${tag.identity}`);
    const task = /_(\d+)$/.exec(job.id);
    const point = chunk && task ? chunk[Number(task[1])] : undefined;
    if (chunk && !point) continue;
    const { address, identity } = point ?? tag;
    adopted.set(address, [
      ...(adopted.get(address) ?? []),
      { address, identity, id: job.id, epoch: Number.MAX_SAFE_INTEGER },
    ]);
  }
  return adopted;
}

/** Every job the target knows for `address`: journal records, then jobs found by their comment. */
function jobHistory(
  address: string,
  actual: ActualState,
  adopted: ReadonlyMap<string, readonly JobRecord[]>,
): JobRecord[] {
  return [...(actual.recorded.jobs.get(address) ?? []), ...(adopted.get(address) ?? [])];
}

function planJob(
  r: Runnable<ManifestResource>,
  files: FileChange[],
  actual: ActualState,
  adopted: ReadonlyMap<string, readonly JobRecord[]>,
  replace: boolean,
): { change: ResourceChange; drift?: DriftItem } {
  const maxAttempts = r.spec.maxAttempts;
  const history = jobHistory(r.address, actual, adopted);
  const same = history.filter((h) => h.identity === r.identity);
  const latest = same.at(-1);
  const base = { address: r.address, kind: r.kind, identity: r.identity, files };
  const stateOf = (id: string) => actual.jobs.get(id);
  const activeIds = history.map((h) => h.id).filter((id) => isActive(stateOf(id)?.state ?? 'UNKNOWN'));

  if (replace) {
    return {
      change: {
        ...base,
        action: activeIds.length > 0 ? 'replace' : 'submit',
        reason: 'replacement requested',
        job: { attempts: 0, maxAttempts, cancel: activeIds },
      },
    };
  }
  if (latest) {
    const job = stateOf(latest.id);
    const state = job?.state ?? 'UNKNOWN';
    const exitCode = job?.exitCode;
    const status = {
      jobId: latest.id,
      state,
      ...(exitCode !== undefined ? { exitCode } : {}),
      attempts: same.length,
      maxAttempts,
      cancel: [],
    };
    const cancelledByHand = state === 'CANCELLED' && !actual.recorded.cancelled.has(latest.id);
    const drift: DriftItem | undefined = cancelledByHand
      ? { address: r.address, kind: r.kind, message: `job ${latest.id} was cancelled outside hpcdk` }
      : state === 'UNKNOWN'
        ? {
            address: r.address,
            kind: r.kind,
            message: `job ${latest.id} is gone from the scheduler without an exit record`,
          }
        : undefined;
    if (isActive(state))
      return {
        change: {
          ...base,
          action: files.some((f) => f.action !== 'no-op') ? 'update' : 'no-op',
          reason: `${state.toLowerCase()} (job ${latest.id})`,
          job: status,
        },
      };
    if (state === 'COMPLETED')
      return {
        change: {
          ...base,
          action: files.some((f) => f.action !== 'no-op') ? 'update' : 'no-op',
          reason: `completed (job ${latest.id})`,
          job: status,
        },
      };
    if (RESUBMITTABLE_STATES.has(state) && same.length < maxAttempts) {
      return {
        change: {
          ...base,
          action: 'submit',
          reason: `last attempt ${describeState(state, exitCode)} (job ${latest.id}); attempt ${same.length + 1} of ${maxAttempts}`,
          job: status,
        },
        ...(drift ? { drift } : {}),
      };
    }
    return {
      change: {
        ...base,
        action: 'no-op',
        reason: `failed: ${describeState(state, exitCode)} after ${same.length} attempt${same.length === 1 ? '' : 's'}; apply --replace ${r.address} submits it again`,
        job: { ...status, exhausted: true },
      },
      ...(drift ? { drift } : {}),
    };
  }
  const older = history.at(-1);
  if (older) {
    const job = stateOf(older.id);
    const state = job?.state ?? 'UNKNOWN';
    if (STARTED_STATES.has(state)) {
      return {
        change: {
          ...base,
          action: 'no-op',
          reason: `outdated (running job ${older.id} is of an older version; apply --replace ${r.address} cancels and resubmits it)`,
          job: { jobId: older.id, state, attempts: 0, maxAttempts, outdated: true, cancel: [] },
        },
      };
    }
    if (isActive(state)) {
      return {
        change: {
          ...base,
          action: 'replace',
          reason: `changed while pending (job ${older.id} is cancelled and submitted again)`,
          job: { jobId: older.id, state, attempts: 0, maxAttempts, cancel: [older.id] },
        },
      };
    }
    return {
      change: {
        ...base,
        action: 'submit',
        reason: `changed since job ${older.id} (${state})`,
        job: { attempts: 0, maxAttempts, cancel: [] },
      },
    };
  }
  return { change: { ...base, action: 'submit', reason: 'new', job: { attempts: 0, maxAttempts, cancel: [] } } };
}

/** `: podman build from Dockerfile, then apptainer build from docker-archive`, where the target told. */
function howBuilt(actual: ActualState, address: string): string {
  const path = actual.buildPaths.get(address);
  return path?.ok && path.text !== '' ? ` with ${path.text}` : '';
}

/** Actions taken because a resource differs from what was applied (not because a job failed). */
function changedSinceApplied(r: ResourceChange, recordedIdentity: string | undefined): boolean {
  if (r.action === 'no-op' || r.action === 'delete' || r.action === 'cancel') return false;
  if (r.build) return r.action === 'update';
  return recordedIdentity !== undefined && recordedIdentity !== r.identity;
}

/**
 * Says why each changed resource changes: the inputs whose digests differ
 * from the `inputs` line apply journaled, and the dependencies that change
 * in this same plan. Mutates `resources` in place (they are fresh objects).
 */
function explainChanges(resources: ResourceChange[], wanted: readonly ManifestResource[], actual: ActualState): void {
  const byAddress = new Map(wanted.map((r) => [r.address, r]));
  const changing = new Set(resources.filter((r) => r.action !== 'no-op').map((r) => r.group ?? r.address));
  for (const [i, change] of resources.entries()) {
    const r = byAddress.get(change.address);
    if (!r) continue;
    const key = change.group ?? change.address;
    const history = actual.recorded.jobs.get(change.address);
    const recordedIdentity = change.build ? actual.recorded.built.get(change.address) : history?.at(-1)?.identity;
    if (!changedSinceApplied(change, recordedIdentity)) continue;
    const recorded = actual.recorded.inputs.get(key);
    const names = change.group ? ['template'] : Object.keys(r.inputs).sort();
    const differ = recorded ? names.filter((n) => recorded.get(n) !== shortDigest(r.inputs[n])) : [];
    const deps = r.dependsOn.filter((d) => changing.has(d)).map((d) => `${d} (dependency)`);
    const fileChanged = change.files.some((f) => f.action === 'update');
    const why = [...differ, ...deps];
    if (why.length === 0 && fileChanged) why.push('script');
    if (why.length > 0) resources[i] = { ...change, changed: why };
  }
}

/** Compares what the stack wants with what the target has. Pure: the same inputs give the same plan. */
export function computePlan(desired: StackSynthesis, actual: ActualState, options: PlanOptions = {}): Plan {
  const replace = new Set(options.replace ?? []);
  const resources: ResourceChange[] = [];
  const drift: DriftItem[] = [];
  const wanted = options.destroy ? [] : desired.manifest.resources;
  const unknown = [...replace].filter((a) => !wanted.some((r) => r.address === a || runGroup(r) === a));
  if (unknown.length > 0) throw new Error(`--replace: no resource ${unknown.join(', ')} in stack ${desired.stack}`);

  const adopted = adoptedJobs(actual);
  const shaByPath = new Map(desired.manifest.artifacts.map((a) => [a.path, a.sha256]));
  // The rendered files, without the manifest: serialising that is needed for snapshots only.
  const wantedContent = new Map(desired.artifacts.map((a) => [a.path, a.content]));
  for (const r of wanted) {
    const files = fileChanges(r, wantedContent, actual, shaByPath);
    const anyFile = files.some((f) => f.action !== 'no-op');
    const allNew = files.length > 0 && files.every((f) => f.action === 'create');
    if (buildOf(r)) {
      const builtAt = actual.recorded.built.get(r.address);
      drift.push(...checkLockDrift(r, actual.packageLocks.get(r.address)));
      if (builtAt === r.identity) {
        resources.push({
          address: r.address,
          kind: r.kind,
          identity: r.identity,
          files,
          action: anyFile ? 'update' : 'no-op',
          reason: anyFile ? 'deployed files differ' : 'built',
        });
      } else {
        resources.push({
          address: r.address,
          kind: r.kind,
          identity: r.identity,
          files,
          build: true,
          action: builtAt === undefined ? 'create' : 'update',
          reason: `${builtAt === undefined ? 'new: will be built' : 'changed: will be rebuilt'}${howBuilt(actual, r.address)}`,
        });
      }
      continue;
    }
    if (isRunnable(r)) {
      const group = isSweepPoint(r) ? r.spec.sweep : undefined;
      const { change, drift: d } = planJob(
        r,
        files,
        actual,
        adopted,
        replace.has(r.address) || (group !== undefined && replace.has(group)),
      );
      resources.push(group ? { ...change, group } : change);
      if (d) drift.push(d);
    } else {
      resources.push({
        address: r.address,
        kind: r.kind,
        identity: r.identity,
        files,
        action: allNew ? 'create' : anyFile ? 'update' : 'no-op',
        reason: allNew ? 'new' : anyFile ? 'content changed' : 'up to date',
      });
    }
  }

  // Files hpcdk deployed that no resource wants any more.
  const wantedPaths = new Set(wanted.flatMap((r) => r.artifacts));
  const stale = new Map<string, FileChange[]>();
  for (const path of actual.recorded.files.keys()) {
    if (wantedPaths.has(path) || !actual.files.has(path)) continue;
    const address = path.slice(0, path.lastIndexOf('/'));
    stale.set(address, [...(stale.get(address) ?? []), { path, action: 'delete' }]);
  }
  // Jobs of addresses no resource has any more: cancel the active ones.
  const wantedAddresses = new Set(wanted.map((r) => r.address));
  const orphanJobs = new Map<string, string[]>();
  for (const [address, history] of actual.recorded.jobs) {
    if (wantedAddresses.has(address)) continue;
    const active = history.map((h) => h.id).filter((id) => isActive(actual.jobs.get(id)?.state ?? 'UNKNOWN'));
    orphanJobs.set(address, active);
  }
  for (const address of [...new Set([...stale.keys(), ...orphanJobs.keys()])].sort()) {
    const cancel = orphanJobs.get(address) ?? [];
    const files = stale.get(address) ?? [];
    const isJob = orphanJobs.has(address);
    resources.push({
      address,
      kind: isJob ? ResourceKind.job : ResourceKind.file,
      action: cancel.length > 0 ? 'cancel' : 'delete',
      reason: options.destroy ? 'destroy requested' : 'no longer in the stack',
      files,
      ...(isJob ? { job: { attempts: 0, maxAttempts: 0, cancel } } : {}),
    });
  }

  // Deployed files edited or removed by hand since apply wrote them.
  for (const [path, recordedSha] of actual.recorded.files) {
    const have = actual.files.get(path);
    if (have === recordedSha) continue;
    const address = path.slice(0, path.lastIndexOf('/'));
    const want = wantedContent.get(path);
    const old = actual.contents.get(path);
    drift.push({
      address,
      kind: 'file',
      message: have === undefined ? `${path} was deleted outside hpcdk` : `${path} was edited outside hpcdk`,
      ...(have !== undefined && old !== undefined && want !== undefined
        ? { diff: createTwoFilesPatch(path, path, want, old, 'deployed by hpcdk', 'on target') }
        : {}),
    });
  }

  explainChanges(resources, wanted, actual);
  const summary = summarize(resources);
  const budgeted = budgetPlan(resources, wanted, options.budget, options.ignoreBudget);
  return {
    format_version: PLAN_FORMAT_VERSION,
    stack: desired.stack,
    target: desired.target,
    serial: actual.serial,
    ...(actual.lock ? { lock: actual.lock } : {}),
    resources: budgeted.resources.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0)),
    drift,
    summary,
    changes: resources.some((r) => r.action !== 'no-op'),
    compute: budgeted.compute,
    ...(budgeted.budget ? { budget: budgeted.budget } : {}),
  };
}

function summarize(resources: readonly ResourceChange[]): PlanSummary {
  let add = 0;
  let change = 0;
  let destroy = 0;
  let submit = 0;
  let cancel = 0;
  for (const r of resources) {
    if (r.action === 'create') add += 1;
    if (r.action === 'update') change += 1;
    if (r.action === 'delete') destroy += 1;
    if (r.action === 'submit' || r.action === 'replace') submit += 1;
    cancel += r.job?.cancel.length ?? 0;
    if (r.action === 'cancel' && r.files.length > 0) destroy += 1;
  }
  return { add, change, destroy, submit, cancel };
}
