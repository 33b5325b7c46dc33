import { AllocationSchema, SLURM_TIME, allocationOnTarget, type Allocation } from '../../core/allocation.js';
import { HpcConstruct, type SynthContext } from '../../core/hpc-construct.js';
import { isJobRuntime, type JobRuntime } from '../../core/runtime.js';
import type { Stack } from '../../core/stack.js';
import type { StackSynthesis } from '../../synth/synthesize.js';
import { renderSessionScript, remoteCommand, srunOptions, type SessionSpec } from '../../ops/shell-session.js';
import { stackLayout } from '../../targets/layout.js';
import { runInteractive } from '../../targets/shell/interactive.js';
import { CliError, type Output } from '../output.js';
import { openProject, pickStacks } from '../project.js';
import { resolveTarget, synthesizeFor, type TargetOptions } from '../session.js';
import { ResourceKind, buildOf } from '../../core/resource-spec.js';

export interface ShellOptions extends TargetOptions {
  readonly dir?: string;
  /** The stack holding the construct, when several stacks have one at that address. */
  readonly stack?: string;
  /** A job or sweep whose allocation the session takes. */
  readonly like?: string;
  /** The session's time limit. */
  readonly time?: string;
}

/** The context constructs render their job prologue in, with what synth already made for the others. */
function contextFor(
  stack: Stack,
  synthesis: StackSynthesis,
  target: SynthContext['target'],
  projectDir: string,
): SynthContext {
  return {
    stack,
    target,
    projectDir,
    resolve: (construct) => ({
      construct,
      artifactPaths: new Map(
        synthesis.artifacts
          .filter((a) => a.construct === construct.node.path)
          .map((a) => [a.path.slice(construct.address.length + 1), a.path]),
      ),
      resources: synthesis.manifest.resources.filter((r) => r.construct === construct.node.path),
    }),
  };
}

const constructsOf = (stack: Stack): HpcConstruct[] => stack.node.findAll().filter(HpcConstruct.isHpcConstruct);

/** What a session runs in: an environment (it has a freeze command) or an image (it wraps steps); not data or code. */
function isRuntime(c: HpcConstruct): c is HpcConstruct & JobRuntime {
  return isJobRuntime(c) && (c.wrapStep !== undefined || c.freezeCommand !== undefined);
}

type WithAllocation = HpcConstruct & { allocationFor(ctx: SynthContext): Allocation };

/** Jobs and sweeps: what `--like` may name. */
const hasAllocation = (c: HpcConstruct): c is WithAllocation =>
  typeof (c as Partial<WithAllocation>).allocationFor === 'function';

/** The construct at `address`, in the one stack that has it. */
function findRuntime(
  stacks: readonly Stack[],
  address: string,
): { stack: Stack; construct: HpcConstruct & JobRuntime } {
  const found = stacks.flatMap((stack) =>
    constructsOf(stack)
      .filter((c) => c.address === address)
      .map((construct) => ({ stack, construct })),
  );
  const runtimes = stacks.flatMap((s) =>
    constructsOf(s)
      .filter(isRuntime)
      .map((c) => c.address),
  );
  const have = `environments and images: ${[...new Set(runtimes)].sort().join(', ') || 'none'}`;
  if (found.length === 0) throw new CliError(`no construct at ${address} (${have})`);
  if (found.length > 1)
    throw new CliError(
      `${address} is in stacks ${found.map((f) => f.stack.stackName).join(', ')}: say which with --stack`,
    );
  const { stack, construct } = found[0]!;
  if (!isRuntime(construct))
    throw new CliError(`${address} is a ${construct.kind}: hpcdk shell opens an environment or an image (${have})`);
  return { stack, construct };
}

/** The session's allocation: the target's job defaults, or a job's with --like; --time over either. */
function sessionAllocation(stack: Stack, ctx: SynthContext, options: ShellOptions): Allocation {
  let allocation = allocationOnTarget(ctx.target, AllocationSchema.parse({}));
  if (options.like !== undefined) {
    const jobs = constructsOf(stack).filter(hasAllocation);
    const job = jobs.find((c) => c.address === options.like);
    if (!job)
      throw new CliError(
        `--like ${options.like}: stack ${stack.stackName} has no job or sweep there (jobs: ${jobs.map((j) => j.address).join(', ') || 'none'})`,
      );
    allocation = job.allocationFor(ctx);
  }
  if (options.time !== undefined) {
    if (!SLURM_TIME.test(options.time))
      throw new CliError(`--time ${options.time}: must be a SLURM time such as 01:00:00 or 90`);
    allocation = { ...allocation, time: options.time };
  }
  return allocation;
}

/**
 * `hpcdk shell ADDRESS [-- COMMAND…]`: an interactive shell on a compute node
 * (srun --pty through the system ssh) with the environment active or inside
 * the image; with a command, that command runs there instead.
 */
export async function shellCommand(
  address: string,
  command: readonly string[],
  options: ShellOptions,
  io: Output,
): Promise<number> {
  const project = await openProject(options.dir);
  const { stack, construct } = findRuntime(
    pickStacks(project, options.stack ? [options.stack] : []).map((s) => s.stack),
    address,
  );
  const profile = resolveTarget(project, stack, options.target);
  if (profile.spec.automation || options.automation === true) {
    throw new CliError(
      `hpcdk shell is refused on target ${profile.name}: it is reached as an automation node (${profile.spec.automation ? 'automation: true' : '--automation'}). Automation nodes run allow-listed commands without a terminal, and interactive logins need MFA. ` +
        'Use a profile for the interactive login node (without automation) and open a ControlMaster connection to it first (see --openssh in the README); hpcdk shell then goes through it.',
    );
  }
  const interactive = command.length === 0;
  if (interactive && !process.stdin.isTTY)
    throw new CliError(
      `an interactive session needs a terminal; to run one command: hpcdk shell ${address} -- COMMAND…`,
    );
  const synthesis = synthesizeFor(project, stack, profile, io);
  const ctx = contextFor(stack, synthesis, profile, project.dir);
  const resource = synthesis.manifest.resources.find((r) => r.address === address);
  const allocation = sessionAllocation(stack, ctx, options);
  const envNames = Object.keys(profile.spec.env).sort();
  const shape = { nodes: 1, address, gpus: allocation.gpus?.count ?? 0, envNames };
  const spec: SessionSpec = {
    stack: stack.stackName,
    target: profile.name,
    address,
    what: construct.kind === ResourceKind.containerImage ? 'image' : 'environment',
    stackDir: stackLayout(profile, project.dir, stack.stackName).stackDir,
    scratchVar: profile.spec.scratchVar,
    env: Object.entries(profile.spec.env).sort(([x], [y]) => (x < y ? -1 : 1)),
    prologue: construct.jobPrologue(ctx, shape),
    ...(construct.wrapStep ? { wrap: (step: string) => construct.wrapStep!(ctx, step, shape) } : {}),
    requires: {
      // Built resources (login-built environments, images) need their build; the others their files, which jobs build from.
      ...(resource !== undefined && buildOf(resource) !== undefined ? { builtIdentity: resource.identity } : {}),
      files: resource?.artifacts ?? [],
    },
    ...(interactive ? {} : { command }),
    ...(profile.isLocal
      ? {}
      : { srun: srunOptions(`${stack.stackName}.shell.${address.replace(/\//g, '.')}`, allocation) }),
  };
  const script = renderSessionScript(spec);
  return runInteractive(
    profile,
    { acceptNewHostKey: options.acceptNewHostKey ?? false },
    { script, remoteCommand: remoteCommand(script), terminal: interactive },
  );
}
