import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { ClusterProfile } from '../core/cluster-profile.js';
import type { Stack } from '../core/stack.js';
import { STACKS_DIR, loadProject, selectStacks, type LoadedProject, type LoadedStack } from '../loader/load-stacks.js';
import { CliError } from './output.js';

export const SNAPSHOTS_DIR = 'snapshots';

/** The project folder: `--dir`, else the nearest folder upwards from cwd holding `stacks/`. */
export function findProjectDir(explicit: string | undefined): string {
  if (explicit) return resolve(explicit);
  let dir = process.cwd();
  for (;;) {
    if (existsSync(join(dir, STACKS_DIR))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
}

export async function openProject(explicit: string | undefined): Promise<LoadedProject> {
  const dir = findProjectDir(explicit);
  if (!existsSync(join(dir, STACKS_DIR))) {
    throw new CliError(`no ${STACKS_DIR}/ folder in ${dir}: run hpcdk in a project, or pass --dir`);
  }
  return loadProject(dir);
}

export function pickStacks(project: LoadedProject, names: readonly string[]): LoadedStack[] {
  try {
    return selectStacks(project, names);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

/** The target a command acts on: `--target`, else the stack's default. */
export function pickTarget(stack: Stack, name: string | undefined): ClusterProfile {
  if (name === undefined) return stack.defaultTarget;
  const target = stack.target(name);
  if (!target) {
    const declared = stack.targets.map((t) => t.name).join(', ');
    throw new CliError(
      `stack ${stack.stackName} has no target ${name} (declared: ${declared}; local is always available)`,
    );
  }
  return target;
}
