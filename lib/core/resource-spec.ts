/**
 * The typed contract between constructs and everything after synth: each
 * resource kind and the spec apply needs for it. Constructs produce these;
 * plan, apply, status, logs, gc, graph and pull read them, narrowing on
 * `kind`, never casting. Plain JSON throughout: it is written to the manifest
 * and to saved plans.
 */

/** Every kind of resource a construct declares. */
export const ResourceKind = {
  job: 'job',
  sweepPoint: 'sweep-point',
  file: 'file',
  pythonEnv: 'python-env',
  condaEnv: 'conda-env',
  rLibrary: 'r-library',
  wheelhouse: 'wheelhouse',
  containerImage: 'container-image',
  codeBundle: 'code-bundle',
  dataset: 'dataset',
} as const;
export type ResourceKind = (typeof ResourceKind)[keyof typeof ResourceKind];

/** How apply builds a resource on the login node, and how plan reads what it built. */
export interface BuildSpec {
  /** Snapshot path of the script apply runs (with bash, from the stack folder, HPCDK_STACK_DIR set). */
  readonly script: string;
  /** Snapshot path of a check run after a successful build (a smoke test). */
  readonly check?: string;
  /** A shell command whose output is recorded as the built thing's actual state (pip freeze…), read back by plan. */
  readonly lock?: string;
  /**
   * The build script understands HPCDK_DESCRIBE=1: it prints how it would
   * build on this target (or why it cannot, exiting non-zero) and builds
   * nothing. Plan runs it in its read and shows the answer.
   */
  readonly describe?: boolean;
}

/** What a job asks of the cluster, in the figures a budget counts. */
export interface ResourceRequest {
  readonly nodes: number;
  readonly cpus: number;
  /** The job's time limit, else the partition's (SLURM's default); null when neither is known. */
  readonly timeMinutes: number | null;
  readonly gpus: { readonly type: string | null; readonly count: number } | null;
}

/** A job or sweep that must first have completed, unchanged, on another target. */
export interface GateSpec {
  /** The name of the target it must have completed on. */
  readonly completedOn: string;
}

/** A scheduler dependency on another resource of the stack. */
export interface RunDependency {
  readonly address: string;
  /** SLURM's dependency type: `afterok`, `afterany`, `afternotok`, `aftercorr`. */
  readonly type: string;
}

/** Where a job's declared outputs are kept on the target, for `hpcdk pull`. */
export interface RunOutput {
  /** The path as the target's shell writes it (may name node-side variables). */
  readonly to: string;
  /** Each array task writes its own copy, under its index. */
  readonly perTask: boolean;
}

/** What apply needs to submit any batch work: a job or one sweep point. */
export interface RunSpec {
  /** Snapshot path of the batch script. */
  readonly script: string;
  readonly jobName: string;
  /** Log file patterns (SLURM's `%x`, `%j`, `%A`, `%a`), relative to the stack folder unless absolute. */
  readonly stdout: string;
  readonly stderr: string;
  readonly dependencies: readonly RunDependency[];
  /** Submissions before a failed job is left failed. */
  readonly maxAttempts: number;
  readonly singleton: boolean;
  /** Names of secrets apply reads from its own environment and uploads; never their values. */
  readonly secrets: readonly string[];
  readonly outputs: readonly RunOutput[];
  readonly request: ResourceRequest;
  readonly gate?: GateSpec;
}

export type JobSpec = RunSpec;

/** One point of a sweep: the sweep's run spec, plus the point's own parameters. */
export interface SweepPointSpec extends RunSpec {
  /** The sweep's address: every point of it shares one script and one array. */
  readonly sweep: string;
  /** At most this many of the sweep's tasks run at once; null for no limit. */
  readonly throttle: number | null;
  /** The point's key within the sweep, e.g. `lr=0.1,seed=1`. */
  readonly key: string;
  readonly params: Readonly<Record<string, string | number | boolean>>;
}

/** Set when the resource is built on the login node by apply; absent when jobs build it. */
export interface LoginBuild {
  readonly build?: BuildSpec;
}

