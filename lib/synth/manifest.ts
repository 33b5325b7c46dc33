import { canonicalJson } from '../core/digest.js';
import type { ManifestResource } from '../core/output.js';

/** Bumped when the manifest's shape changes in a way readers must know about. */
export const MANIFEST_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';

export interface ManifestArtifact {
  readonly path: string;
  readonly kind: string;
  readonly construct: string;
  readonly sha256: string;
  readonly executable: boolean;
}

/** `snapshots/<stack>/<target>/manifest.json`: every artifact and every resource of one stack on one target. */
export interface Manifest {
  readonly version: number;
  readonly stack: string;
  readonly target: Readonly<Record<string, unknown>>;
  readonly artifacts: readonly ManifestArtifact[];
  readonly resources: readonly ManifestResource[];
}

/** The manifest's bytes: sorted keys, two-space indent, LF, trailing newline. */
export function serializeManifest(manifest: Manifest): string {
  return `${canonicalJson(manifest, 2)}\n`;
}
