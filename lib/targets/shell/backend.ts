import { HpcdkError } from '../../core/hpcdk-error.js';
import { word } from '../../shell/index.js';
import { readLogScript } from '../../state/log-names.js';
import { FORCE_UNLOCK } from '../../state/lock.js';
import type { ApplyProgram } from '../apply-program.js';
import type { Backend, JobLogRequest, PullRequest, PullResult, ReadRequest } from '../backend.js';
import type { SshOptions } from '../ssh-transport.js';
import type { TargetConnection } from '../target-connection.js';
import type { ExecResult, RunOptions } from '../transport.js';
import { applyScript } from './apply-script.js';
import { pullOverShell } from './pull.js';
import { readScript } from './read-script.js';

/** A target with a shell (over SSH, or this machine's): every operation is one bash script, one round trip. */
export class ShellBackend implements Backend {
  public readonly runsShellScripts = true;

  constructor(
    private readonly conn: TargetConnection,
    private readonly ssh: SshOptions,
  ) {}

  public read(request: ReadRequest): Promise<ExecResult> {
    return this.conn.transport.run(readScript(this.conn, request));
  }

  /** A shell can carry out every resource kind. */
  public async refuseUnsupported(): Promise<void> {}

  public apply(program: ApplyProgram, options: RunOptions = {}): Promise<ExecResult> {
    return this.conn.transport.run(applyScript(this.conn, program), options);
  }

  public async unlock(stack: string): Promise<string | undefined> {
    const r = await this.conn.transport.run(`D=${word(this.conn.stackDir(stack))}\n${FORCE_UNLOCK}`);
    const owner = r.stdout.trim();
    return owner === '' ? undefined : owner;
  }

  public async readLog(request: JobLogRequest): Promise<string> {
    const { stack, ...log } = request;
    const r = await this.conn.transport.run(readLogScript({ stackDir: this.conn.stackDir(stack), ...log }));
    if (r.exitCode !== 0)
      throw new HpcdkError(r.stderr.trim().replace(/^hpcdk: /, '') || `reading the log failed (exit ${r.exitCode})`);
    return r.stdout;
  }

  public pull(request: PullRequest): Promise<PullResult> {
    return pullOverShell(this.conn, this.ssh, request);
  }
}
