/**
 * What hpcdk keeps in a stack's folder on a target, relative to that folder
 * (`$D` in the scripts). Every module that reads or writes on a target names
 * these paths from here; the automation helper's copies are checked against
 * them by a test. Each is plain text with no character a shell treats
 * specially, so scripts may write it inside double quotes as it is.
 *
 *   files/…                  the deployed artifacts (same paths as the snapshot)
 *   logs/<address>/          job output and run records
 *   params/<sweep>/          one parameter file per array chunk
 *   images/<address>/        built images (see IMAGES_DIR)
 *   bundles/<address>/       unpacked code bundles (see BUNDLES_DIR)
 *   .hpcdk/journal           the state: one line per step apply took
 *   .hpcdk/stack.lock        held by a running apply or gc (the stack's mutex)
 *   .hpcdk/stack.lock.gate   held for a moment by whoever takes the mutex
 *   .hpcdk/locks/<address>/  what each build installed (see PACKAGE_LOCKS_DIR)
 *   .hpcdk/exits/            exit codes written by finished jobs
 */

/** Deployed artifacts, at their snapshot paths. */
export const FILES_DIR = 'files';
/** Job output, one folder per job or sweep address. */
export const LOGS_DIR = 'logs';
/** Array chunks' parameter files, one folder per sweep. */
export const PARAMS_DIR = 'params';
/** Built images (`.sif` files and their records), one folder per image address. */
export const IMAGES_DIR = 'images';
/** Unpacked code bundles and their uploads, one folder per bundle address. */
export const BUNDLES_DIR = 'bundles';
/** In an unpacked bundle: the commit it holds. Its presence marks the unpacking complete. */
export const BUNDLE_COMMIT_FILE = '.hpcdk-commit';
/** hpcdk's own records. */
export const STATE_DIR = '.hpcdk';
/** The append-only journal (lib/state/journal.ts). */
export const JOURNAL_FILE = '.hpcdk/journal';
/** The stack's mutex: a symbolic link whose target is its owner line (lib/state/lock.ts). */
export const LOCK_FILE = '.hpcdk/stack.lock';
/** Held for a moment by whoever is taking LOCK_FILE, so that taking a lock and taking over a stale one never interleave. */
export const LOCK_GATE_FILE = '.hpcdk/stack.lock.gate';
/** Where hpcdk 0.1 kept the mutex (a folder with an `owner` file); force-unlock removes one left behind. */
export const LEGACY_LOCK_DIR = '.hpcdk/lock';
/**
 * What each built environment or image recorded as installed (`pip freeze`,
 * R's package list, an image digest): `<dir>/<address>/lock.txt`. Named
 * "locks" as package managers name such lists; unrelated to LOCK_FILE.
 */
export const PACKAGE_LOCKS_DIR = '.hpcdk/locks';
/** Exit codes that finished jobs leave, one file per job id. */
export const EXITS_DIR = '.hpcdk/exits';
/** Where apply unpacks what it uploads before moving it into place. */
export const INCOMING_DIR = '.hpcdk/incoming';
/** Secret values for the jobs of one apply, readable by the user only. */
export const SECRETS_DIR = '.hpcdk/secrets';
/** The local scheduler's queue: one folder per job. */
export const LOCAL_JOBS_DIR = '.hpcdk/local-jobs';
/** The local scheduler's runner, written by apply (lib/targets/local-runner.sh). */
export const LOCAL_RUNNER_FILE = '.hpcdk/local-runner.sh';
/** `hpcdk shell` sessions' rc files, one per session, removed when it ends. */
export const SHELL_DIR = '.hpcdk/shell';

/**
 * Beside the stacks, in the base path itself: the automation helper and its
 * requests. Relative to the base path, not to a stack folder.
 */
export const BASE_STATE_DIR = '.hpcdk';

/** Every path above: what the helper and the runner must agree with. */
export const STACK_PATHS = {
  FILES_DIR,
  LOGS_DIR,
  PARAMS_DIR,
  IMAGES_DIR,
  BUNDLES_DIR,
  BUNDLE_COMMIT_FILE,
  STATE_DIR,
  JOURNAL_FILE,
  LOCK_FILE,
  LOCK_GATE_FILE,
  LEGACY_LOCK_DIR,
  PACKAGE_LOCKS_DIR,
  EXITS_DIR,
  INCOMING_DIR,
  SECRETS_DIR,
  LOCAL_JOBS_DIR,
  LOCAL_RUNNER_FILE,
  SHELL_DIR,
} as const;

/** The package lock file of a built resource, relative to the stack folder. */
export function packageLockFile(address: string): string {
  return `${PACKAGE_LOCKS_DIR}/${address}/lock.txt`;
}
