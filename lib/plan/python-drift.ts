/**
 * Drift of Python environments: the recorded lock (pip freeze, or conda's
 * `list --export`) against the declaration in the resource's spec. Pure.
 */
import type { ManifestResource } from '../core/output.js';
import {
  compareVersions,
  formatRequirement,
  isRequirementError,
  normaliseName,
  parseRequirement,
  satisfies,
  type Requirement,
} from '../constructs/python-requirement.js';
import type { DriftChecker } from './types.js';
import type { DriftItem } from './types.js';
import { ResourceKind } from '../core/resource-spec.js';

/** What a `pip freeze` (plus hpcdk's `# requires` lines) says is installed. */
export interface FrozenEnv {
  /** Normalised name → version (`undefined` for a direct URL or editable install). */
  readonly installed: ReadonlyMap<string, string | undefined>;
  /** Normalised name → the names it requires; empty when the lock has no `# requires` lines. */
  readonly requires: ReadonlyMap<string, readonly string[]>;
}

/** Parses `pip freeze` output: `name==version`, `name @ url`, `-e …#egg=name`, and `# requires name: deps`. */
export function parseFreeze(lock: string): FrozenEnv {
  const installed = new Map<string, string | undefined>();
  const requires = new Map<string, string[]>();
  for (const raw of lock.split('\n')) {
    const line = raw.trim();
    const req = /^# requires ([^:]+):(.*)$/.exec(line);
    if (req) {
      requires.set(normaliseName(req[1]!.trim()), req[2]!.trim().split(/\s+/).filter(Boolean).map(normaliseName));
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const pinned = /^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$/.exec(line);
    if (pinned) {
      installed.set(normaliseName(pinned[1]!), pinned[2]!);
      continue;
    }
    const url = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*@\s*\S+/.exec(line);
    if (url) {
      installed.set(normaliseName(url[1]!), undefined);
      continue;
    }
    const egg = /#egg=([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(line);
    if (egg) installed.set(normaliseName(egg[1]!), undefined);
  }
  return { installed, requires };
}

function parsed(texts: readonly string[]): Requirement[] {
  return texts.map((t) => parseRequirement(t)).filter((r): r is Requirement => !isRequirementError(r));
}

/** Missing and wrong-version packages: the declared pins against what is installed. Requirements with markers may rightly be absent. */
export function pinDrift(
  declared: readonly Requirement[],
  installed: ReadonlyMap<string, string | undefined>,
): string[] {
  const out: string[] = [];
  for (const r of declared) {
    if (!installed.has(r.name)) {
      if (r.marker === undefined) out.push(`${r.name}: declared (${formatRequirement(r)}) but not installed`);
      continue;
    }
    const version = installed.get(r.name);
    if (version !== undefined && !satisfies(version, r))
      out.push(`${r.name}: installed ${version}, declared ${formatRequirement(r)}`);
  }
  return out;
}

/**
 * Packages neither declared nor required, directly or not, by a declared
 * package: added by hand. Only when the lock lists each package's
 * requirements; without them nothing can be said honestly.
 */
export function undeclaredPackages(declared: readonly Requirement[], env: FrozenEnv): string[] {
  if (env.requires.size === 0) return [];
  const reachable = new Set<string>();
  const queue = declared.map((r) => r.name);
  while (queue.length > 0) {
    const name = queue.pop()!;
    if (reachable.has(name)) continue;
    reachable.add(name);
    queue.push(...(env.requires.get(name) ?? []));
  }
  return [...env.installed]
    .filter(([name]) => !reachable.has(name))
    .map(
      ([name, version]) =>
        `${name}${version !== undefined ? `==${version}` : ''}: installed, but neither declared nor required by a declared package`,
    )
    .sort();
}

function items(resource: ManifestResource, messages: readonly string[]): DriftItem[] {
  return messages.map((message) => ({ address: resource.address, kind: resource.kind, message }));
}

/** A PythonEnv's lock: pip freeze and `# requires` lines. */
export const checkPythonEnvLock: DriftChecker = (resource, lock) => {
  if (resource.kind !== ResourceKind.pythonEnv) return [];
  const spec = resource.spec.python;
  const declared = [...parsed(spec.requirements), ...parsed(spec.pipOnly)];
  const env = parseFreeze(lock);
  return items(resource, [...pinDrift(declared, env.installed), ...undeclaredPackages(declared, env)]);
};

/** Parses `conda list --export`: `name=version=build` lines. */
export function parseCondaExport(lock: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of lock.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('@')) continue;
    const [name, version] = line.split('=');
    if (name && version) out.set(normaliseName(name), version);
  }
  return out;
}

