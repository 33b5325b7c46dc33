import { join, relative } from 'node:path';
import { pullUnits, RUNS_DIR, type PullUnit } from '../../ops/pull.js';
import type { PullResult } from '../../targets/backend.js';
import { CliError, EXIT, type Output } from '../output.js';
import { openProject, pickStacks } from '../project.js';
import { openTarget, resolveTarget, synthesizeFor, type TargetOptions } from '../session.js';

export interface PullOptions extends TargetOptions {
  readonly dir?: string;
  readonly stack?: string;
  /** Also pull the declared outputs (default), or only the log folders. */
  readonly outputs?: boolean;
}

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
      const results = await conn.backend.pull({
        stack: p.stack,
        units: p.units,
        dest,
        withOutputs: options.outputs !== false,
      });
      for (const line of summaryLines(p.units, results, p.profile.name, relative(project.dir, dest))) io.out(line);
    } finally {
      await conn.close();
    }
  }
  return EXIT.ok;
}

/** `train: 3 files, 1234 bytes new (runs/demo/local/train/)`, with what was not there. */
function summaryLines(units: readonly PullUnit[], { view, moved }: PullResult, target: string, dest: string): string[] {
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
