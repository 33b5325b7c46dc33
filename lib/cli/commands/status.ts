import { canonicalJson } from '../../core/digest.js';
import { computePlan } from '../../plan/plan.js';
import { expectedFiles, packageLockCommands } from '../../plan/plan-stack.js';
import { readTarget } from '../../plan/read-target.js';
import { CliError, EXIT, type Output } from '../output.js';
import { openProject, pickStacks } from '../project.js';
import { openTarget, resolveTarget, synthesizeFor, type TargetOptions } from '../session.js';
import { isRunnable, isRunnableKind, isSweepPoint, runGroup, runSpecOf } from '../../core/resource-spec.js';

export interface StatusRow {
  readonly stack: string;
  readonly target: string;
  readonly address: string;
  readonly kind: string;
  /** `up to date`, `will be created`… for files; the scheduler state for jobs. */
  readonly status: string;
  readonly jobId?: string;
  readonly exitCode?: number;
  readonly attempts?: number;
  /** The run record (run.json) of the newest job, once it started. */
  readonly run?: Readonly<Record<string, unknown>>;
}

/** The folder a job's logs and run records are in: its own address, or its sweep's. */
function logFolder(r: { address: string; group?: string }): string {
  return r.group ?? r.address;
}

/** `hpcdk status [STACK…]`: every resource's state, from one read of the target per stack. */
export async function statusCommand(
  names: string[],
  options: TargetOptions & { dir?: string; json?: boolean; task?: string },
  io: Output,
): Promise<number> {
  const project = await openProject(options.dir);
  const stackNames = new Set(project.stacks.map((s) => s.stack.stackName));
  const addresses = names.filter((n) => !stackNames.has(n));
  if (addresses.length > 1)
    throw new CliError(`status shows one run at a time: name one address (got ${addresses.join(', ')})`);
  if (addresses.length === 1) return runDetail(project, addresses[0]!, options, io);
  if (options.task !== undefined) throw new CliError('--task needs a sweep address: hpcdk status SWEEP --task N');
  const rows: StatusRow[] = [];
  for (const { stack } of pickStacks(project, names)) {
    const profile = resolveTarget(project, stack, options.target);
    const synthesis = synthesizeFor(project, stack, profile, io);
    const conn = await openTarget(project, profile, options);
    try {
      const runDirs = [...new Set(synthesis.manifest.resources.filter(isRunnable).map((r) => runGroup(r)))];
      const actual = await readTarget(conn, {
        stack: stack.stackName,
        expected: expectedFiles(synthesis),
        packageLocks: packageLockCommands(synthesis),
        runDirs,
      });
      const plan = computePlan(synthesis, actual);
      for (const r of plan.resources) {
        const job = r.job;
        const status = isRunnableKind(r.kind)
          ? job?.state
            ? `${job.state}${job.outdated ? ' (outdated)' : ''}`
            : 'not submitted'
          : r.action === 'no-op'
            ? 'deployed'
            : r.action === 'create'
              ? 'not deployed'
              : r.action === 'update'
                ? 'differs'
                : r.action;
        rows.push({
          stack: stack.stackName,
          target: profile.name,
          address: r.address,
          kind: r.kind,
          status,
          ...(job?.jobId ? { jobId: job.jobId } : {}),
          ...(job?.exitCode !== undefined ? { exitCode: job.exitCode } : {}),
          ...(isRunnableKind(r.kind) ? { attempts: job?.attempts ?? 0 } : {}),
          ...(job?.jobId && actual.runs?.get(`${logFolder(r)}/${job.jobId}`)
            ? { run: actual.runs.get(`${logFolder(r)}/${job.jobId}`)! }
            : {}),
        });
      }
    } finally {
      await conn.close();
    }
  }
  if (options.json) {
    io.out(canonicalJson({ format_version: '1', resources: rows }, 2));
    return EXIT.ok;
  }
  const table = [
    ['STACK', 'TARGET', 'ADDRESS', 'KIND', 'STATUS', 'JOB', 'EXIT', 'HOST', 'STARTED'],
    ...rows.map((r) => [
      r.stack,
      r.target,
      r.address,
      r.kind,
      r.status,
      r.jobId ?? '-',
      r.exitCode?.toString() ?? '-',
      String(r.run?.host ?? '-'),
      String(r.run?.start ?? '-'),
    ]),
  ];
  printTable(table, io);
  return EXIT.ok;
}

function printTable(table: string[][], io: Output): void {
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table)
    io.out(
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
}

/**
 * `hpcdk status ADDRESS [--task N]`: one run in full, from the same single
 * read: its scheduler state, and the run record the job wrote next to its
 * logs (host, times, restarts, exit code, code commit, environment lock,
 * image digest, the script's hash and the point's params).
 */
