import type { ManifestResource } from '../core/output.js';
import type { Plan } from '../plan/plan.js';
import { archiveAtHead, headCommit, treeAtHead, uncommittedChanges } from '../core/git.js';
import { digestOf } from '../core/digest.js';
import { HpcdkError } from '../core/hpcdk-error.js';
import type { Payload } from './program.js';
import { ResourceKind } from '../core/resource-spec.js';

/** Bundled paths with uncommitted changes: apply refuses them unless told otherwise. */
export class DirtyBundleError extends HpcdkError {
  constructor(
    public readonly address: string,
    public readonly files: readonly string[],
  ) {
    super(
      `code bundle ${address}: uncommitted changes in ${files.join(', ')}. Commit them (the job runs what is committed) or pass --allow-dirty to bundle the last commit anyway`,
    );
    this.name = 'DirtyBundleError';
  }
}

/**
 * The archives of the code bundles this plan builds, made from HEAD in the
 * project folder. Checks that HEAD still holds what the plan was made from.
 */
export function bundlePayloads(
  plan: Plan,
  resources: readonly ManifestResource[],
  projectDir: string,
  allowDirty: boolean,
): Payload[] {
  const out: Payload[] = [];
  for (const change of plan.resources) {
    if (!change.build) continue;
    const resource = resources.find((r) => r.address === change.address);
    if (resource?.kind !== ResourceKind.codeBundle) continue;
    const bundle = resource.spec.bundle;
    const dirty = uncommittedChanges(projectDir, bundle.paths);
    if (dirty.length > 0 && !allowDirty) throw new DirtyBundleError(resource.address, dirty);
    if (digestOf(treeAtHead(projectDir, bundle.paths)).slice(0, 16) !== bundle.contentId) {
      throw new Error(`code bundle ${resource.address}: HEAD changed since the plan was made; run plan again`);
    }
    out.push({ path: bundle.archive, base64: archiveAtHead(projectDir, bundle.paths).toString('base64') });
    out.push({ path: bundle.commitFile, base64: Buffer.from(`${headCommit(projectDir)}\n`).toString('base64') });
  }
  return out;
}

/** A code bundle whose paths have uncommitted changes: its jobs run the last commit, not what is on disk. */
export interface DirtyBundle {
  readonly address: string;
  readonly files: readonly string[];
  /** HEAD, the commit the bundle holds. */
  readonly commit: string;
}

/** The stack's code bundles with uncommitted changes in their paths, whether or not this plan rebuilds them. */
export function dirtyBundles(resources: readonly ManifestResource[], projectDir: string): DirtyBundle[] {
  const out: DirtyBundle[] = [];
  for (const r of resources) {
    if (r.kind !== ResourceKind.codeBundle) continue;
    const files = uncommittedChanges(projectDir, r.spec.bundle.paths);
    if (files.length > 0) out.push({ address: r.address, files, commit: headCommit(projectDir) });
  }
  return out;
}

/** What plan says of a dirty bundle. */
export function dirtyBundleWarning(d: DirtyBundle): string {
  const what = d.files.length === 1 ? `${d.files[0]} has` : `${d.files.join(', ')} have`;
  return `code bundle ${d.address}: ${what} uncommitted changes; its jobs run commit ${d.commit.slice(0, 7)}. Commit them to run them.`;
}
