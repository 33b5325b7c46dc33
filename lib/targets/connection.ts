import type { ClusterProfile } from '../core/cluster-profile.js';
import { sha256 } from '../core/digest.js';
import { word, type ShellValue } from '../shell/index.js';
import { AutomationBackend } from './automation/backend.js';
import { AutomationTransport, openAutomationTransport } from './automation/transport.js';
import type { Backend } from './backend.js';
import { stackLayout } from './layout.js';
import { LocalScheduler } from './local-scheduler.js';
import type { Scheduler } from './scheduler.js';
import { ShellBackend } from './shell/backend.js';
import { SlurmScheduler } from './slurm-scheduler.js';
import { openSshTransport, type SshOptions } from './ssh-transport.js';
import type { TargetConnection } from './target-connection.js';
import { LocalTransport, type Transport } from './transport.js';

export type { TargetConnection } from './target-connection.js';

export interface ConnectOptions {
  readonly projectDir: string;
  /** Makes the transport; the SSH transports plug in here. */
  readonly transportFor?: (profile: ClusterProfile) => Promise<Transport>;
  /** How the system ssh is run where a backend needs it besides the transport (rsync for pull). */
  readonly ssh?: SshOptions;
}

class OpenTarget implements TargetConnection {
  public readonly scheduler: Scheduler;
  public readonly backend: Backend;

  constructor(
    public readonly profile: ClusterProfile,
    public readonly transport: Transport,
    private readonly projectDir: string,
    ssh: SshOptions,
  ) {
    this.scheduler = profile.spec.scheduler === 'slurm' ? new SlurmScheduler() : new LocalScheduler();
    // The one place that knows which backend a target has.
    this.backend = transport instanceof AutomationTransport ? new AutomationBackend(this) : new ShellBackend(this, ssh);
  }

  public stackDir(stack: string): ShellValue {
    return stackLayout(this.profile, this.projectDir, stack).stackDir;
  }

  public deployment(stack: string): string {
    return `${stack}~${sha256(word(this.stackDir(stack))).slice(0, 8)}`;
  }

  public close(): Promise<void> {
    return this.transport.close();
  }
}

/** How an SSH target is reached: the automation helper's channel on an automation node, else a shell over SSH. */
export function sshTransportFor(
  options: SshOptions & { readonly automation: boolean },
): (profile: ClusterProfile) => Promise<Transport> {
  return (profile) =>
    options.automation ? openAutomationTransport(profile, options) : openSshTransport(profile, options);
}

/** Opens `profile`: a local transport for the local target, else the one `transportFor` makes. */
export async function connect(profile: ClusterProfile, options: ConnectOptions): Promise<TargetConnection> {
  let transport: Transport;
  if (profile.isLocal) transport = new LocalTransport();
  else if (options.transportFor) transport = await options.transportFor(profile);
  else throw new Error(`target ${profile.name}: no transport for scheduler ${profile.spec.scheduler}`);
  return new OpenTarget(
    profile,
    transport,
    options.projectDir,
    options.ssh ?? { acceptNewHostKey: false, useOpenSsh: false },
  );
}
