import { base64Lines, quote, word } from '../shell/index.js';
import { READ_JOURNAL, foldJournal, type RecordedState } from '../state/journal.js';
import { EXITS_DIR, FILES_DIR, LOGS_DIR, packageLockFile } from '../state/layout.js';
import { READ_LOCK_OWNER } from '../state/lock.js';
import { commentPrefix, parseQueueLines, type SchedulerJob } from '../targets/scheduler.js';
import type { TargetConnection } from '../targets/connection.js';
import { readOnAutomationNode } from '../targets/automation/read.js';
import { isAutomation } from '../targets/automation/transport.js';

/** What is really on the target for one stack, read in one round trip. */
export interface ActualState {
  /** Deployed files: path (relative to files/) → sha256. */
  readonly files: ReadonlyMap<string, string>;
  /** Content of deployed files that differ from what the plan wants (for diffs), when small. */
  readonly contents: ReadonlyMap<string, string>;
  readonly recorded: RecordedState;
  /** The stack's jobs, by id: squeue first, then sacct, then exit codes jobs left behind. */
  readonly jobs: ReadonlyMap<string, SchedulerJob & { exitCode?: number }>;
  /** Who holds the lock, if anyone. */
  readonly lock?: string;
  /** Digest of the journal: a saved plan applies only while it is unchanged. */
  readonly serial: number;
  /** The deployment the jobs' comments name (see TargetConnection.deployment). */
  readonly deployment: string;
  /** What built resources recorded as their actual state (pip freeze…), by address. */
  readonly locks: ReadonlyMap<string, string>;
  /** Batch scripts the scheduler refused in a dry run (`sbatch --test-only`), by snapshot path, with its message. */
  readonly refused: ReadonlyMap<string, string>;
  /** How each buildable resource would be built here, by address: `ok` with the path, or not with the reason. */
  readonly buildPaths: ReadonlyMap<string, { readonly ok: boolean; readonly text: string }>;
  /** Run records (run.json) found in the log folders asked for, by `<log folder address>/<job key>`. */
  readonly runs?: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
}

/** A build script to run with HPCDK_DESCRIBE=1 during the read: how would it build here? */
export interface BuildToDescribe {
  readonly address: string;
  readonly content: string;
}

/** A new or changed batch script to dry-run during the read. */
export interface ScriptToTest {
  readonly path: string;
  readonly sha256: string;
  readonly content: string;
}

const MAX_DIFF_BYTES = 256 * 1024;

/**
 * The read script: hashes of deployed files, the journal, the lock, exit
 * codes, and one scheduler query, all printed in sections. `expected` maps
 * each file the stack wants to its sha256; files that differ are printed in
 * full (base64) so plan can show a diff.
 */
/** A built resource's lock command, re-run by the read so drift shows the target as it is now. */
export interface LockToRead {
  readonly address: string;
  readonly command: string;
}

/**
 * For each resource built before (it has a recorded lock), the lock as it is
 * now: the command run again, or the recorded one if the command fails.
 */
