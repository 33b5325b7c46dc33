import type { ClusterProfile } from '../core/cluster-profile.js';
import type { ShellValue } from '../shell/index.js';
import type { Backend } from './backend.js';
import type { Scheduler } from './scheduler.js';
import type { Transport } from './transport.js';

/** A target opened for one command: how scripts travel, which scheduler, where stacks live, and the backend over them. */
export interface TargetConnection {
  readonly profile: ClusterProfile;
  readonly transport: Transport;
  readonly scheduler: Scheduler;
  /** What plan, apply and the run commands call; they never ask which kind it is. */
  readonly backend: Backend;
  stackDir(stack: string): ShellValue;
  /** `<stack>~<key>`: the stack and a short hash of its folder on this target, as job comments carry it. */
  deployment(stack: string): string;
  close(): Promise<void>;
}
