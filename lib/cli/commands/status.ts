import { canonicalJson } from '../../core/digest.js';
import { computePlan } from '../../plan/plan.js';
import { expectedFiles, lockCommands } from '../../plan/plan-stack.js';
import { readTarget } from '../../plan/read-target.js';
import { quote, word } from '../../shell/index.js';
import { CliError, EXIT, type Output } from '../output.js';
import { openProject, pickStacks } from '../project.js';
import { openTarget, resolveTarget, synthesizeFor, type TargetOptions } from '../session.js';

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
}

/** `hpcdk status [STACK…]`: every resource's state, from one read of the target per stack. */
export async function statusCommand(names: string[], options: TargetOptions & { dir?: string; json?: boolean }, io: Output): Promise<number> {
  const project = await openProject(options.dir);
  const rows: StatusRow[] = [];
  for (const { stack } of pickStacks(project, names)) {
    const profile = resolveTarget(project, stack, options.target);
    const synthesis = synthesizeFor(project, stack, profile, io);
    const conn = await openTarget(project, profile, options);
    try {
      const actual = await readTarget(conn, stack.stackName, expectedFiles(synthesis), [], lockCommands(synthesis));
      const plan = computePlan(synthesis, actual);
      for (const r of plan.resources) {
        const job = r.job;
        const status =
          r.kind === 'job' || r.kind === 'sweep-point'
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
          ...(r.kind === 'job' || r.kind === 'sweep-point' ? { attempts: job?.attempts ?? 0 } : {}),
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
  const table = [['STACK', 'TARGET', 'ADDRESS', 'KIND', 'STATUS', 'JOB', 'EXIT'], ...rows.map((r) => [r.stack, r.target, r.address, r.kind, r.status, r.jobId ?? '-', r.exitCode?.toString() ?? '-'])];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table) io.out(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
  return EXIT.ok;
}

/** `hpcdk logs [STACK/]ADDRESS`: the newest job's output (or --job ID, --err). One round trip. */
export async function logsCommand(ref: string, options: TargetOptions & { dir?: string; err?: boolean; job?: string }, io: Output): Promise<number> {
  const project = await openProject(options.dir);
  const slash = ref.indexOf('/');
  const named = slash > 0 ? project.stacks.find((s) => s.stack.stackName === ref.slice(0, slash)) : undefined;
  let stackEntry = named;
  let address = named ? ref.slice(slash + 1) : ref;
  if (!stackEntry) {
    if (project.stacks.length !== 1) throw new CliError(`say which stack: hpcdk logs STACK/${ref} (stacks: ${project.stacks.map((s) => s.stack.stackName).join(', ')})`);
    stackEntry = pickStacks(project, [])[0]!;
    address = ref;
  }
  const stack = stackEntry.stack;
  const profile = resolveTarget(project, stack, options.target);
  const synthesis = synthesizeFor(project, stack, profile, io);
  const runnable = synthesis.manifest.resources.filter((r) => r.kind === 'job' || r.kind === 'sweep-point');
  const resource = runnable.find((r) => r.address === address);
  if (!resource) throw new CliError(`stack ${stack.stackName} has no job or sweep point ${address} (have: ${runnable.map((r) => r.address).slice(0, 12).join(', ') || 'none'}${runnable.length > 12 ? ', …' : ''})`);
  const spec = resource.spec as { stdout: string; stderr: string; jobName: string };
  const pattern = options.err ? spec.stderr : spec.stdout;
  const conn = await openTarget(project, profile, options);
  try {
    const r = await conn.transport.run(`D=${word(conn.stackDir(stack.stackName))}
id=${options.job ? quote(options.job) : `$(awk -v a=${quote(address)} '$1 == "job" && $2 == a { id = $4 } END { print id }' "$D/.hpcdk/journal" 2>/dev/null)`}
if [ -z "$id" ]; then echo "hpcdk: ${address} has not been submitted" >&2; exit 3; fi
p=${quote(pattern)}
p=\${p//%x/${quote(spec.jobName)}}
p=\${p//%j/$id}
# Array tasks: <array job id>_<task index>.
p=\${p//%A/\${id%_*}}
p=\${p//%a/\${id##*_}}
if [ ! -f "$D/$p" ]; then echo "hpcdk: no output yet at $p (job $id)" >&2; exit 4; fi
cat -- "$D/$p"`);
    if (r.exitCode !== 0) throw new CliError(r.stderr.trim().replace(/^hpcdk: /, '') || `reading the log failed (exit ${r.exitCode})`);
    process.stdout.write(r.stdout);
    return EXIT.ok;
  } finally {
    await conn.close();
  }
}
