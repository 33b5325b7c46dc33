import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import SSHConfig from 'ssh-config';
import { Client, type ConnectConfig } from 'ssh2';
import type { Duplex } from 'node:stream';
import type { ClusterProfile } from '../core/cluster-profile.js';
import { checkHostKey, fingerprint, keyType, knownHostName, rememberHostKey } from './known-hosts.js';
import { SessionPool } from './script-session.js';
import {
  lineSplitter,
  STDIN_SCRIPT_COMMAND,
  wrapScript,
  type ExecResult,
  type RunOptions,
  type Transport,
} from './transport.js';
import { loadExeca } from './lazy-execa.js';

export interface SshOptions {
  /** Accept and record a host key seen for the first time. A changed key is refused regardless. */
  readonly acceptNewHostKey: boolean;
  /** Use the system `ssh` (ControlMaster, MFA prompts, agents of all kinds) instead of ssh2. */
  readonly useOpenSsh: boolean;
}

/** The ssh config file to read: $HPCDK_SSH_CONFIG, else ~/.ssh/config. */
export function sshConfigPath(): string {
  return process.env.HPCDK_SSH_CONFIG || join(homedir(), '.ssh', 'config');
}

function expandHome(p: string): string {
  return p.startsWith('~/') ? join(homedir(), p.slice(2)) : p;
}

/** A host's settings after ~/.ssh/config, as OpenSSH would compute them. */
export interface ResolvedHost {
  readonly alias: string;
  readonly hostName: string;
  readonly port: number;
  readonly user: string;
  readonly identityFiles: readonly string[];
  readonly knownHostsFiles: readonly string[];
  readonly proxyJump?: string;
  readonly strictHostKeyChecking?: string;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function all(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

export function resolveHost(
  alias: string,
  overrides: { user?: string; port?: number; proxyJump?: string } = {},
): ResolvedHost {
  const path = sshConfigPath();
  const config = existsSync(path) ? SSHConfig.parse(readFileSync(path, 'utf8')) : new SSHConfig();
  const c = config.compute(alias) as Record<string, string | string[] | undefined>;
  const identityFiles = all(c.IdentityFile).map(expandHome);
  const defaults = ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((n) => join(homedir(), '.ssh', n));
  const proxyJump = overrides.proxyJump ?? first(c.ProxyJump);
  let user = overrides.user ?? first(c.User);
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = 'root';
    }
  }
  return {
    alias,
    hostName: first(c.HostName) ?? alias,
    port: overrides.port ?? Number(first(c.Port) ?? 22),
    user,
    identityFiles: identityFiles.length > 0 ? identityFiles : defaults.filter((f) => existsSync(f)),
    knownHostsFiles: (all(c.UserKnownHostsFile).length > 0 ? all(c.UserKnownHostsFile) : ['~/.ssh/known_hosts'])
      .flatMap((s) => s.split(/\s+/))
      .map(expandHome),
    ...(proxyJump && proxyJump.toLowerCase() !== 'none' ? { proxyJump } : {}),
    ...(first(c.StrictHostKeyChecking) ? { strictHostKeyChecking: first(c.StrictHostKeyChecking)!.toLowerCase() } : {}),
  };
}

/** Opens one ssh2 connection, checking the host key against known_hosts. */
function openClient(host: ResolvedHost, options: SshOptions, sock?: Duplex): Promise<Client> {
  const name = knownHostName(host.hostName, host.port);
  const acceptNew =
    options.acceptNewHostKey || host.strictHostKeyChecking === 'accept-new' || host.strictHostKeyChecking === 'no';
  let refusal: string | undefined;
  const key = host.identityFiles.find((f) => existsSync(f));
  const agent = process.env.SSH_AUTH_SOCK;
  // The methods hpcdk has, in ssh2's order, without its first probe (`none`): one round trip less per login.
  const methods = [...(key ? ['publickey'] : []), ...(agent ? ['agent'] : [])];
  const config: ConnectConfig = {
    host: host.hostName,
    port: host.port,
    username: host.user,
    readyTimeout: 20_000,
    ...(methods.length > 0 ? { authHandler: methods as ConnectConfig['authHandler'] } : {}),
    ...(agent ? { agent } : {}),
    ...(key ? { privateKey: readFileSync(key) } : {}),
    ...(sock ? { sock } : {}),
    hostVerifier: (blob: Buffer) => {
      const verdict = checkHostKey(host.knownHostsFiles, name, blob);
      if (verdict === 'known') return true;
      if (verdict === 'changed') {
        refusal = `the host key of ${name} has CHANGED (${keyType(blob)} ${fingerprint(blob)}) and does not match known_hosts: refusing to connect. If the change is expected, remove the old key with ssh-keygen -R`;
        return false;
      }
      if (acceptNew) {
        rememberHostKey(host.knownHostsFiles[0]!, name, blob);
        return true;
      }
      refusal = `unknown host key for ${name} (${keyType(blob)} ${fingerprint(blob)}): refusing to connect. Check it, then add it to known_hosts or pass --accept-new-host-key`;
      return false;
    },
  };
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.once('ready', () => resolve(client));
    client.once('error', (e) =>
      reject(new Error(refusal ?? `ssh ${host.user}@${host.hostName}:${host.port}: ${e.message}`)),
    );
    client.connect(config);
  });
}