/** True when a conda version satisfies a conda match spec's version part (`=1.26` is a prefix, `==1.26.4` exact). */
export function condaSatisfies(installed: string, spec: string): boolean {
  return spec.split(',').every((clause) => {
    const m = /^(==|=|>=|<=|>|<|!=)?(.+)$/.exec(clause.trim());
    if (!m) return true;
    const op = m[1] ?? '==';
    const want = m[2]!.split('=')[0]!.replace(/\.\*$/, '');
    const cmp = compareVersions(installed, want);
    switch (op) {
      case '=':
        return installed === want || installed.startsWith(`${want}.`);
      case '==':
        return want.includes('*') ? installed.startsWith(want.replace(/\*.*$/, '')) : cmp === 0;
      case '>=':
        return cmp >= 0;
      case '<=':
        return cmp <= 0;
      case '>':
        return cmp > 0;
      case '<':
        return cmp < 0;
      default:
        return cmp !== 0;
    }
  });
}

/** A CondaEnv's lock: conda deps by match spec, pip pins by PEP 440 (conda lists pip packages too). */
export const checkCondaEnvLock: DriftChecker = (resource, lock) => {
  if (resource.kind !== ResourceKind.condaEnv) return [];
  const spec = resource.spec.conda;
  const installed = parseCondaExport(lock);
  const messages: string[] = [];
  for (const dep of spec.dependencies) {
    const m = /^(?:[^:]+::)?([A-Za-z0-9_][A-Za-z0-9_.-]*)(.*)$/.exec(dep);
    if (!m) continue;
    const name = normaliseName(m[1]!);
    const version = installed.get(name);
    if (version === undefined) messages.push(`${name}: declared (${dep}) but not installed`);
    else if (m[2] !== '' && !condaSatisfies(version, m[2]!))
      messages.push(`${name}: installed ${version}, declared ${dep}`);
  }
  messages.push(...pinDrift([...parsed(spec.pip), ...parsed(spec.pipOnly)], installed));
  return items(resource, messages);
};

/** Registered in drift.ts's map, by resource kind. */
export const PYTHON_LOCK_CHECKERS: ReadonlyArray<readonly [string, DriftChecker]> = [
  [ResourceKind.pythonEnv, checkPythonEnvLock],
  [ResourceKind.condaEnv, checkCondaEnvLock],
];

/** One environment's recorded freeze on one target. */
export interface TargetFreeze {
  readonly target: string;
  readonly lock: string;
}

/**
 * The rule: the same environment on two targets holds the same
 * packages. Reports packages present on one target only and versions that
 * differ; local labels (`+computecanada`) are ignored, as DRAC rebuilds
 * the same release. Pure, for plan to call with two targets' locks.
 */
export function compareFreezes(left: TargetFreeze, right: TargetFreeze): string[] {
  const a = parseFreeze(left.lock).installed;
  const b = parseFreeze(right.lock).installed;
  const out: string[] = [];
  for (const name of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const va = a.get(name);
    const vb = b.get(name);
    if (!a.has(name)) out.push(`${name}: only on ${right.target} (${vb ?? 'direct install'})`);
    else if (!b.has(name)) out.push(`${name}: only on ${left.target} (${va ?? 'direct install'})`);
    else if (va !== undefined && vb !== undefined && compareVersions(va, vb) !== 0)
      out.push(`${name}: ${va} on ${left.target}, ${vb} on ${right.target}`);
  }
  return out;
}
