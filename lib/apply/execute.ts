import { posix } from 'node:path';
import { base64Lines, quote, word, wrapBase64 } from '../shell/index.js';
import type { Plan } from '../plan/plan.js';
import { JOURNAL_FUNCTION, inputsLine, serialCheckLines } from '../state/journal.js';
import { takeLockLines } from '../state/lock.js';
import {
  FILES_DIR,
  INCOMING_DIR,
  JOURNAL_FILE,
  LOGS_DIR,
  PACKAGE_LOCKS_DIR,
  PARAMS_DIR,
  SECRETS_DIR,
  packageLockFile,
} from '../state/layout.js';
import type { TargetConnection } from '../targets/connection.js';
import { isActive, jobComment, type SubmitRequest } from '../targets/scheduler.js';
import { digestOf } from '../core/digest.js';
import { renderParamsFile, type ChunkPoint } from '../render/params.js';
import type { ManifestResource } from '../core/output.js';
import {
  ResourceKind,
  buildOf,
  isRunnable,
  isSweepPoint,
  type RunDependency,
  type Runnable,
} from '../core/resource-spec.js';
import type { SecretValue } from './secrets.js';

/** A file to upload: where it goes (relative to files/) and its bytes. */
export interface Upload {
  readonly path: string;
  readonly content: string;
  readonly sha256: string;
  readonly executable: boolean;
}

