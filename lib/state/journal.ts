/**
 * The state hpcdk keeps on a target: an append-only journal, one line per
 * step apply took, written on the target right after the step. A killed
 * apply therefore never loses a submission it made; the journal is folded
 * into the current state when read.
 *
 *   file <path> <sha256> <epoch>                     uploaded a file
 *   rmfile <path> <epoch>                             removed a file
 *   chunk <sweep> <chunk-id> <address> <identity>... <epoch>
 *                                                     about to submit an array chunk: task i runs the i-th point
 *   job <address> <identity> <job-id> <epoch>         submitted (or found) a job
 *   cancel <job-id> <epoch>                           cancelled a job
 *   built <address> <identity> <epoch>               built an environment or image
 *   inputs <address> <name>=<digest>... <epoch>       what a job, sweep or build was made of when applied (why it changes later)
 *   forget <address> <epoch>                          a resource left the stack
 */

import { quote } from '../shell/index.js';
import { JOURNAL_FILE, STATE_DIR } from './layout.js';

export interface JobRecord {
  readonly address: string;
  readonly identity: string;
  readonly id: string;
  readonly epoch: number;
}

/** A sweep point as an array chunk runs it: task `index` of the chunk's job. */
export interface ChunkPoint {
  readonly address: string;
  readonly identity: string;
}

export interface RecordedState {
  /** Deployed files as apply left them: path → sha256. */
  readonly files: ReadonlyMap<string, string>;
  /** Every job submitted per address, oldest first. */
  readonly jobs: ReadonlyMap<string, readonly JobRecord[]>;
  /** Jobs hpcdk itself cancelled. */
  readonly cancelled: ReadonlySet<string>;
  /** Jobs of resources that left the stack: never adopted again by their comment. */
  readonly retired: ReadonlySet<string>;
  /**
   * Array chunks apply set out to submit, by `<sweep>@<chunk-id>` (the job
   * comment's tail): their points in task order. A chunk submitted by an
   * apply killed before it journaled the job is mapped back to its points.
   */
  readonly chunks: ReadonlyMap<string, readonly ChunkPoint[]>;
  /** What each submitted or built resource was made of when last applied: input name → short digest. */
  readonly inputs: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** The identity each buildable resource was last built at. */
  readonly built: ReadonlyMap<string, string>;
  /** How many lines the journal has: a cheap serial for "has the state changed since the plan". */
  readonly serial: number;
}

export function foldJournal(text: string): RecordedState {
  const files = new Map<string, string>();
  const jobs = new Map<string, JobRecord[]>();
  const cancelled = new Set<string>();
  const retired = new Set<string>();
  const built = new Map<string, string>();
  const chunks = new Map<string, ChunkPoint[]>();
  const inputs = new Map<string, Map<string, string>>();
  const serial = journalSerial(text);
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] === '' || f[0] === undefined) continue;
    switch (f[0]) {
      case 'file':
        if (f[1] && f[2]) files.set(f[1], f[2]);
        break;
      case 'rmfile':
        if (f[1]) files.delete(f[1]);
        break;
      case 'job':
        if (f[1] && f[2] && f[3]) {
          const list = jobs.get(f[1]) ?? [];
          if (!list.some((j) => j.id === f[3]))
            list.push({ address: f[1], identity: f[2], id: f[3], epoch: Number(f[4] ?? 0) });
          jobs.set(f[1], list);
        }
        break;
      case 'chunk':
        if (f[1] && f[2]) {
          const points: ChunkPoint[] = [];
          // Pairs of address and identity; the odd field out at the end is the epoch.
          for (let i = 3; i + 1 < f.length; i += 2) points.push({ address: f[i]!, identity: f[i + 1]! });
          chunks.set(`${f[1]}@${f[2]}`, points);
        }
        break;
      case 'inputs':
        if (f[1])
          inputs.set(
            f[1],
            new Map(
              f
                .slice(2)
                .filter((w) => w.includes('='))
                .map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)] as [string, string]),
            ),
          );
        break;
      case 'built':
        if (f[1] && f[2]) built.set(f[1], f[2]);
        break;
      case 'cancel':
        if (f[1]) cancelled.add(f[1]);
        break;
      case 'forget':
        if (f[1]) {
          for (const j of jobs.get(f[1]) ?? []) retired.add(j.id);
          jobs.delete(f[1]);
          built.delete(f[1]);
        }
        break;
      default:
        // Lines from a newer hpcdk are skipped, not fatal.
        break;
    }
  }
  return { files, jobs, cancelled, retired, chunks, inputs, built, serial };
}