function lockLines(locks: readonly LockToRead[]): string {
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

export function readScript(
  conn: TargetConnection,
  stack: string,
  expected: ReadonlyMap<string, string>,
  scripts: readonly ScriptToTest[] = [],
  locks: readonly LockToRead[] = [],
  builds: readonly BuildToDescribe[] = [],
  runDirs: readonly string[] = [],
): string {
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
${lockLines(locks)}
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

function sections(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let current: string | undefined;
  let lines: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^@@([a-z]+)$/.exec(line);
    if (m) {
      if (current) out.set(current, lines.join('\n'));
      current = m[1];
      lines = [];
    } else if (current) {
      lines.push(line);
    }
  }
  if (current) out.set(current, lines.join('\n'));
  return out;
}

export function parseRead(text: string, deployment: string): ActualState {
  const s = sections(text);
  if (!s.has('end')) throw new Error('the target did not finish the read (no end marker)');
  const files = new Map<string, string>();
  for (const line of (s.get('files') ?? '').split('\n')) {
    const m = /^([0-9a-f]{64})\s+\.\/(.+)$/.exec(line);
    if (m) files.set(m[2]!, m[1]!);
  }
  const contents = new Map<string, string>();
  for (const line of (s.get('contents') ?? '').split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0)
      contents.set(line.slice(0, sp).replace(/^\.\//, ''), Buffer.from(line.slice(sp + 1), 'base64').toString('utf8'));
  }
  const recorded = foldJournal(s.get('journal') ?? '');
  const exits = new Map<string, number>();
  for (const line of (s.get('exits') ?? '').split('\n')) {
    const [id, code] = line.trim().split(/\s+/);
    if (id && code !== undefined && /^-?\d+$/.test(code)) exits.set(id, Number(code));
  }
  const jobs = new Map<string, SchedulerJob & { exitCode?: number }>();
  const queue = s.get('queue') ?? '';
  // sacct lines first, so squeue (fresher) overrides them.
  const fromSacct = parseQueueLines(
    queue
      .split('\n')
      .filter((l) => l.startsWith('sacct:'))
      .map((l) => l.slice(6))
      .join('\n'),
  );
  const fromQueue = parseQueueLines(
    queue
      .split('\n')
      .filter((l) => !l.startsWith('sacct:'))
      .join('\n'),
  );
  for (const j of [...fromSacct, ...fromQueue]) {
    // COMPLETED means every process exited 0, whether or not the job's record is visible yet.
    const exitCode = exits.get(j.id) ?? (j.state === 'COMPLETED' ? 0 : undefined);
    jobs.set(j.id, { ...j, ...(exitCode !== undefined ? { exitCode } : {}) });
  }
  // Jobs that left the queue (and have no accounting) still left their exit code.
  for (const [id, code] of exits) {
    if (!jobs.has(id)) jobs.set(id, { id, state: code === 0 ? 'COMPLETED' : 'FAILED', comment: '', exitCode: code });
  }
  const locks = new Map<string, string>();
  for (const line of (s.get('locks') ?? '').split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0)
      locks.set(line.slice(0, sp).replace(/^\.\//, ''), Buffer.from(line.slice(sp + 1), 'base64').toString('utf8'));
  }
  const refused = new Map<string, string>();
  for (const line of (s.get('refused') ?? '').split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0)
      refused.set(
        line.slice(0, sp),
        Buffer.from(line.slice(sp + 1), 'base64')
          .toString('utf8')
          .trim(),
      );
  }
  const buildPaths = new Map<string, { ok: boolean; text: string }>();
  for (const line of (s.get('builds') ?? '').split('\n')) {
    const [address, verdict, b64 = ''] = line.split(' ');
    if (address && verdict)
      buildPaths.set(address, {
        ok: verdict === 'ok',
        text: Buffer.from(b64, 'base64')
          .toString('utf8')
          .trim()
          .replace(/^hpcdk: /, ''),
      });
  }
  const runs = new Map<string, Record<string, unknown>>();
  for (const line of (s.get('runs') ?? '').split('\n')) {
    const m = /^logs\/(.+)\.run\.json (\{.*\})$/.exec(line);
    if (!m) continue;
    try {
      runs.set(m[1]!, JSON.parse(m[2]!) as Record<string, unknown>);
    } catch {
      // A record being rewritten as we read it: the next status sees it whole.
    }
  }
  const lock = (s.get('lock') ?? '').trim();
  return {
    files,
    contents,
    recorded,
    jobs,
    ...(lock ? { lock } : {}),
    serial: recorded.serial,
    deployment,
    locks,
    refused,
    buildPaths,
    runs,
  };
}

/** Reads the target's actual state for `stack`: one round trip, however many resources there are. */
export async function readTarget(
  conn: TargetConnection,
  stack: string,
  expected: ReadonlyMap<string, string>,
  scripts: readonly ScriptToTest[] = [],
  locks: readonly LockToRead[] = [],
  builds: readonly BuildToDescribe[] = [],
  runDirs: readonly string[] = [],
): Promise<ActualState> {
  // An automation node runs no shell: its helper prints the same sections.
  const r = isAutomation(conn)
    ? await readOnAutomationNode(conn, stack, expected, scripts, locks, runDirs)
    : await conn.transport.run(readScript(conn, stack, expected, scripts, locks, builds, runDirs));
  if (r.exitCode !== 0 || !r.stdout.includes('\n@@end')) {
    throw new Error(
      `reading ${conn.transport.description} failed (exit ${r.exitCode}): ${(r.stderr.trim() || r.stdout.trim()).split('\n').slice(-8).join('\n')}`,
    );
  }
  return parseRead(r.stdout, conn.deployment(stack));
}
