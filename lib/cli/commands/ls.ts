import type { Output } from '../output.js';
import { openProject } from '../project.js';

/** `hpcdk ls`: one line per stack: its name and its targets, default first. */
export async function lsCommand(options: { dir?: string; long?: boolean }, io: Output): Promise<number> {
  const project = await openProject(options.dir);
  for (const { stack, file } of project.stacks) {
    const targets = stack.targets.map((t) => t.name).join(',');
    const extra = options.long ? `\t${file}${stack.description ? `\t${stack.description}` : ''}` : '';
    io.out(`${stack.stackName}\t${targets}${extra}`);
  }
  return 0;
}