async function runDetail(
  project: Awaited<ReturnType<typeof openProject>>,
  ref: string,
  options: TargetOptions & { json?: boolean; task?: string },
  io: Output,
): Promise<number> {
  const slash = ref.indexOf('/');
  const named = slash > 0 ? project.stacks.find((s) => s.stack.stackName === ref.slice(0, slash)) : undefined;
  const candidates = named
    ? [{ entry: named, address: ref.slice(slash + 1) }]
    : project.stacks.map((entry) => ({ entry, address: ref }));
  for (const { entry, address } of candidates) {
    const stack = entry.stack;
    const profile = resolveTarget(project, stack, options.target);
    const synthesis = synthesizeFor(project, stack, profile, io);
    const runnable = synthesis.manifest.resources.filter(isRunnable);
    const points = runnable.filter(isSweepPoint).filter((r) => r.spec.sweep === address);
    const resource = runnable.find((r) => r.address === address);
    if (!resource && points.length === 0) continue;
    if (points.length > 0 && options.task === undefined) {
      throw new CliError(
        `${address} is a sweep of ${points.length} points: name one (hpcdk status ${points[0]!.address}) or its array task (hpcdk status ${address} --task N)`,
      );
    }
    const conn = await openTarget(project, profile, options);
    try {
      const dir = resource !== undefined ? runGroup(resource) : address;
      const actual = await readTarget(conn, {
        stack: stack.stackName,
        expected: expectedFiles(synthesis),
        packageLocks: packageLockCommands(synthesis),
        runDirs: [dir],
      });
      const plan = computePlan(synthesis, actual);
      const change = resource
        ? plan.resources.find((r) => r.address === address)
        : plan.resources
            .filter((r) => r.group === address && r.job?.jobId?.endsWith(`_${options.task}`))
            .sort((a, b) => (a.job!.jobId! < b.job!.jobId! ? 1 : -1))[0];
      if (!change) throw new CliError(`no task ${options.task} of sweep ${address} has run on ${profile.name}`);
      const jobId = change.job?.jobId;
      const run = jobId ? actual.runs?.get(`${dir}/${jobId}`) : undefined;
      const changed = synthesis.manifest.resources.find((m) => m.address === change.address);
      const script = changed !== undefined ? runSpecOf(changed)?.script : undefined;
      const artifact = synthesis.manifest.artifacts.find((a) => a.path === script);
      const detail = {
        format_version: '1',
        stack: stack.stackName,
        target: profile.name,
        address: change.address,
        kind: change.kind,
        identity: change.identity,
        status: change.job?.state ?? 'not submitted',
        ...(jobId ? { jobId } : {}),
        ...(change.job?.exitCode !== undefined ? { exitCode: change.job.exitCode } : {}),
        attempts: change.job?.attempts ?? 0,
        ...(run ? { run, runRecord: `logs/${dir}/${jobId}.run.json` } : {}),
        ...(artifact ? { scriptMatchesSnapshot: run ? run.scriptSha256 === artifact.sha256 : null } : {}),
      };
      if (options.json) {
        io.out(canonicalJson(detail, 2));
        return EXIT.ok;
      }
      io.out(`${change.address} (${change.kind}) of ${stack.stackName} on ${profile.name}`);
      const line = (label: string, value: unknown) => {
        if (value !== undefined && value !== null && value !== '') io.out(`  ${label.padEnd(12)} ${String(value)}`);
      };
      line(
        'status',
        `${detail.status}${jobId ? ` (job ${jobId})` : ''}${detail.exitCode !== undefined ? `, exit ${detail.exitCode}` : ''}`,
      );
      line('attempts', `${detail.attempts} of ${change.job?.maxAttempts ?? '-'}`);
      line('identity', change.identity);
      if (!run) {
        line('run record', jobId ? 'none yet (the job has not started, or predates run records)' : undefined);
        return EXIT.ok;
      }
      const env = run.environment as { address?: string; lockSha256?: string | null } | null;
      const image = run.image as { address?: string; digest?: string | null } | null;
      line('host', run.host);
      line('restarts', run.restartCount);
      line('started', run.start);
      line('ended', run.end ?? (run.state === 'running' ? '(running)' : undefined));
      line('point', run.point);
      line('params', run.params ? JSON.stringify(run.params) : undefined);
      line('code', run.codeCommit ? `commit ${String(run.codeCommit)}` : undefined);
      line('environment', env ? `${env.address} (lock sha256 ${env.lockSha256 ?? 'not recorded'})` : undefined);
      line('image', image ? `${image.address} (${image.digest ?? 'digest not recorded'})` : undefined);
      line(
        'script',
        `sha256 ${String(run.scriptSha256)}${detail.scriptMatchesSnapshot === true ? ' (as in the snapshot)' : detail.scriptMatchesSnapshot === false ? ' (differs from the snapshot)' : ''}`,
      );
      line('run record', detail.runRecord);
      return EXIT.ok;
    } finally {
      await conn.close();
    }
  }
  throw new CliError(
    `no stack, job or sweep named ${ref} (stacks: ${project.stacks.map((s) => s.stack.stackName).join(', ')})`,
  );
}
