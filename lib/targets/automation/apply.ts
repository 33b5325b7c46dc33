import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { ApplyProgram, Submission } from '../apply-program.js';
import { INCOMING_DIR } from '../../state/layout.js';
import { LOCK_TTL_SECONDS, lockOwner } from '../../state/lock.js';
import { renderParamsFile } from '../../render/params.js';
import type { TargetConnection } from '../target-connection.js';
import { arrayOption } from '../slurm-scheduler.js';
import type { ExecResult, RunOptions } from '../transport.js';
import type { RemoteFile } from './channel.js';
import { AutomationRefusedError, checkWords, WHITE_SPACE } from './commands.js';
import { buildRefusal } from './refuse.js';
import { runHelper } from './transport.js';
import { SECRETS_DIR } from '../../state/layout.js';

/** One step of the helper's apply program (see `Applier` in helper.ts). */
export type ProgramStep =
  | {
      readonly op: 'place';
      readonly file: string;
      readonly to: string;
      readonly mode: number;
      readonly dirMode?: number;
      readonly journal?: string[][];
      readonly say?: string[];
    }
  | { readonly op: 'remove'; readonly path: string; readonly journal: string[][]; readonly say: string[] }
  | { readonly op: 'cancel'; readonly ids: readonly string[]; readonly journal: string[][]; readonly say: string[] }
  | { readonly op: 'journal'; readonly journal: string[][] }
  | SubmitStep;

export interface SubmitStep {
  readonly op: 'submit';
  /** The address (a sweep's for its chunks): what later dependencies name. */
  readonly key: string;
  readonly identity: string;
  readonly comment: string;
  /** sbatch's words before `--dependency` (known only there) and the script. */
  readonly args: readonly string[];
  /** Relative to files/. */
  readonly script: string;
  readonly stdout: string;
  readonly stderr: string;
  readonly singleton: boolean;
  readonly dependencies: ReadonlyArray<{ readonly type: string; readonly jobId?: string; readonly submitted?: string }>;
  readonly paramsFile?: string;
  /** A chunk's points, journalled as `<array id>_<index>`. */
  readonly points?: ReadonlyArray<{ readonly address: string; readonly identity: string; readonly index: number }>;
  /** Journal lines written once it is submitted (what it was made of). */
  readonly after: ReadonlyArray<readonly string[]>;
}

/** What the helper runs for an apply, and the files it places (uploaded to `.hpcdk/incoming/<incoming>/`). */
export interface HelperProgram {
  readonly request: {
    readonly incoming: string;
    readonly owner: string;
    readonly serial: number;
    readonly ttl: number;
    readonly steps: readonly ProgramStep[];
  };
  readonly files: readonly RemoteFile[];
}

function submitStep({ request: r, chunk, inputsLine }: Submission): SubmitStep {
  const args = ['--parsable', `--comment=${r.comment}`, ...(r.array ? [arrayOption(r).trim()] : [])];
  const script = `files/${r.script}`;
  // The helper passes them as an argument list, but the mode promises words without spaces.
  checkWords([...args, script, ...r.dependencies.map((d) => d.type)], `[${r.address}] sbatch`, WHITE_SPACE);
  return {
    op: 'submit',
    key: r.address,
    identity: r.identity,
    comment: r.comment,
    args,
    script: r.script,
    stdout: r.stdout,
    stderr: r.stderr,
    singleton: r.singleton === true,
    dependencies: r.dependencies.map((d) =>
      d.jobId !== undefined ? { type: d.type, jobId: d.jobId } : { type: d.type, submitted: d.submittedAddress ?? '' },
    ),
    ...(r.paramsFile ? { paramsFile: r.paramsFile } : {}),
    ...(chunk
      ? { points: chunk.points.map((p) => ({ address: p.address, identity: p.identity, index: p.index })) }
      : {}),
    after: [[...inputsLine]],
  };
}

/**
 * An apply program as the helper's steps: the same steps in the same order
 * as shell/apply-script.ts, the same journal lines and `@@` output. Refuses
 * (before anything is sent) what needs a shell on the login node: builds.
 */
export function helperProgram(program: ApplyProgram): HelperProgram {
  if (program.builds.length > 0) throw new AutomationRefusedError(program.builds.map(buildRefusal).join('\n'));
  const incoming = randomBytes(6).toString('hex');
  const files: RemoteFile[] = [];
  const upload = (content: string, mode: number): string => {
    const name = String(files.length + 1);
    files.push({ path: posix.join(INCOMING_DIR, incoming, name), content, mode });
    return name;
  };
  const steps: ProgramStep[] = [];
  // Cancels first, as the shell backend does.
  const cancels = program.cancels;
  if (cancels.length > 0)
    steps.push({
      op: 'cancel',
      ids: cancels,
      journal: cancels.map((id) => ['cancel', id]),
      say: cancels.map((id) => `cancel ${id}`),
    });
  for (const f of program.files) {
    if ('remove' in f) {
      steps.push({
        op: 'remove',
        path: `files/${f.remove}`,
        journal: [['rmfile', f.remove]],
        say: [`delete ${f.remove}`],
      });
    } else {
      const u = f.upload;
      const mode = u.executable ? 0o755 : 0o644;
      steps.push({
        op: 'place',
        file: upload(u.content, mode),
        to: `files/${u.path}`,
        mode,
        journal: [['file', u.path, u.sha256]],
        say: [`upload ${u.path}`],
      });
    }
  }
  for (const secret of program.secrets) {
    steps.push({
      op: 'place',
      file: upload(secret.value, 0o600),
      to: `${SECRETS_DIR}/${secret.name}`,
      mode: 0o600,
      dirMode: 0o700,
    });
  }
  for (const s of program.submissions) {
    if (s.chunk)
      steps.push({
        op: 'place',
        file: upload(renderParamsFile(s.chunk.sweep, s.chunk.id, s.chunk.points), 0o644),
        to: s.request.paramsFile!,
        mode: 0o644,
      });
    steps.push(submitStep(s));
  }
  for (const address of program.forgets) steps.push({ op: 'journal', journal: [['forget', address]] });
  return {
    request: {
      incoming,
      owner: lockOwner(program.operation),
      serial: program.serial,
      ttl: LOCK_TTL_SECONDS,
      steps,
    },
    files,
  };
}

/** Carries out an apply program on an automation node: one sftp transfer and one helper run, printing the same `@@` lines. */
export function applyOnAutomationNode(
  conn: TargetConnection,
  program: ApplyProgram,
  options: RunOptions,
): Promise<ExecResult> {
  const { request, files } = helperProgram(program);
  // Payloads (code archives) come with builds, refused above; none may slip through unplaced.
  if (program.payloads.length > 0)
    throw new AutomationRefusedError(
      'code bundles are unpacked on the login node, which an automation node cannot do; apply once from an interactive session',
    );
  return runHelper(conn, program.stack, 'apply', request, files, options);
}
