import type { ClusterProfile } from '../core/cluster-profile.js';
import { sha256 } from '../core/digest.js';
import { word, type ShellValue } from '../shell/index.js';
import { stackLayout } from './layout.js';
import { LocalScheduler } from './local-scheduler.js';
import type { Scheduler } from './scheduler.js';
import { SlurmScheduler } from './slurm-scheduler.js';
import { LocalTransport, type Transport } from './transport.js';

/** A target opened for one command: how scripts travel, which scheduler, where stacks live. */
export interface TargetConnection {
  readonly profile: ClusterProfile;
  readonly transport: Transport;
  readonly scheduler: Scheduler;
  stackDir(stack: string): ShellValue;
  /** `<stack>~<key>`: the stack and a short hash of its folder on this target, as job comments carry it. */
  deployment(stack: string): string;
  close(): Promise<void>;
}

export interface ConnectOptions {
  readonly projectDir: string;
  /** Makes the transport; the SSH transports plug in here. */
  readonly transportFor?: (profile: ClusterProfile) => Promise<Transport>;
}

/** Opens `profile`: a local transport for the local target, else the one `transportFor` makes. */
export async function connect(profile: ClusterProfile, options: ConnectOptions): Promise<TargetConnection> {
  let transport: Transport;
  if (profile.isLocal) transport = new LocalTransport();
  else if (options.transportFor) transport = await options.transportFor(profile);
  else throw new Error(`target ${profile.name}: no transport for scheduler ${profile.spec.scheduler}`);
  const scheduler = profile.spec.scheduler === 'slurm' ? new SlurmScheduler() : new LocalScheduler();
  return {
    profile,
    transport,
    scheduler,
    stackDir: (stack) => stackLayout(profile, options.projectDir, stack).stackDir,
    deployment: (stack) =>
      `${stack}~${sha256(word(stackLayout(profile, options.projectDir, stack).stackDir)).slice(0, 8)}`,
    close: () => transport.close(),
  };
}
