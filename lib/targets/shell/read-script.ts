import { base64Lines, quote, word } from '../../shell/index.js';
import { READ_JOURNAL } from '../../state/journal.js';
import { EXITS_DIR, FILES_DIR, LOGS_DIR, packageLockFile } from '../../state/layout.js';
import { READ_LOCK_OWNER } from '../../state/lock.js';
import type { BuildToDescribe, PackageLockToRead, ReadRequest } from '../backend.js';
import { commentPrefix } from '../scheduler.js';
import type { TargetConnection } from '../target-connection.js';

const MAX_DIFF_BYTES = 256 * 1024;

/**
 * The read script: hashes of deployed files, the journal, the lock, exit
 * codes, and one scheduler query, all printed in sections. `expected` maps
 * each file the stack wants to its sha256; files that differ are printed in
 * full (base64) so plan can show a diff.
 */

/**
 * For each resource built before (it has a recorded lock), the lock as it is
 * now: the command run again, or the recorded one if the command fails.
 */
function packageLockLines(locks: readonly PackageLockToRead[]): string {
  return locks
    .map((l) => {
      const recorded = `"$D/"${quote(packageLockFile(l.address))}`;
      return `if [ -f ${recorded} ]; then printf '%s ' ${quote(l.address)}; { ( cd "$D" && HPCDK_STACK_DIR="$D" bash -c ${quote(l.command)} ) 2>/dev/null || cat ${recorded}; } | base64 -w0; echo; fi`;
    })
    .join('\n');
}

function describeLines(builds: readonly BuildToDescribe[]): string {
  return builds
    .map(
      (b) => `hpcdk_d=$(mktemp)
base64 -d > "$hpcdk_d" <<'HPCDK_SCRIPT'
${base64Lines(b.content)}
HPCDK_SCRIPT
if hpcdk_out=$(cd "$D" 2>/dev/null || cd; HPCDK_STACK_DIR="$D" HPCDK_DESCRIBE=1 bash "$hpcdk_d" 2>&1); then hpcdk_ok=ok; else hpcdk_ok=fail; fi
printf '%s %s ' ${quote(b.address)} "$hpcdk_ok"; printf '%s' "$hpcdk_out" | base64 -w0; echo
rm -f "$hpcdk_d"`,
    )
    .join('\n');
}

/** Every run record in the log folders of these job and sweep addresses, one line each (`<file> <json>`), in one awk. */
function runLines(runDirs: readonly string[]): string {
  if (runDirs.length === 0) return '';
  return `(cd "$D" 2>/dev/null && find ${runDirs.map((d) => `${quote(`${LOGS_DIR}/${d}`)}`).join(' ')} -maxdepth 1 -name '*.run.json' -type f -exec awk 'FNR == 1 { print FILENAME, $0 }' {} + 2>/dev/null) || true`;
}

export function readScript(conn: TargetConnection, request: ReadRequest): string {
  const { stack, expected, scripts = [], packageLocks = [], builds = [], runDirs = [] } = request;
  const want = [...expected].map(([p, sha]) => `${sha}  ./${p}`).join('\n');
  const testOnly = conn.scheduler.testOnlyCommand;
  const dryRuns =
    testOnly === undefined || scripts.length === 0
      ? ''
      : `hpcdk_try() { ${testOnly}; }
hpcdk_tmp=$(mktemp -d)
${scripts
  .map(
    (
      s,
      i,
    ) => `if [ "$(sha256sum < "$D/${FILES_DIR}/"${quote(s.path)} 2>/dev/null | cut -d' ' -f1)" != ${s.sha256} ]; then
  base64 -d > "$hpcdk_tmp/${i}.sh" <<'HPCDK_SCRIPT'
${base64Lines(s.content)}
HPCDK_SCRIPT
  if ! hpcdk_out=$(cd "$D" 2>/dev/null || cd; hpcdk_try "$hpcdk_tmp/${i}.sh" 2>&1); then printf '%s ' ${quote(s.path)}; printf '%s' "$hpcdk_out" | base64 -w0; echo; fi
fi`,
  )
  .join('\n')}
rm -rf "$hpcdk_tmp"`;
  return `
D=${word(conn.stackDir(stack))}
${conn.scheduler.functions}
echo '@@files'
if [ -d "$D/${FILES_DIR}" ]; then (cd "$D/${FILES_DIR}" && find . -type f ! -name '.*' -print0 | sort -z | xargs -0 -r sha256sum); fi
echo '@@contents'
if [ -d "$D/${FILES_DIR}" ]; then
  (cd "$D/${FILES_DIR}" && while read -r sha path; do
    [ -f "$path" ] || continue
    [ "$(sha256sum < "$path" | cut -d' ' -f1)" = "$sha" ] && continue
    [ "$(stat -c %s "$path")" -le ${MAX_DIFF_BYTES} ] || continue
    printf '%s ' "$path"; base64 -w0 < "$path"; echo
  done <<'HPCDK_EXPECTED'
${want}
HPCDK_EXPECTED
  )
fi
echo '@@journal'
${READ_JOURNAL}
echo '@@lock'
${READ_LOCK_OWNER}
echo '@@exits'
# One awk for all exit records: a process per file would cost seconds on large sweeps.
if [ -d "$D/${EXITS_DIR}" ]; then find "$D/${EXITS_DIR}" -maxdepth 1 -type f -exec awk 'FNR == 1 { f = FILENAME; sub(/^.*\\//, "", f); print f, $0 }' {} +; fi
echo '@@locks'
${packageLockLines(packageLocks)}
echo '@@refused'
${dryRuns}
echo '@@builds'
${describeLines(builds)}
echo '@@runs'
${runLines(runDirs)}
echo '@@queue'
${conn.scheduler.queryLines(commentPrefix(conn.deployment(stack)))}
echo '@@end'
`;
}
