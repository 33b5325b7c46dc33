/**
 * What constructs produce at synth: artifacts (files with content) and the
 * resources that plan and apply reconcile. Everything here is plain data,
 * so it can be written to the manifest and read back by plan.
 */

import type { KindAndSpec } from './resource-spec.js';

/** The kinds of rendered file. Plan and apply treat them alike; the kind tells humans and tools what a file is. */
export type ArtifactKind =
  | 'file'
  | 'script'
  | 'sbatch'
  | 'dockerfile'
  | 'apptainer-def'
  | 'environment-yml'
  | 'requirements'
  | 'params'
  | 'manifest';

/** One rendered file, as a construct returns it. */
export interface ArtifactSpec {
  /** Relative to the construct's folder, `/`-separated, e.g. `bootstrap.sh`. */
  readonly path: string;
  readonly kind: ArtifactKind;
  readonly content: string;
  /** Deployed with mode 0755 rather than 0644. */
  readonly executable?: boolean;
}

/** One rendered file, placed in the stack's snapshot. */
export interface Artifact {
  /** Relative to `snapshots/<stack>/<target>/`, e.g. `train/job.sbatch`. */
  readonly path: string;
  readonly kind: ArtifactKind;
  readonly content: string;
  readonly executable: boolean;
  /** The path of the construct that rendered it. */
  readonly construct: string;
  readonly sha256: string;
}

/** A resource as the manifest records it: what plan compares with the target. */
export interface ManifestResourceFields {
  /** Stable within the stack, derived from the construct path, e.g. `experiments/train`. */
  readonly address: string;
  readonly construct: string;
  /** sha256 over the kind, named inputs, artifacts and dependencies' identities. */
  readonly identity: string;
  /** Digest of each named input, so plan can say which one changed. */
  readonly inputs: Readonly<Record<string, string>>;
  /** Addresses of the resources this one needs first. */
  readonly dependsOn: readonly string[];
  /** Snapshot paths of the artifacts that belong to this resource. */
  readonly artifacts: readonly string[];
}

/** A resource as the manifest records it; `spec` (what apply needs) is typed by `kind`. */
export type ManifestResource = ManifestResourceFields & KindAndSpec;
