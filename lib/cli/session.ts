import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterProfile } from '../core/cluster-profile.js';
import type { Stack } from '../core/stack.js';
import type { LoadedProject } from '../loader/load-stacks.js';
import { MANIFEST_FILE } from '../synth/manifest.js';
import { synthesizeStack, type StackSynthesis } from '../synth/synthesize.js';
import { connect, sshTransportFor, type TargetConnection } from '../targets/connection.js';
import type { SshOptions } from '../targets/ssh-transport.js';
import { CliError, type Output } from './output.js';
import { SNAPSHOTS_DIR } from './project.js';

/** Options every command that acts on a target takes. */
export interface TargetOptions {
  readonly target?: string;
  /** Accept an unknown SSH host key (and record it). */
  readonly acceptNewHostKey?: boolean;
  /** Send SSH through the system OpenSSH client (ControlMaster, MFA). */
  readonly openssh?: boolean;
  /** Reach the target as an automation node (also the profile's `automation: true`). */
  readonly automation?: boolean;
}

/**
 * The target a command acts on: `--target`, else the stack's default. An
 * undeclared name may be any profile another stack declares, or `local`;
 * plan and apply render such a pair in memory.
 */
export function resolveTarget(project: LoadedProject, stack: Stack, name: string | undefined): ClusterProfile {
  if (name === undefined) return stack.defaultTarget;
  const own = stack.target(name);
  if (own) return own;
  for (const other of project.stacks) {
    const found = other.stack.targets.find((t) => t.name === name);
    if (found) return found;
  }
  // A shared profile made in a stack file without a stack of its own (stacks/profiles.ts).
  const shared = [...project.profiles].reverse().find((p) => p.name === name);
  if (shared) return shared;
  const known = new Set([
    'local',
    ...project.stacks.flatMap((s) => s.stack.targets.map((t) => t.name)),
    ...project.profiles.map((p) => p.name),
  ]);
  throw new CliError(`no target named ${name} (targets: ${[...known].sort().join(', ')})`);
}

/** Renders the (stack, target) pair in memory, warning when its committed snapshot is stale. */
export function synthesizeFor(
  project: LoadedProject,
  stack: Stack,
  target: ClusterProfile,
  io: Output,
): StackSynthesis {
  const synthesis = synthesizeStack(stack, target, project.dir);
  const committed = join(project.dir, SNAPSHOTS_DIR, stack.stackName, target.name, MANIFEST_FILE);
  if (stack.targets.some((t) => t.name === target.name) && existsSync(committed)) {
    if (readFileSync(committed, 'utf8') !== synthesis.files.get(MANIFEST_FILE)!.content) {
      io.err(
        io.colors.yellow(
          `Warning: snapshots/${stack.stackName}/${target.name}/ is stale; run hpcdk synth and commit it.`,
        ),
      );
    }
  }
  return synthesis;
}

/** Opens the target: local processes, or SSH (ssh2 by default, OpenSSH with --openssh). */
export async function openTarget(
  project: LoadedProject,
  profile: ClusterProfile,
  options: TargetOptions,
): Promise<TargetConnection> {
  const ssh: SshOptions = { acceptNewHostKey: options.acceptNewHostKey ?? false, useOpenSsh: options.openssh ?? false };
  const automation = options.automation === true || profile.spec.automation;
  if (automation && profile.isLocal) throw new CliError(`--automation: target ${profile.name} is not reached over SSH`);
  try {
    return await connect(profile, {
      projectDir: project.dir,
      transportFor: sshTransportFor({ ...ssh, automation }),
      ssh,
    });
  } catch (e) {
    throw new CliError(`cannot reach target ${profile.name}: ${(e as Error).message}`);
  }
}
