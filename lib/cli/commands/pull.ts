import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import type { ClusterProfile } from '../../core/cluster-profile.js';
import {
  nestedExcludes,
  parseView,
  pullUnits,
  rsyncArgs,
  tally,
  viewScript,
  RUNS_DIR,
  type PullUnit,
  type PullView,
  type Transferred,
} from '../../runs/pull.js';
import { quote } from '../../shell/index.js';
import type { TargetConnection } from '../../targets/connection.js';
import { isAutomation } from '../../targets/automation/transport.js';
import { openSshArgs } from '../../targets/ssh-transport.js';
import { CliError, EXIT, type Output } from '../output.js';
import { openProject, pickStacks } from '../project.js';
import { openTarget, resolveTarget, synthesizeFor, type TargetOptions } from '../session.js';

export interface PullOptions extends TargetOptions {
  readonly dir?: string;
  readonly stack?: string;
  /** Also pull the declared outputs (default), or only the log folders. */
  readonly outputs?: boolean;
}

/** rsync's "some files vanished before they could be transferred": a running job's log rotated away; not an error. */
const RSYNC_VANISHED = 24;

/** `hpcdk pull [ADDRESS…]`: each job's and sweep's logs and outputs into runs/<stack>/<target>/<address>/. */
export async function pullCommand(addresses: string[], options: PullOptions, io: Output): Promise<number> {
  const project = await openProject(options.dir);
  const picked = pickStacks(project, options.stack ? [options.stack] : []).map(({ stack }) => {
    const profile = resolveTarget(project, stack, options.target);
    const synthesis = synthesizeFor(project, stack, profile, io);
    return { stack: stack.stackName, profile, ...pullUnits(synthesis.manifest.resources, addresses) };
  });
  const unknown = addresses.filter((a) => picked.every((p) => p.unknown.includes(a)));
  if (unknown.length > 0) {
    const where = picked.map((p) => p.stack).join(', ');
    throw new CliError(`no job or sweep ${unknown.join(', ')} in ${picked.length === 1 ? 'stack' : 'stacks'} ${where}`);
  }
  for (const p of picked) {
    if (p.units.length === 0) {
      if (addresses.length === 0) io.err(`${p.stack}: no jobs or sweeps to pull`);
      continue;
    }
    const dest = join(project.dir, RUNS_DIR, p.stack, p.profile.name);
    const conn = await openTarget(project, p.profile, options);
    try {
      if (isAutomation(conn))
        throw new CliError(
          `pull: target ${p.profile.name} is reached as an automation node, which runs no shell script; pull needs one to find the folders`,
        );
      const results = await pullStack(conn, p.stack, p.units, dest, options);
      for (const line of summaryLines(p.units, results, p.profile.name, relative(project.dir, dest))) io.out(line);
    } finally {
      await conn.close();
    }
  }
  return EXIT.ok;
}

/** One stack: the view made on the target (one round trip), one rsync, the view removed (one more). */
async function pullStack(
  conn: TargetConnection,
  stack: string,
  units: readonly PullUnit[],
  dest: string,
  options: PullOptions,
): Promise<{ view: PullView; moved: Map<string, Transferred> }> {
  const name = `pull-${randomBytes(6).toString('hex')}`;
  const made = await conn.transport.run(viewScript(conn.stackDir(stack), name, units, options.outputs !== false));
  const view = parseView(made.stdout);
  try {
    if (made.exitCode !== 0)
      throw new CliError(
        `pull: finding the folders on ${conn.profile.name} failed (exit ${made.exitCode}): ${made.stderr.trim()}`,
      );
    if (view.dir === undefined || (view.logs.size === 0 && ![...view.outputs.values()].flat().some((o) => o.found)))
      return { view, moved: tally('', units) };
    mkdirSync(dest, { recursive: true });
    const r = await execa(
      'rsync',
      rsyncArgs({ ...remoteOf(conn.profile, options), dir: view.dir }, dest, nestedExcludes(units)),
      { reject: false, stdin: 'ignore' },
    );
    if (r.exitCode !== 0 && r.exitCode !== RSYNC_VANISHED)
      throw new CliError(
        `pull: rsync from ${conn.profile.name} failed (exit ${r.exitCode}): ${String(r.stderr).trim()}`,
      );
    return { view, moved: tally(String(r.stdout), units) };
  } finally {
    if (view.dir !== undefined) await conn.transport.run(`rm -rf -- ${quote(view.dir)}`);
  }
}

/** How rsync reaches an SSH target: the system ssh, with the options and Host alias hpcdk's own OpenSSH mode uses. */
function remoteOf(profile: ClusterProfile, options: TargetOptions): { host?: string; sshArgs?: string[] } {
  if (profile.isLocal || !profile.spec.ssh) return {};
  return {
    host: profile.spec.ssh.host,
    sshArgs: ['-o', 'BatchMode=yes', ...openSshArgs(profile, { acceptNewHostKey: options.acceptNewHostKey ?? false })],
  };
}

/** `train: 3 files, 1234 bytes new (runs/demo/local/train/)`, with what was not there. */
function summaryLines(
  units: readonly PullUnit[],
  { view, moved }: { view: PullView; moved: Map<string, Transferred> },
  target: string,
  dest: string,
): string[] {
  return units.map((u) => {
    if (view.dir === undefined) return `${u.address}: nothing on ${target} (the stack was never applied there)`;
    const t = moved.get(u.address)!;
    const notes: string[] = [];
    if (!view.logs.has(u.address)) notes.push(`no logs on ${target} (never run)`);
    for (const o of view.outputs.get(u.address) ?? [])
      if (!o.found) notes.push(`output ${o.index} not on ${target} yet (${o.path})`);
    const nothingThere = !view.logs.has(u.address) && !(view.outputs.get(u.address) ?? []).some((o) => o.found);
    const head = nothingThere
      ? `${u.address}: nothing to pull`
      : t.files === 0
        ? `${u.address}: up to date (${dest}/${u.address}/)`
        : `${u.address}: ${t.files} file${t.files === 1 ? '' : 's'}, ${t.bytes} bytes new (${dest}/${u.address}/)`;
    return [head, ...notes].join('; ');
  });
}
