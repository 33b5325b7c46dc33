import type { ReadRequest } from '../backend.js';
import { commentPrefix } from '../scheduler.js';
import type { TargetConnection } from '../target-connection.js';
import type { ExecResult } from '../transport.js';
import { runHelper } from './transport.js';

/**
 * The read of shell/read-script.ts on an automation node: the helper
 * prints the same sections, so parseRead reads them. What needs a shell is
 * left out: locks are the recorded ones (their commands are shell), build
 * paths are not described (builds are refused there anyway), and finished
 * jobs are known from squeue and the exit records jobs leave, never sacct.
 */
export function readOnAutomationNode(conn: TargetConnection, request: ReadRequest): Promise<ExecResult> {
  const { stack, expected, scripts = [], packageLocks = [], runDirs = [] } = request;
  return runHelper(conn, stack, 'read', {
    expected: Object.fromEntries(expected),
    scripts,
    locks: packageLocks.map((l) => l.address),
    runDirs,
    commentPrefix: commentPrefix(conn.deployment(stack)),
  });
}
