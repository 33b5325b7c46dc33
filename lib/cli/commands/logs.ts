import { CliError, EXIT, type Output } from '../output.js';
import { openProject, pickStacks } from '../project.js';
import { openTarget, resolveTarget, synthesizeFor, type TargetOptions } from '../session.js';
import { isRunnable } from '../../core/resource-spec.js';

/** `hpcdk logs [STACK/]ADDRESS`: the newest job's output (or --job ID, --err). One round trip. */
export async function logsCommand(
  ref: string,
  options: TargetOptions & { dir?: string; err?: boolean; job?: string },
  io: Output,
): Promise<number> {
  const project = await openProject(options.dir);
  const slash = ref.indexOf('/');
  const named = slash > 0 ? project.stacks.find((s) => s.stack.stackName === ref.slice(0, slash)) : undefined;
  let stackEntry = named;
  let address = named ? ref.slice(slash + 1) : ref;
  if (!stackEntry) {
    if (project.stacks.length !== 1)
      throw new CliError(
        `say which stack: hpcdk logs STACK/${ref} (stacks: ${project.stacks.map((s) => s.stack.stackName).join(', ')})`,
      );
    stackEntry = pickStacks(project, [])[0]!;
    address = ref;
  }
  const stack = stackEntry.stack;
  const profile = resolveTarget(project, stack, options.target);
  const synthesis = synthesizeFor(project, stack, profile, io);
  const runnable = synthesis.manifest.resources.filter(isRunnable);
  const resource = runnable.find((r) => r.address === address);
  if (!resource)
    throw new CliError(
      `stack ${stack.stackName} has no job or sweep point ${address} (have: ${
        runnable
          .map((r) => r.address)
          .slice(0, 12)
          .join(', ') || 'none'
      }${runnable.length > 12 ? ', …' : ''})`,
    );
  const spec = resource.spec;
  const pattern = options.err ? spec.stderr : spec.stdout;
  const conn = await openTarget(project, profile, options);
  try {
    process.stdout.write(
      await conn.backend.readLog({
        stack: stack.stackName,
        address,
        jobName: spec.jobName,
        pattern,
        ...(options.job ? { job: options.job } : {}),
      }),
    );
    return EXIT.ok;
  } finally {
    await conn.close();
  }
}
