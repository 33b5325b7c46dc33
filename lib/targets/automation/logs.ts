import { posix } from 'node:path';
import { HpcdkError } from '../../core/hpcdk-error.js';
import type { JobLogRequest } from '../backend.js';
import type { TargetConnection } from '../target-connection.js';
import { lastJobId, logPath } from '../../state/log-names.js';
import { remoteLayout, runHelper } from './transport.js';
import { JOURNAL_FILE } from '../../state/layout.js';

/** `hpcdk logs` on an automation node: the journal and the log, both read over sftp. */
export async function readJobLogOnAutomationNode(conn: TargetConnection, request: JobLogRequest): Promise<string> {
  const { stack, address, jobName, pattern, job } = request;
  const { channel, stackDir } = remoteLayout(conn, stack);
  const id =
    job ?? lastJobId((await channel.read([posix.join(stackDir, JOURNAL_FILE)]))[0]?.toString('utf8') ?? '', address);
  if (!id) throw new HpcdkError(`${address} has not been submitted`);
  const path = logPath(pattern, jobName, id);
  const [log] = await channel.read([posix.join(stackDir, path)]);
  if (log === undefined) throw new HpcdkError(`no output yet at ${path} (job ${id})`);
  return log.toString('utf8');
}

/** `hpcdk force-unlock` on an automation node: the helper removes the lock and says whose it was. */
export async function unlockOnAutomationNode(conn: TargetConnection, stack: string): Promise<string | undefined> {
  const r = await runHelper(conn, stack, 'unlock', {});
  if (r.exitCode !== 0)
    throw new Error(`force-unlock on ${conn.transport.description} failed (exit ${r.exitCode}): ${r.stderr.trim()}`);
  return r.stdout.trim() || undefined;
}
