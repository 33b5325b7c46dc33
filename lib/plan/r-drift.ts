/**
 * Drift of R libraries: the recorded lock (lock.R: `name==version` lines and
 * `# requires name: deps`) against the pins in the resource's spec. Pure.
 */
import type { ManifestResource } from '../core/output.js';
import type { DriftChecker } from './types.js';
import type { DriftItem } from './types.js';
import { ResourceKind } from '../core/resource-spec.js';

/** What lock.R says a library holds. R package names are case-sensitive and kept as they are. */
export interface RLibraryLock {
  readonly installed: ReadonlyMap<string, string>;
  /** Name → the packages it depends on, imports or links to. */
  readonly requires: ReadonlyMap<string, readonly string[]>;
}

export function parseRLock(lock: string): RLibraryLock {
  const installed = new Map<string, string>();
  const requires = new Map<string, string[]>();
  for (const raw of lock.split('\n')) {
    const line = raw.trim();
    const req = /^# requires ([^:]+):(.*)$/.exec(line);
    if (req) {
      requires.set(req[1]!.trim(), req[2]!.trim().split(/\s+/).filter(Boolean));
      continue;
    }
    const pinned = /^([A-Za-z][A-Za-z0-9.]*)==(\S+)$/.exec(line);
    if (pinned) installed.set(pinned[1]!, pinned[2]!);
  }
  return { installed, requires };
}

/** R's package_version equality: `7.3-60` is `7.3.60`, `1.01` is `1.1`, and `1.0` is `1.0.0`. */
export function sameRVersion(a: string, b: string): boolean {
  const parts = (v: string) => v.split(/[.-]/).map(Number);
  const x = parts(a);
  const y = parts(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return false;
  return true;
}

function declaredPins(resource: ManifestResource): Array<{ name: string; version: string }> {
  if (resource.kind !== ResourceKind.rLibrary) return [];
  return resource.spec.r.packages.flatMap((line) => {
    const at = line.indexOf('==');
    return at > 0 ? [{ name: line.slice(0, at), version: line.slice(at + 2) }] : [];
  });
}

/** Missing and wrong-version pins, then packages neither declared nor needed by a declared one (added by hand). */
export const checkRLibraryLock: DriftChecker = (resource, lock) => {
  const pins = declaredPins(resource);
  const { installed, requires } = parseRLock(lock);
  const messages: string[] = [];
  for (const pin of pins) {
    const version = installed.get(pin.name);
    if (version === undefined) messages.push(`${pin.name}: declared (${pin.name}==${pin.version}) but not installed`);
    else if (!sameRVersion(version, pin.version))
      messages.push(`${pin.name}: installed ${version}, declared ${pin.name}==${pin.version}`);
  }
  // Without the requires lines nothing can be said honestly about extra packages.
  if (requires.size > 0) {
    const reachable = new Set<string>();
    const queue = pins.map((p) => p.name);
    while (queue.length > 0) {
      const name = queue.pop()!;
      if (reachable.has(name)) continue;
      reachable.add(name);
      queue.push(...(requires.get(name) ?? []));
    }
    const extra = [...installed]
      .filter(([name]) => !reachable.has(name))
      .map(
        ([name, version]) => `${name}==${version}: installed, but neither declared nor required by a declared package`,
      );
    messages.push(...extra.sort());
  }
  return messages.map((message): DriftItem => ({ address: resource.address, kind: resource.kind, message }));
};

/** Registered in drift.ts's map, by resource kind. */
export const R_LOCK_CHECKERS: ReadonlyArray<readonly [string, DriftChecker]> = [
  [ResourceKind.rLibrary, checkRLibraryLock],
];
