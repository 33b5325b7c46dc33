import type { ManifestResource } from '../core/output.js';
import type { DriftChecker, DriftItem } from './types.js';

export type { DriftChecker } from './types.js';
import { PYTHON_LOCK_CHECKERS } from './python-drift.js';
import { R_LOCK_CHECKERS } from './r-drift.js';

/**
 * Compares what a built resource recorded as its actual state (its lock: a
 * pip freeze, an image digest) with what the stack declares. One pure
 * function per kind of resource that has one.
 */
const CHECKERS: ReadonlyMap<string, DriftChecker> = new Map<string, DriftChecker>([
  ...PYTHON_LOCK_CHECKERS,
  ...R_LOCK_CHECKERS,
]);

export function checkLockDrift(resource: ManifestResource, lock: string | undefined): DriftItem[] {
  if (lock === undefined) return [];
  return CHECKERS.get(resource.kind)?.(resource, lock) ?? [];
}