export interface PythonEnvSpec extends LoginBuild {
  /** The declared requirement lines, for the drift check against the recorded freeze. */
  readonly python: { readonly requirements: readonly string[]; readonly pipOnly: readonly string[] };
}

export interface CondaEnvSpec extends LoginBuild {
  readonly conda: {
    readonly dependencies: readonly string[];
    readonly pip: readonly string[];
    readonly pipOnly: readonly string[];
  };
}

export interface RLibrarySpec extends LoginBuild {
  /** `name==version` pins, for the drift check against the recorded lock. */
  readonly r: { readonly packages: readonly string[] };
}

export type WheelhouseSpec = LoginBuild;

export interface ContainerImageSpec {
  readonly build: BuildSpec;
  /** Where the built image is kept on the target (a `.sif` path or an image reference). */
  readonly image: string;
  readonly tag: string;
}

/** The archive apply makes from HEAD and uploads for a code bundle. */
export interface BundleSpec {
  readonly paths: readonly string[];
  /** Digest of the bundled tree: the same tree is never uploaded twice. */
  readonly contentId: string;
  /** Where the archive and its commit are uploaded, relative to the stack folder. */
  readonly archive: string;
  readonly commitFile: string;
}

export interface CodeBundleSpec {
  readonly build: BuildSpec;
  readonly bundle: BundleSpec;
}

/** Kinds whose files are all there is to them. */
export type EmptySpec = Readonly<Record<never, never>>;

/** The spec each kind carries. */
export interface ResourceSpecs {
  job: JobSpec;
  'sweep-point': SweepPointSpec;
  file: EmptySpec;
  'python-env': PythonEnvSpec;
  'conda-env': CondaEnvSpec;
  'r-library': RLibrarySpec;
  wheelhouse: WheelhouseSpec;
  'container-image': ContainerImageSpec;
  'code-bundle': CodeBundleSpec;
  dataset: EmptySpec;
}

/** `{ kind, spec }` for each kind: the discriminated union both declarations and manifest resources are built on. */
export type KindAndSpec = { [K in ResourceKind]: { readonly kind: K; readonly spec: ResourceSpecs[K] } }[ResourceKind];

/** The part of a resource this module reads. */
type Specified = KindAndSpec;

/** Batch work: what the scheduler runs. */
export type Runnable<R extends Specified = Specified> = Extract<R, { kind: 'job' | 'sweep-point' }>;

export function isRunnable<R extends Specified>(r: R): r is Runnable<R> {
  return isRunnableKind(r.kind);
}

/** True for the kinds the scheduler runs; for plan changes and rows, which carry a kind but no spec. */
export function isRunnableKind(kind: ResourceKind): kind is 'job' | 'sweep-point' {
  return kind === ResourceKind.job || kind === ResourceKind.sweepPoint;
}

export function isSweepPoint<R extends Specified>(r: R): r is Extract<R, { kind: 'sweep-point' }> {
  return r.kind === ResourceKind.sweepPoint;
}

/** What a resource is grouped under in logs, pulls and graphs: a sweep point's sweep, else its own address. */
export function runGroup(r: Specified & { readonly address: string }): string {
  return r.kind === ResourceKind.sweepPoint ? r.spec.sweep : r.address;
}

/** How apply builds the resource on the login node, if it does. */
export function buildOf(r: Specified): BuildSpec | undefined {
  return 'build' in r.spec ? r.spec.build : undefined;
}

/** The run spec of batch work, else undefined. */
export function runSpecOf(r: Specified): RunSpec | undefined {
  return isRunnable(r) ? r.spec : undefined;
}

/** `r` narrowed to `kind`; throws when it is of another kind. */
export function ofKind<R extends Specified, K extends ResourceKind>(r: R, kind: K): Extract<R, { readonly kind: K }> {
  if (r.kind !== kind) throw new Error(`expected a ${kind} resource, got a ${r.kind}`);
  return r as Extract<R, { readonly kind: K }>;
}
