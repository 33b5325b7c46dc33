import { join, relative } from 'node:path';
import { findStackFiles } from '../../loader/load-stacks.js';
import { synthesizeStacks } from '../../synth/synthesize.js';
import { compareSnapshots, isClean, writeSnapshots } from '../../synth/snapshots.js';
import { CliError, EXIT, type Output } from '../output.js';
import { SNAPSHOTS_DIR, openProject, pickStacks } from '../project.js';

export interface SynthOptions {
  readonly dir?: string;
  readonly check?: boolean;
  readonly target?: string;
  readonly quiet?: boolean;
}

/** `hpcdk synth [STACK…]`: render stacks into snapshots/, or with --check compare them. */
export async function synthCommand(names: string[], options: SynthOptions, io: Output): Promise<number> {
  const project = await openProject(options.dir);
  if (project.stacks.length === 0) {
    // Most likely a file that forgot `new App()`: say so rather than write an empty snapshots/ folder.
    const files = (await findStackFiles(project.dir)).map((f) => relative(project.dir, f));
    throw new CliError(
      `no stack to synthesize: ${files.length === 0 ? 'stacks/ holds no .ts file' : `${files.join(', ')} ${files.length === 1 ? 'declares' : 'declare'} none`} (a stack file makes an App and adds a Stack to it); nothing was written`,
    );
  }
  const selected = pickStacks(project, names).map((s) => s.stack);
  if (options.target !== undefined) {
    for (const stack of selected) {
      if (!stack.targets.some((t) => t.name === options.target)) {
        throw new CliError(
          `stack ${stack.stackName} does not declare target ${options.target} (declared: ${stack.targets.map((t) => t.name).join(', ')}); ` +
            `declare it in the stack to snapshot it, or use plan/apply --target ${options.target}, which render in memory`,
        );
      }
    }
  }
  // Everything is rendered and validated in memory before a byte is written.
  const syntheses = synthesizeStacks(selected, options.target, project.dir);
  const snapshots = join(project.dir, SNAPSHOTS_DIR);
  const wholeTree = names.length === 0 && options.target === undefined;

  if (options.check) {
    const diff = await compareSnapshots(snapshots, syntheses, wholeTree);
    if (isClean(diff)) {
      if (!options.quiet)
        io.out(`snapshots are up to date (${syntheses.length} stack/target pair${syntheses.length === 1 ? '' : 's'})`);
      return EXIT.ok;
    }
    const c = io.colors;
    for (const { diff: text } of diff.changed) io.out(colorDiff(text, io));
    if (diff.added.length > 0)
      io.out(`${c.green('Files a fresh synth adds:')}\n${diff.added.map((p) => `  + ${p}`).join('\n')}`);
    if (diff.removed.length > 0)
      io.out(`${c.red('Files a fresh synth removes:')}\n${diff.removed.map((p) => `  - ${p}`).join('\n')}`);
    io.err(
      `snapshots are stale: ${diff.changed.length} changed, ${diff.added.length} added, ${diff.removed.length} removed. Run hpcdk synth and commit the result.`,
    );
    return EXIT.error;
  }

  const result = await writeSnapshots(snapshots, syntheses, { prune: wholeTree });
  if (!options.quiet) {
    for (const s of syntheses) {
      io.out(
        `${s.stack}/${s.target}: ${s.artifacts.length} artifacts, ${s.manifest.resources.length} resources -> ${SNAPSHOTS_DIR}/${s.stack}/${s.target}/`,
      );
    }
    for (const stack of result.removedStacks) io.out(`${stack}: removed (no stack declares it)`);
  }
  return EXIT.ok;
}

function colorDiff(text: string, io: Output): string {
  const c = io.colors;
  return text
    .split('\n')
    .map((line) => {
      if (line.startsWith('+++') || line.startsWith('---')) return c.bold(line);
      if (line.startsWith('+')) return c.green(line);
      if (line.startsWith('-')) return c.red(line);
      if (line.startsWith('@@')) return c.cyan(line);
      return line;
    })
    .join('\n');
}
