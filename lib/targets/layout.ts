import { isAbsolute, join } from 'node:path';
import type { ClusterProfile } from '../core/cluster-profile.js';
import { RuntimeRef, type ShellValue } from '../shell/index.js';

/**
 * Where a stack lives on a target: `<base>/<stack>/`. What hpcdk keeps
 * inside that folder is named in lib/state/layout.ts.
 */
export interface StackLayout {
  /** The stack folder, as a shell value (a RuntimeRef when it lies under $HOME). */
  readonly stackDir: ShellValue;
}

/** The local target keeps its folder in the project, so a laptop needs nothing else. */
export const LOCAL_BASE = '.hpcdk/local';

/** Turns a profile's base path into a shell value: `~/x` and `$HOME/x` stay references to the remote home. */
export function basePathValue(profile: ClusterProfile, projectDir: string): ShellValue {
  const base = profile.spec.basePath;
  if (profile.isLocal) {
    const local = base ?? LOCAL_BASE;
    return isAbsolute(local) ? local : join(projectDir, local);
  }
  if (base === undefined) return RuntimeRef.env('HOME').join('.hpcdk');
  if (base === '~') return RuntimeRef.env('HOME');
  if (base.startsWith('~/')) return RuntimeRef.env('HOME').join(base.slice(2));
  const ref = RuntimeRef.parse(base);
  return ref ?? base;
}

export function stackLayout(profile: ClusterProfile, projectDir: string, stack: string): StackLayout {
  const base = basePathValue(profile, projectDir);
  return { stackDir: typeof base === 'string' ? join(base, stack) : base.join(stack) };
}
