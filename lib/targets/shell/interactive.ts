import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { ClusterProfile } from '../../core/cluster-profile.js';
import { HpcdkError } from '../../core/hpcdk-error.js';
import { openSshArgs, type SshOptions } from '../ssh-transport.js';

/**
 * Runs `script` attached to this terminal on the target (this machine's bash
 * for the local target, the system ssh for an SSH one, as a user would: the
 * same config, prompts and ControlMaster) and returns its exit code.
 * `remoteCommand` is the script as one command line for the remote shell.
 */
export function runInteractive(
  profile: ClusterProfile,
  ssh: Pick<SshOptions, 'acceptNewHostKey'>,
  session: { readonly script: string; readonly remoteCommand: string; readonly terminal: boolean },
): Promise<number> {
  if (profile.isLocal || !profile.spec.ssh) return runAttached('bash', ['-c', session.script]);
  return runAttached('ssh', [
    ...openSshArgs(profile, ssh),
    ...(session.terminal ? ['-t'] : []),
    profile.spec.ssh.host,
    session.remoteCommand,
  ]);
}

/** Runs `file` attached to this terminal and returns its exit code. */
function runAttached(file: string, args: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    // Ctrl-C belongs to the session (its shell, srun, ssh): hpcdk waits for the session to end.
    const ignore = () => {};
    process.on('SIGINT', ignore);
    const child = spawn(file, args, { stdio: 'inherit' });
    child.on('error', (e) => {
      process.off('SIGINT', ignore);
      reject(new HpcdkError(`cannot start ${file}: ${e.message}`));
    });
    child.on('exit', (code, signal) => {
      process.off('SIGINT', ignore);
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}
