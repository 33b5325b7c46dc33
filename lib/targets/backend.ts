/**
 * What plan, apply and the run commands ask of a target, whatever reaches
 * it: a shell over SSH or locally (shell/backend.ts), or the helper of an
 * automation node (automation/backend.ts). The layers above call these and
 * never ask which backend they hold.
 */
import type { ManifestResource } from '../core/output.js';
import type { ApplyProgram } from './apply-program.js';
import type { ExecResult, RunOptions } from './transport.js';

/** A new or changed batch script to dry-run during the read. */
export interface ScriptToTest {
  readonly path: string;
  readonly sha256: string;
  readonly content: string;
}

/** A built resource's lock command, re-run by the read so drift shows the target as it is now. */
export interface PackageLockToRead {
  readonly address: string;
  readonly command: string;
}

/** A build script to run with HPCDK_DESCRIBE=1 during the read: how would it build here? */
export interface BuildToDescribe {
  readonly address: string;
  readonly content: string;
}

/** What plan reads of one stack, in one round trip. */
export interface ReadRequest {
  readonly stack: string;
  /** Each file the stack wants (relative to files/) → its sha256; files that differ come back whole, when small. */
  readonly expected: ReadonlyMap<string, string>;
  readonly scripts?: readonly ScriptToTest[];
  readonly packageLocks?: readonly PackageLockToRead[];
  readonly builds?: readonly BuildToDescribe[];
  /** Log folders (job and sweep addresses) whose run records to read. */
  readonly runDirs?: readonly string[];
}

/** One job's output, as `hpcdk logs` asks for it. */
export interface JobLogRequest {
  readonly stack: string;
  readonly address: string;
  readonly jobName: string;
  /** The job's `--output` or `--error` pattern, relative to the stack folder. */
  readonly pattern: string;
  /** A job id to read instead of the newest the journal records. */
  readonly job?: string;
}

/** A job or a sweep, and where its declared outputs are kept (shell words, as the target's bash writes them). */
export interface PullUnit {
  readonly address: string;
  readonly kind: 'job' | 'sweep';
  readonly outputs: readonly string[];
}

/** What `hpcdk pull` brings back for one stack: each unit's logs, and its outputs unless told not to. */
export interface PullRequest {
  readonly stack: string;
  readonly units: readonly PullUnit[];
  /** The local folder: `runs/<stack>/<target>/`, one folder per unit inside. */
  readonly dest: string;
  readonly withOutputs: boolean;
}

/** What the view script found. */
export interface PullView {
  /** The view folder on the target; undefined when the stack was never applied there. */
  readonly dir?: string;
  readonly logs: ReadonlySet<string>;
  /** Outputs found and linked, and those not there (yet), by address. */
  readonly outputs: ReadonlyMap<
    string,
    ReadonlyArray<{ readonly index: number; readonly path: string; readonly found: boolean }>
  >;
}

export interface Transferred {
  readonly files: number;
  readonly bytes: number;
}

export interface PullResult {
  readonly view: PullView;
  /** What arrived, per unit. */
  readonly moved: ReadonlyMap<string, Transferred>;
}

export interface Backend {
  /**
   * Whether the target runs hpcdk's shell scripts through `transport.run`:
   * what gc, doctor and `images` send. An automation node runs none.
   */
  readonly runsShellScripts: boolean;
  /** Reads one stack's actual state; prints the sections lib/plan/read-target.ts parses, ending with `@@end`. */
  read(request: ReadRequest): Promise<ExecResult>;
  /**
   * Refuses, before anything is written, resources this backend cannot
   * carry out (an automation node runs no login-node build): throws an
   * HpcdkError naming them.
   */
  refuseUnsupported(stack: string, resources: readonly ManifestResource[]): Promise<void>;
  /** Carries out an apply program, printing its `@@` progress lines as they happen. */
  apply(program: ApplyProgram, options?: RunOptions): Promise<ExecResult>;
  /** Removes the stack's lock; returns whose it was, if there was one. */
  unlock(stack: string): Promise<string | undefined>;
  /** One job's output file; throws an HpcdkError when the job never ran or wrote nothing yet. */
  readLog(request: JobLogRequest): Promise<string>;
  /** Copies runs' logs and outputs into the project, only what is new. */
  pull(request: PullRequest): Promise<PullResult>;
}