/** Enough of each input's digest to tell versions apart in a journal that stays small. */
export const INPUT_DIGEST_LENGTH = 12;

/** The digest of one input as an `inputs` line records it. */
export function shortDigest(digest: unknown): string {
  return String(digest).slice(0, INPUT_DIGEST_LENGTH);
}

/** `inputs <address> <name>=<digest prefix>…`: a resource's input digests, as the journal records them. */
export function inputsLine(
  address: string,
  inputs: Readonly<Record<string, unknown>>,
  only?: readonly string[],
): string[] {
  const names = Object.keys(inputs)
    .filter((k) => only === undefined || only.includes(k))
    .sort();
  return ['inputs', address, ...names.map((k) => `${k}=${shortDigest(inputs[k])}`)];
}

/** The shell function every state-changing script uses to append one journal line. */
export const JOURNAL_FUNCTION = `
hpcdk_journal() {
  [ -d "$D/${STATE_DIR}" ] || mkdir -p "$D/${STATE_DIR}"
  printf '%s %s\\n' "$*" "\${EPOCHSECONDS:-$(date +%s)}" >> "$D/${JOURNAL_FILE}"
}`;

/**
 * The journal's serial: how many non-empty lines it has. A saved plan or a
 * gc decision applies only while the serial is what it read. The same count
 * as `grep -c .` in the scripts and the automation helper's.
 */
export function journalSerial(text: string): number {
  let serial = 0;
  for (const line of text.split('\n')) if (line !== '') serial += 1;
  return serial;
}

/** Bash that sets `hpcdk_serial` to the journal's serial (`$D` is the stack folder). */
export const READ_SERIAL = `hpcdk_serial=$(grep -c . "$D/${JOURNAL_FILE}" 2>/dev/null || true)`;

/** Prints `@@stale <serial>` and exits 4 when the journal changed since it was read (it had `serial` lines). */
export function serialCheckLines(serial: number): string {
  return `${READ_SERIAL}
if [ "\${hpcdk_serial:-0}" != ${quote(String(serial))} ]; then
  echo "@@stale \${hpcdk_serial:-0}"
  exit 4
fi`;
}

/** Bash that prints the whole journal, or nothing when there is none yet (`$D` is the stack folder). */
export const READ_JOURNAL = `cat "$D/${JOURNAL_FILE}" 2>/dev/null || true`;

/** Bash that prints the ids of the last `limit` jobs the journal records, comma-separated (`$D` is the stack folder). */
export function recentJobIdsCommand(limit: number): string {
  return `awk '$1 == "job" { print $4 }' "$D/${JOURNAL_FILE}" 2>/dev/null | tail -n ${limit} | paste -sd, -`;
}

/**
 * Bash that prints the identity the journal last records as built for
 * `address`, or nothing when it was never built or has been forgotten.
 * `stackDir` is the stack folder as the script writes it (`$D`, `$HPCDK_STACK_DIR`).
 */
export function builtIdentityCommand(address: string, stackDir = '$D'): string {
  return `awk -v a=${quote(address)} '$1 == "built" && $2 == a { id = $3 } $1 == "forget" && $2 == a { id = "" } END { print id }' "${stackDir}/${JOURNAL_FILE}" 2>/dev/null`;
}
