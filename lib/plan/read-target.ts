import { foldJournal, type RecordedState } from '../state/journal.js';
import type { ReadRequest } from '../targets/backend.js';
import { parseQueueLines, type SchedulerJob } from '../targets/scheduler.js';
import type { TargetConnection } from '../targets/target-connection.js';

export type { BuildToDescribe, PackageLockToRead, ReadRequest, ScriptToTest } from '../targets/backend.js';

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
  readonly packageLocks: ReadonlyMap<string, string>;
  /** Batch scripts the scheduler refused in a dry run (`sbatch --test-only`), by snapshot path, with its message. */
  readonly refused: ReadonlyMap<string, string>;
  /** How each buildable resource would be built here, by address: `ok` with the path, or not with the reason. */
  readonly buildPaths: ReadonlyMap<string, { readonly ok: boolean; readonly text: string }>;
  /** Run records (run.json) found in the log folders asked for, by `<log folder address>/<job key>`. */
  readonly runs?: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
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
    packageLocks: locks,
    refused,
    buildPaths,
    runs,
  };
}

/** Reads the target's actual state for `stack`: one round trip, however many resources there are. */
export async function readTarget(conn: TargetConnection, request: ReadRequest): Promise<ActualState> {
  const r = await conn.backend.read(request);
  if (r.exitCode !== 0 || !r.stdout.includes('\n@@end')) {
    throw new Error(
      `reading ${conn.transport.description} failed (exit ${r.exitCode}): ${(r.stderr.trim() || r.stdout.trim()).split('\n').slice(-8).join('\n')}`,
    );
  }
  return parseRead(r.stdout, conn.deployment(request.stack));
}
