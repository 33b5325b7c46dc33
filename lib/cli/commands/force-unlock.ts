import { forceUnlock } from '../../apply/apply.js';
import { EXIT, type Output } from '../output.js';
import { openProject, pickStacks } from '../project.js';
import { openTarget, resolveTarget, type TargetOptions } from '../session.js';

/** `hpcdk force-unlock STACK` */
export async function forceUnlockCommand(
  name: string,
  options: TargetOptions & { dir?: string },
  io: Output,
): Promise<number> {
  const project = await openProject(options.dir);
  const stack = pickStacks(project, [name])[0]!.stack;
  const profile = resolveTarget(project, stack, options.target);
  const conn = await openTarget(project, profile, options);
  try {
    const owner = await forceUnlock(conn, stack.stackName);
    io.out(
      owner
        ? `Removed the lock on ${stack.stackName} (${profile.name}) held by ${owner}.`
        : `${stack.stackName} on ${profile.name} was not locked.`,
    );
    return EXIT.ok;
  } finally {
    await conn.close();
  }
}