/** Bytes made at apply time, not at synth (a code archive), placed relative to the stack folder. */
export interface Payload {
  readonly path: string;
  readonly base64: string;
}

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
export function fileSteps(inputs: ApplyInputs): Array<{ readonly upload: Upload } | { readonly remove: string }> {
  const wanted = new Map(inputs.uploads.map((u) => [u.path, u]));
  const uploaded = new Set<string>();
  const steps: Array<{ upload: Upload } | { remove: string }> = [];
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

/**
 * The one script that carries out a plan on the target: take the lock, check
 * nothing changed since the plan, upload, cancel, submit, journal each step
 * as soon as it is done, release the lock. Lines starting `@@` report progress.
 */
export function executeScript(conn: TargetConnection, inputs: ApplyInputs, operation: string): string {
  const { plan } = inputs;
  const steps = fileSteps(inputs);
  const subs = submissions(conn, inputs);
  // Every folder the script writes into, made by one process.
  const folders = new Set([INCOMING_DIR, FILES_DIR]);
  for (const f of steps) if ('upload' in f) folders.add(posix.join(FILES_DIR, posix.dirname(f.upload.path)));
  for (const s of subs) if (s.chunk) folders.add(posix.join(PARAMS_DIR, s.chunk.sweep));
  const parts: string[] = [];
  parts.push(`set -eo pipefail
D=${word(conn.stackDir(plan.stack))}
${JOURNAL_FUNCTION}
${conn.scheduler.functions}
mkdir -p ${[...folders].map((f) => `"$D/"${quote(f)}`).join(' ')}
${takeLockLines(operation)}
${serialCheckLines(plan.serial)}
declare -A hpcdk_ids=()`);

  let step = 0;
  for (const f of steps) {
    if ('remove' in f) {
      parts.push(`rm -f -- "$D/${FILES_DIR}/"${quote(f.remove)}
hpcdk_journal rmfile ${quote(f.remove)}
echo "@@step delete "${quote(f.remove)}`);
      continue;
    }
    const u = f.upload;
    step += 1;
    const tmp = `$D/${INCOMING_DIR}/${step}`;
    parts.push(`base64 -d > "${tmp}" <<'HPCDK_FILE'
${base64Lines(u.content)}
HPCDK_FILE
chmod ${u.executable ? '755' : '644'} "${tmp}"
mv -f "${tmp}" "$D/${FILES_DIR}/"${quote(u.path)}
hpcdk_journal file ${quote(u.path)} ${u.sha256}
echo "@@step upload "${quote(u.path)}`);
  }
  for (const p of inputs.payloads ?? []) {
    parts.push(`mkdir -p "$D/"${quote(posix.dirname(p.path))}
base64 -d > "$D/"${quote(p.path)}.partial <<'HPCDK_PAYLOAD'
${wrapBase64(p.base64)}
HPCDK_PAYLOAD
mv -f "$D/"${quote(p.path)}.partial "$D/"${quote(p.path)}`);
  }
  for (const r of buildOrder(plan, inputs.resources)) {
    const build = buildOf(r);
    // Plan marks for building only what has a build spec.
    if (build === undefined) continue;
    const log = `$D/${LOGS_DIR}/${r.address}/build.log`;
    const run = (
      script: string,
      what: string,
    ) => `if ! ( cd "$D" && HPCDK_STACK_DIR="$D" bash "${FILES_DIR}/"${quote(script)} ) >> "${log}" 2>&1; then
  echo "@@failed ${what} "${quote(r.address)}
  tail -n 25 "${log}" >&2
  exit 5
fi`;
    const lockFile = `"$D/"${quote(packageLockFile(r.address))}`;
    parts.push(`mkdir -p "$D/${LOGS_DIR}/"${quote(r.address)} "$D/${PACKAGE_LOCKS_DIR}/"${quote(r.address)}
: > "${log}"
echo "@@note building "${quote(r.address)}" (log: ${LOGS_DIR}/"${quote(r.address)}"/build.log)"
${run(build.script, 'build')}
${build.check ? run(build.check, 'check') : ':'}
${build.lock ? `( cd "$D" && HPCDK_STACK_DIR="$D" bash -c ${quote(build.lock)} ) > ${lockFile}.tmp 2>> "${log}" && mv -f ${lockFile}.tmp ${lockFile}` : ':'}
hpcdk_journal built ${quote(r.address)} ${r.identity}
hpcdk_journal ${inputsLine(r.address, r.inputs).map(quote).join(' ')}
# What the build said of itself (which path it took), for the person applying.
grep '^hpcdk: ' "${log}" | sed 's/^hpcdk: /@@note /' || true
echo "@@step build "${quote(r.address)}`);
  }
  for (const secret of inputs.secrets ?? []) {
    // Readable by the owner only, and put in place whole.
    const file = `"$D/${SECRETS_DIR}/"${quote(secret.name)}`;
    parts.push(`( umask 077 && mkdir -p "$D/${SECRETS_DIR}" && base64 -d > ${file}.partial <<'HPCDK_SECRET'
${base64Lines(secret.value)}
HPCDK_SECRET
chmod 600 ${file}.partial && mv -f ${file}.partial ${file} )`);
  }
  const cancels = plan.resources.flatMap((r) => r.job?.cancel ?? []);
  if (cancels.length > 0) {
    parts.push(`(cd "$D" && ${conn.scheduler.cancelLines(cancels)})`);
    for (const id of cancels) parts.push(`hpcdk_journal cancel ${quote(id)}\necho "@@step cancel "${quote(id)}`);
  }
  for (const { request, chunk, inputsLine: made } of subs) {
    if (chunk) {
      parts.push(chunkLines(conn, request, chunk), `hpcdk_journal ${made.map(quote).join(' ')}`);
      continue;
    }
    parts.push(`cd "$D"
${conn.scheduler.submitLines(request)}
hpcdk_ids[${quote(request.address)}]="$hpcdk_job_id"
hpcdk_journal job ${quote(request.address)} ${request.identity} "$hpcdk_job_id"
hpcdk_journal ${made.map(quote).join(' ')}
echo "@@submitted "${quote(request.address)}" $hpcdk_job_id"`);
  }
  for (const r of plan.resources) {
    if (r.action === 'cancel' || (r.action === 'delete' && r.kind === ResourceKind.job))
      parts.push(`hpcdk_journal forget ${quote(r.address)}`);
  }
  parts.push(`rm -rf "$D/${INCOMING_DIR}"\necho "@@done"`);
  return parts.join('\n');
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

/** One submission of an apply: a job, or one chunk of a sweep's points (an array with its params file). */
export interface Submission {
  readonly request: SubmitRequest;
  readonly chunk?: { readonly id: string; readonly sweep: string; readonly points: readonly ChunkPoint[] };
  /** The `inputs` journal line to write once it is submitted: what it was made of, so a later plan can say what changed. */
  readonly inputsLine: readonly string[];
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

/**
 * Writes a chunk's params file, submits the array, journals every point as
 * `<array id>_<index>`. The params file and the job lines are written by
 * bash's own printf: at 1,000 points a `base64 -d` and a here-document cost
 * two processes and twenty milliseconds.
 */
function chunkLines(conn: TargetConnection, request: SubmitRequest, chunk: NonNullable<Submission['chunk']>): string {
  const { sweep, points } = chunk;
  const triples = points.map((p) => `${quote(p.address)} ${p.identity} ${p.index}`).join('\n  ');
  // Written ahead: if apply dies between sbatch and the job lines, plan still maps the chunk's tasks to its points.
  const intent = `hpcdk_journal chunk ${quote(sweep)} chunk-${chunk.id} ${points.map((p) => `${quote(p.address)} ${p.identity}`).join(' ')}`;
  return `printf '%s' ${quote(renderParamsFile(sweep, chunk.id, points))} > "$D/"${quote(request.paramsFile!)}
${intent}
cd "$D"
${conn.scheduler.submitLines(request)}
hpcdk_ids[${quote(sweep)}]="\${hpcdk_ids[${quote(sweep)}]:+\${hpcdk_ids[${quote(sweep)}]}:}$hpcdk_job_id"
hpcdk_points=(
  ${triples}
)
printf "job %s %s \${hpcdk_job_id}_%s \${EPOCHSECONDS:-0}\\n" "\${hpcdk_points[@]}" >> "$D/${JOURNAL_FILE}"
echo "@@submitted "${quote(sweep)}" $hpcdk_job_id ${points.length}"`;
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
