import type { ClusterProfile } from '../../core/cluster-profile.js';
import { canonicalJson } from '../../core/digest.js';
import { HpcConstruct } from '../../core/hpc-construct.js';
import { ValidationError } from '../../core/validation.js';
import { listImages, type GcContext } from '../../ops/gc/decide.js';
import { inventoryScript, parseInventory, type TargetInventory } from '../../ops/gc/inventory.js';
import { renderImages } from '../../ui/gc-view.js';
import type { LoadedProject } from '../../loader/load-stacks.js';
import type { ShellValue } from '../../shell/index.js';
import type { Manifest } from '../../synth/manifest.js';
import type { TargetConnection } from '../../targets/connection.js';
import { basePathValue } from '../../targets/layout.js';
import { CliError, EXIT, type Output } from '../output.js';
import { openProject, pickStacks } from '../project.js';
import { openTarget, resolveTarget, synthesizeFor, type TargetOptions } from '../session.js';
import { ResourceKind } from '../../core/resource-spec.js';

/** The JSON documents of `images --json` and `gc --json`. */
export const GC_FORMAT_VERSION = '1';

/** A target read for `images` and `gc`: its inventory, and the current synth of the project's stacks that have a folder there. */
export interface ReadTarget {
  readonly profile: ClusterProfile;
  /** Open: gc removes over the same connection. The caller closes it. */
  readonly conn: TargetConnection;
  /** The target's base path: stack folders are below it. */
  readonly base: ShellValue;
  readonly inventory: TargetInventory;
  readonly context: Pick<GcContext, 'current' | 'projectStacks' | 'unexamined' | 'only'>;
}

/** The podman global arguments the project's images build with (`--storage-driver vfs`…): images are listed in each such storage. */
function podmanArgSets(project: LoadedProject): string[][] {
  const sets = new Map<string, string[]>();
  for (const { stack } of project.stacks) {
    for (const c of stack.node.findAll()) {
      if (!HpcConstruct.isHpcConstruct(c) || c.kind !== ResourceKind.containerImage) continue;
      const args = (c.props as { podman?: { globalArgs?: string[] } }).podman?.globalArgs ?? [];
      sets.set(JSON.stringify(args), args);
    }
  }
  return sets.size > 0 ? [...sets.values()] : [[]];
}

/**
 * Reads each target the command concerns in one round trip. Names that are
 * not the project's stacks are stack folders only the target has: refused
 * with `refuseOthers` (a hint to add to the message), and looked for only on
 * --target, since no stack says which target they are on.
 */
export async function readTargets(
  names: readonly string[],
  options: TargetOptions & { dir?: string },
  io: Output,
  refuseOthers?: string,
): Promise<{ project: LoadedProject; targets: ReadTarget[] }> {
  const project = await openProject(options.dir);
  const projectStacks = new Set(project.stacks.map((s) => s.stack.stackName));
  const foreign = names.filter((n) => !projectStacks.has(n));
  if (foreign.length > 0 && refuseOthers !== undefined)
    throw new CliError(`no stack named ${foreign.join(', ')} in this project${refuseOthers}`);
  if (foreign.length > 0 && options.target === undefined)
    throw new CliError(
      `${foreign.join(', ')}: a stack the project does not have is looked for on a target: pass --target`,
    );
  const named = names.filter((n) => projectStacks.has(n));
  const selected = names.length === 0 || named.length > 0 ? pickStacks(project, named) : [];
  const anchor = selected[0]?.stack ?? project.stacks[0]?.stack;
  if (!anchor) throw new CliError('the project has no stacks');
  const profiles = new Map<string, ClusterProfile>();
  if (options.target !== undefined) {
    const p = resolveTarget(project, anchor, options.target);
    profiles.set(p.name, p);
  } else {
    for (const { stack } of selected) profiles.set(stack.defaultTarget.name, stack.defaultTarget);
  }
  const podmanArgs = podmanArgSets(project);
  const targets: ReadTarget[] = [];
  try {
    for (const profile of profiles.values()) {
      const conn = await openTarget(project, profile, options);
      targets.push(
        await readOne(
          project,
          profile,
          conn,
          selected.map((s) => s.stack),
          podmanArgs,
          io,
          names,
        ),
      );
    }
  } catch (e) {
    await Promise.all(targets.map((t) => t.conn.close()));
    throw e;
  }
  return { project, targets };
}

async function readOne(
  project: LoadedProject,
  profile: ClusterProfile,
  conn: TargetConnection,
  selected: ReadonlyArray<LoadedProject['stacks'][number]['stack']>,
  podmanArgs: string[][],
  io: Output,
  names: readonly string[],
): Promise<ReadTarget> {
  try {
    // An automation node runs only its allow-listed commands, and no inventory script.
    if (!conn.backend.runsShellScripts)
      throw new CliError(
        `target ${profile.name} is reached as an automation node, which runs no inventory: run this from a login node`,
      );
    const request = { base: basePathValue(profile, project.dir), scheduler: conn.scheduler, podmanArgs };
    const r = await conn.transport.run(inventoryScript(request));
    if (r.exitCode !== 0 || !r.stdout.includes('\n@@end')) {
      throw new Error(
        `reading ${conn.transport.description} failed (exit ${r.exitCode}): ${(r.stderr.trim() || r.stdout.trim()).split('\n').slice(-8).join('\n')}`,
      );
    }
    const inventory = parseInventory(r.stdout, request, (stack) => conn.deployment(stack));
    const current = new Map<string, Manifest>();
    const unexamined = new Map<string, string>();
    for (const stack of selected) {
      if (!inventory.stacks.has(stack.stackName)) continue;
      try {
        current.set(stack.stackName, synthesizeFor(project, stack, profile, io).manifest);
      } catch (e) {
        if (!(e instanceof ValidationError)) throw e;
        unexamined.set(
          stack.stackName,
          `the stack cannot be rendered for target ${profile.name}, so what it uses there is unknown`,
        );
      }
    }
    const projectStacks = new Set(project.stacks.map((s) => s.stack.stackName));
    return {
      profile,
      conn,
      base: request.base,
      inventory,
      context: { current, projectStacks, unexamined, ...(names.length > 0 ? { only: new Set(names) } : {}) },
    };
  } catch (e) {
    await conn.close();
    throw e;
  }
}

export interface ImagesCommandOptions extends TargetOptions {
  readonly dir?: string;
  readonly json?: boolean;
}

/** `hpcdk images [STACK…]`: the images and .sif files hpcdk built, found by label and by state, one read per target. */
export async function imagesCommand(names: string[], options: ImagesCommandOptions, io: Output): Promise<number> {
  const { targets } = await readTargets(names, options, io);
  try {
    const listed = targets.map((t) => ({ target: t.profile.name, rows: listImages(t.inventory, t.context) }));
    if (options.json) {
      const images = listed.flatMap((l) => l.rows.map((r) => ({ target: l.target, ...r })));
      io.out(canonicalJson({ format_version: GC_FORMAT_VERSION, images }, 2));
    } else {
      io.out(listed.map((l) => renderImages(l.rows, l.target)).join('\n\n'));
    }
    return EXIT.ok;
  } finally {
    await Promise.all(targets.map((t) => t.conn.close()));
  }
}
