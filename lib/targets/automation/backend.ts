import type { ManifestResource } from '../../core/output.js';
import type { ApplyProgram } from '../apply-program.js';
import type { Backend, JobLogRequest, PullResult, ReadRequest } from '../backend.js';
import type { TargetConnection } from '../target-connection.js';
import type { ExecResult, RunOptions } from '../transport.js';
import { applyOnAutomationNode } from './apply.js';
import { AutomationRefusedError } from './commands.js';
import { readJobLogOnAutomationNode, unlockOnAutomationNode } from './logs.js';
import { readOnAutomationNode } from './read.js';
import { refuseLoginBuilds } from './refuse.js';

/**
 * A target reached as an automation node: no shell runs there, so every
 * operation is the helper's (over one sftp transfer and one allowed command)
 * or a plain sftp read, with the same results the shell backend gives.
 */
export class AutomationBackend implements Backend {
  public readonly runsShellScripts = false;

  constructor(private readonly conn: TargetConnection) {}

  public read(request: ReadRequest): Promise<ExecResult> {
    return readOnAutomationNode(this.conn, request);
  }

  public refuseUnsupported(stack: string, resources: readonly ManifestResource[]): Promise<void> {
    return refuseLoginBuilds(this.conn, stack, resources);
  }

  public apply(program: ApplyProgram, options: RunOptions = {}): Promise<ExecResult> {
    return applyOnAutomationNode(this.conn, program, options);
  }

  public unlock(stack: string): Promise<string | undefined> {
    return unlockOnAutomationNode(this.conn, stack);
  }

  public readLog(request: JobLogRequest): Promise<string> {
    return readJobLogOnAutomationNode(this.conn, request);
  }

  /** Pull finds the folders with a shell script and copies them with rsync: neither runs on an automation node. */
  public async pull(): Promise<PullResult> {
    throw new AutomationRefusedError(
      `pull: target ${this.conn.profile.name} is reached as an automation node, which runs no shell script; pull needs one to find the folders`,
    );
  }
}
