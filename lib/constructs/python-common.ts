/**
 * Schema pieces and helpers the Python environment constructs share
 * (PythonEnv, CondaEnv, Wheelhouse): requirement lists, versions, module
 * names, smoke checks, where an environment is built.
 */
import { z } from 'zod';
import type { ClusterProfile } from '../core/cluster-profile.js';
import { isRuntimeRef, RuntimeRef, type ShellValue } from '../shell/index.js';
import type { ShellSetup } from '../render/python-env.js';
import {
  formatRequirement,
  isPinned,
  isRequirementError,
  parseRequirement,
  sortRequirements,
  type Requirement,
} from './python-requirement.js';
import { ResourceKind } from '../core/resource-spec.js';

/** A Python version as users write it for an interpreter: `3`, `3.11`, `3.11.5`. */
export const PythonVersionSchema = z
  .string()
  .regex(/^\d+(\.\d+){0,2}$/, 'must be a Python version such as 3.11 or 3.11.5');

/** One PEP 508 requirement that pins its version with `==` or `~=`. */
export const PinnedRequirementSchema = z.string().superRefine((text, ctx) => {
  const parsed = parseRequirement(text);
  if (isRequirementError(parsed)) {
    ctx.addIssue({ code: 'custom', message: `is not a valid PEP 508 requirement: ${parsed.error}`, input: text });
  } else if (!isPinned(parsed)) {
    ctx.addIssue({ code: 'custom', message: 'must pin a version with == or ~= (e.g. requests~=2.31.0)', input: text });
  }
});

/** A list of pinned requirements, each project named once. */
export function requirementListSchema() {
  return z.array(PinnedRequirementSchema).superRefine((list, ctx) => {
    const seen = new Map<string, number>();
    list.forEach((text, i) => {
      const parsed = parseRequirement(text);
      if (isRequirementError(parsed) || parsed.marker !== undefined) return;
      const first = seen.get(parsed.name);
      if (first !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: [i],
          message: `names ${parsed.name} again (first at [${first}])`,
          input: text,
        });
      else seen.set(parsed.name, i);
    });
  });
}

/** A module as `module load` takes it: `python/3.11.5`, `gcc`, `scipy-stack/2024a`. */
export const ModuleNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._+/-]*$/, 'must be a module name such as python/3.11.5');

/** A package index URL. */
export const IndexUrlSchema = z.string().regex(/^(https?|file):\/\/[^\s'"]+$/, 'must be an http(s):// or file:// URL');

/** A path on the target: absolute, or a RuntimeRef (`RuntimeRef.env('HOME').join('envs/x')`). `~` does not expand inside quotes, so it is refused. */
export const TargetPathSchema: z.ZodType<ShellValue> = z.union([
  z.string().regex(/^\//, "must be an absolute path, or a RuntimeRef such as RuntimeRef.env('HOME').join('envs')"),
  z.custom<RuntimeRef>(isRuntimeRef, { message: 'must be a path or a RuntimeRef' }),
]);

const PYTHON_MODULE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** The acceptance check: modules to import, and modules whose `__version__` to print. */
export const SmokeSchema = z
  .object({
    /** Python modules the check imports, e.g. `['torch', 'numpy']`. */
    imports: z
      .array(z.string().regex(PYTHON_MODULE, 'must be a Python module name'))
      .min(1, 'a smoke check needs at least one import'),
    /** Modules whose `__version__` the check prints. @default none */
    versions: z.array(z.string().regex(PYTHON_MODULE, 'must be a Python module name')).default([]),
  })
  .strict();

/**
 * Where an environment is built:
 * - `login`: once, by apply, on the login node (jobs activate it);
 * - `job`: inside each job, on node-local disk (the target's scratch variable);
 * - `per-node`: inside each job, once on every node (`srun --ntasks-per-node=1`).
 */
export const BuildPlaceSchema = z.enum(['login', 'job', 'per-node']);
export type BuildPlace = z.infer<typeof BuildPlaceSchema>;

/** Parses validated requirement texts, sorted: the normalised form used in files, specs and identities. */
export function canonicalRequirements(texts: readonly string[]): Requirement[] {
  return sortRequirements(
    texts.map((t) => parseRequirement(t)).filter((r): r is Requirement => !isRequirementError(r)),
  );
}

/** Canonical requirement lines. */
export function requirementLines(texts: readonly string[]): string[] {
  return canonicalRequirements(texts).map(formatRequirement);
}

/** A profile's `shellInit` entry as a shell value: `$HOME/x` and `~/x` expand on the target, anything else is literal. */
export function shellInitValue(entry: string): ShellValue {
  if (entry.startsWith('~/')) return RuntimeRef.env('HOME').join(entry.slice(2));
  if (entry.startsWith('$')) return RuntimeRef.parse(entry) ?? entry;
  return entry;
}

/** What a script sources and loads before Python is usable on `target`. */
export function shellSetupFor(target: ClusterProfile, modules: readonly string[]): ShellSetup {
  return {
    targetName: target.name,
    shellInit: target.spec.shellInit.map(shellInitValue),
    moduleSystem: target.spec.modules,
    modules,
  };
}

/** Where an environment lives when its props name no location. */
export function defaultLocation(
  target: ClusterProfile,
  build: BuildPlace,
  kind: ResourceKind,
  address: string,
): ShellValue {
  if (build === 'login') return RuntimeRef.env('HPCDK_STACK_DIR').join('envs', address);
  return RuntimeRef.env(target.spec.scratchVar).join(kind === ResourceKind.condaEnv ? 'conda-envs' : 'envs', address);
}
