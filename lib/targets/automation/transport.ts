import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { ClusterProfile } from '../../core/cluster-profile.js';
import type { TargetConnection } from '../target-connection.js';
import { openSshArgs, openSshTransport, Ssh2Transport, type SshOptions } from '../ssh-transport.js';
import type { ExecResult, RunOptions, Transport } from '../transport.js';
import { OpenSshChannel, Ssh2Channel, type AutomationChannel, type RemoteFile } from './channel.js';
import { AutomationRefusedError, remoteStackDir } from './commands.js';
import { HELPER_NAME, HELPER_PY } from './helper.js';
import { BASE_STATE_DIR } from '../../state/layout.js';

/**
 * The transport of a target reached as an automation node. It runs no
 * shell script: plan, apply, status and logs branch to the helper through
 * `channel`, and anything that would still send a script is refused here
 * rather than bounced by the node's wrapper half way.
 */
export class AutomationTransport implements Transport {
  public readonly description: string;

  constructor(public readonly channel: AutomationChannel) {
    this.description = `${channel.description}, automation node`;
  }

  public async run(): Promise<ExecResult> {
    throw new AutomationRefusedError(
      `${this.description}: this command runs a shell script on the target, which an automation node does not allow`,
    );
  }

  public close(): Promise<void> {
    return this.channel.close();
  }
}

/** Opens an SSH target in automation mode: ssh2 by default, the system client with --openssh. */
export async function openAutomationTransport(
  profile: ClusterProfile,
  options: SshOptions,
): Promise<AutomationTransport> {
  const host = profile.spec.ssh?.host;
  if (!host) throw new Error(`target ${profile.name} has no ssh connection`);
  if (options.useOpenSsh)
    return new AutomationTransport(new OpenSshChannel(host, ['-o', 'BatchMode=yes', ...openSshArgs(profile, options)]));
  const inner = await openSshTransport(profile, options);
  if (!(inner instanceof Ssh2Transport)) throw new Error(`target ${profile.name}: expected the built-in SSH client`);
  return new AutomationTransport(new Ssh2Channel(inner.client, inner.description, () => inner.close()));
}

/** The automation channel of a connection, when it is one. */
export function automationChannel(conn: TargetConnection): AutomationChannel | undefined {
  return conn.transport instanceof AutomationTransport ? conn.transport.channel : undefined;
}

export function isAutomation(conn: TargetConnection): boolean {
  return automationChannel(conn) !== undefined;
}

/** Where a stack lives on the node, and where hpcdk keeps the helper and requests: `<base>/.hpcdk/`. */
export function remoteLayout(
  conn: TargetConnection,
  stack: string,
): { channel: AutomationChannel; stackDir: string; hpcdkDir: string } {
  const channel = automationChannel(conn);
  if (!channel) throw new Error(`${conn.transport.description} is not reached in automation mode`);
  const stackDir = remoteStackDir(conn.stackDir(stack));
  return { channel, stackDir, hpcdkDir: posix.join(posix.dirname(stackDir), BASE_STATE_DIR) };
}

/**
 * Runs the helper once: one sftp transfer (the helper when it changed, the
 * request, and `files` below the stack folder), then one command,
 * `python3 <helper> <mode> <request>`.
 */
export async function runHelper(
  conn: TargetConnection,
  stack: string,
  mode: 'read' | 'apply' | 'unlock',
  request: Readonly<Record<string, unknown>>,
  files: readonly RemoteFile[] = [],
  options: RunOptions = {},
): Promise<ExecResult> {
  const { channel, stackDir, hpcdkDir } = remoteLayout(conn, stack);
  const helper = posix.join(hpcdkDir, HELPER_NAME);
  const requestFile = posix.join(hpcdkDir, 'requests', `${stack}-${randomBytes(6).toString('hex')}.json`);
  const home = await channel.put([
    { path: helper, content: HELPER_PY, mode: 0o644, once: true },
    { path: requestFile, content: JSON.stringify({ ...request, stack }), mode: 0o600 },
    ...files.map((f) => ({ ...f, path: posix.join(stackDir, f.path) })),
  ]);
  return channel.exec(['python3', posix.resolve(home, helper), mode, posix.resolve(home, requestFile)], options);
}