/** Runs scripts over one ssh2 connection, kept for the whole command, in sessions that take script after script. */
export class Ssh2Transport implements Transport {
  private readonly sessions: SessionPool;

  constructor(
    /** The connection, for the automation mode's sftp and exec channels (lib/targets/automation). */
    public readonly client: Client,
    public readonly description: string,
    private readonly jump?: Client,
  ) {
    this.sessions = new SessionPool(
      (command) =>
        new Promise((resolve, reject) => {
          this.client.exec(command, (err, channel) => {
            if (err) return reject(new Error(`${this.description}: ${err.message}`));
            resolve({
              stdin: channel,
              stdout: channel,
              stderr: channel.stderr,
              onClose: (callback) => channel.on('close', callback),
            });
          });
        }),
    );
  }

  public prewarm(): Promise<void> {
    return this.sessions.prewarm();
  }

  public run(script: string, options: RunOptions = {}): Promise<ExecResult> {
    return this.sessions.run(script, options);
  }

  public async close(): Promise<void> {
    await this.sessions.end();
    this.client.end();
    this.jump?.end();
  }
}

/** Runs scripts through the system OpenSSH client: ControlMaster and MFA setups work unchanged. */
export class OpenSshTransport implements Transport {
  public readonly description: string;

  constructor(
    private readonly alias: string,
    private readonly args: readonly string[],
  ) {
    this.description = `ssh ${alias} (OpenSSH)`;
  }

  public async run(script: string, options: RunOptions = {}): Promise<ExecResult> {
    const child = (await loadExeca())('ssh', [...this.args, this.alias, STDIN_SCRIPT_COMMAND], {
      input: wrapScript(script),
      reject: false,
      stripFinalNewline: false,
    });
    const split = lineSplitter(options.onLine);
    child.stdout?.on('data', (d: Buffer) => split(d.toString('utf8')));
    const r = await child;
    const stderr = String(r.stderr ?? '');
    // ssh exits 255 for its own errors; these mean the connection went away mid-script.
    const lost =
      r.exitCode === 255 && /closed by remote host|Broken pipe|Connection reset|Connection timed out/.test(stderr);
    return {
      stdout: String(r.stdout ?? ''),
      stderr,
      exitCode: r.exitCode ?? 255,
      ...(lost ? { connectionLost: true } : {}),
    };
  }

  public async close(): Promise<void> {}
}

/**
 * The system ssh's options for a profile (before the host alias): the ssh
 * config hpcdk reads, the profile's user, port and jump host, and
 * accept-new when asked. Interactive sessions use them without BatchMode.
 */
export function openSshArgs(profile: ClusterProfile, options: Pick<SshOptions, 'acceptNewHostKey'>): string[] {
  const ssh = profile.spec.ssh;
  const args: string[] = [];
  if (process.env.HPCDK_SSH_CONFIG) args.push('-F', process.env.HPCDK_SSH_CONFIG);
  if (options.acceptNewHostKey) args.push('-o', 'StrictHostKeyChecking=accept-new');
  if (ssh?.user) args.push('-l', ssh.user);
  if (ssh?.port) args.push('-p', String(ssh.port));
  if (ssh?.proxyJump) args.push('-J', ssh.proxyJump);
  return args;
}

/** Opens the transport for an SSH target: ssh2 by default, or the system client. */
export async function openSshTransport(profile: ClusterProfile, options: SshOptions): Promise<Transport> {
  const ssh = profile.spec.ssh;
  if (!ssh) throw new Error(`target ${profile.name} has no ssh connection`);
  if (options.useOpenSsh)
    return new OpenSshTransport(ssh.host, ['-o', 'BatchMode=yes', ...openSshArgs(profile, options)]);
  return openSsh2(ssh, options);
}

/** The host a profile's `ssh` settings reach, as ~/.ssh/config completes them (user, port, jump host). */
export function resolveProfileHost(ssh: NonNullable<ClusterProfile['spec']['ssh']>): ResolvedHost {
  return resolveHost(ssh.host, {
    ...(ssh.user ? { user: ssh.user } : {}),
    ...(ssh.port ? { port: ssh.port } : {}),
    ...(ssh.proxyJump ? { proxyJump: ssh.proxyJump } : {}),
  });
}

/** Opens one ssh2 connection as a profile's `ssh` settings and ~/.ssh/config say, through its jump host if it has one. */
async function openSsh2(
  ssh: NonNullable<ClusterProfile['spec']['ssh']>,
  options: Pick<SshOptions, 'acceptNewHostKey'>,
): Promise<Ssh2Transport> {
  const host = resolveProfileHost(ssh);
  const sshOptions: SshOptions = { acceptNewHostKey: options.acceptNewHostKey, useOpenSsh: false };
  let jump: Client | undefined;
  let sock: Duplex | undefined;
  if (host.proxyJump) {
    const jumpHost = resolveHost(host.proxyJump);
    jump = await openClient(jumpHost, sshOptions);
    sock = await new Promise<Duplex>((resolve, reject) =>
      jump!.forwardOut('127.0.0.1', 0, host.hostName, host.port, (err, stream) =>
        err ? reject(err) : resolve(stream),
      ),
    );
  }
  const client = await openClient(host, sshOptions, sock);
  return new Ssh2Transport(client, `ssh ${host.user}@${host.hostName}:${host.port}`, jump);
}
