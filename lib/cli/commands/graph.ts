import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { stackGraph, toDot } from '../../ops/graph.js';
import { synthesizeStack } from '../../synth/synthesize.js';
import { CliError, EXIT, type Output } from '../output.js';
import { openProject, pickStacks } from '../project.js';
import { resolveTarget } from '../session.js';

export type GraphFormat = 'dot' | 'svg';

export interface GraphCommandOptions {
  readonly dir?: string;
  readonly target?: string;
  /** @default svg when `out` ends in `.svg`, else dot */
  readonly format?: GraphFormat;
  readonly out?: string;
}

/** SVG from Graphviz's `dot`, fed the graph on stdin. */
export function renderSvg(dot: string): string {
  const r = spawnSync('dot', ['-Tsvg'], { input: dot, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new CliError(
      "--format svg needs Graphviz's dot, which is not on PATH: install it (apt-get install graphviz), or print DOT with --format dot",
    );
  }
  if (r.error) throw new CliError(`dot -Tsvg failed: ${r.error.message}`);
  if (r.status !== 0) throw new CliError(`dot -Tsvg failed (exit ${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

/**
 * `hpcdk graph [STACK…]`: the stacks' dependency graphs as Graphviz DOT (or SVG),
 * rendered in memory for each stack's target. Several stacks give one graph
 * with a cluster per stack.
 */
export async function graphCommand(names: string[], options: GraphCommandOptions, io: Output): Promise<number> {
  const project = await openProject(options.dir);
  const graphs = pickStacks(project, names).map(({ stack }) =>
    stackGraph(synthesizeStack(stack, resolveTarget(project, stack, options.target), project.dir).manifest),
  );
  if (graphs.length === 0) throw new CliError('the project has no stacks to graph');
  const dot = toDot(graphs);
  const format = options.format ?? (options.out?.endsWith('.svg') ? 'svg' : 'dot');
  const output = format === 'svg' ? renderSvg(dot) : dot;
  if (options.out) {
    writeFileSync(options.out, output);
    io.err(`Wrote ${options.out} (${format}).`);
  } else {
    io.out(output);
  }
  return EXIT.ok;
}
