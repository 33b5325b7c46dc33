/**
 * Which job run each log file belongs to, and which runs a retention of N
 * keeps. A run is one submission, known by its job id (an array's id for a
 * sweep's tasks); every file naming that id under the job's log folder is
 * part of it (stdout, stderr, the frozen package list, a run.json).
 */
import type { ManifestResource } from '../../core/output.js';
import type { ChunkPoint } from '../../state/journal.js';
import type { Entry } from './inventory.js';
import { patternRegex } from '../../state/log-names.js';
import { buildOf, isRunnable, isSweepPoint, runGroup } from '../../core/resource-spec.js';

/** A `job` or `built` line of the journal, kept even after the resource was forgotten. */
export interface JournalEvent {
  readonly kind: 'job' | 'built';
  readonly address: string;
  readonly identity: string;
  /** The job id (`job` lines only). */
  readonly id?: string;
  readonly epoch: number;
}

/** Every job and build the journal records, oldest first: the folded state forgets them when a resource leaves the stack. */
export function journalEvents(journal: string): JournalEvent[] {
  const out: JournalEvent[] = [];
  for (const line of journal.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] === 'job' && f[1] && f[2] && f[3])
      out.push({ kind: 'job', address: f[1], identity: f[2], id: f[3], epoch: Number(f[4] ?? 0) || 0 });
    if (f[0] === 'built' && f[1] && f[2])
      out.push({ kind: 'built', address: f[1], identity: f[2], epoch: Number(f[3] ?? 0) || 0 });
  }
  return out;
}

/** A job id's run: an array task `123_4` belongs to array `123`. */
export function runIdOf(jobId: string): string {
  return jobId.split('_')[0]!;
}

export interface Run {
  /** The job's address (a sweep's, for its points' tasks). */
  readonly group: string;
  readonly id: string;
  readonly files: readonly Entry[];
  /** When the journal recorded its submission; undefined for a run the journal does not know. */
  readonly epoch?: number;
}

export interface LogAttribution {
  readonly runs: readonly Run[];
  /** `logs/<address>/build.log` of resources that are built, by address. */
  readonly buildLogs: ReadonlyMap<string, Entry>;
}

interface Patterns {
  readonly group: string;
  readonly regexes: readonly RegExp[];
}

function patternsOf(resources: readonly ManifestResource[]): Patterns[] {
  const out: Patterns[] = [];
  for (const r of resources.filter(isRunnable)) {
    const regexes = [r.spec.stdout, r.spec.stderr]
      .flatMap((p) => (p ? [patternRegex(p, r.spec.jobName)] : []))
      .filter((x): x is RegExp => x !== undefined);
    if (regexes.length > 0) out.push({ group: runGroup(r), regexes });
  }
  return out;
}

/**
 * Assigns each log file to a run: first by the current jobs' output
 * patterns, then (for jobs that left the stack or changed pattern) by a job
 * id the journal recorded for the address whose folder holds the file.
 * Files that match neither belong to no run and are never removed as one.
 */
export function attributeLogs(
  logs: readonly Entry[],
  events: readonly JournalEvent[],
  chunks: ReadonlyMap<string, readonly ChunkPoint[]>,
  resources: readonly ManifestResource[],
): LogAttribution {
  const sweepOf = new Map<string, string>();
  for (const [key, points] of chunks)
    for (const p of points) sweepOf.set(p.address, key.slice(0, key.lastIndexOf('@')));
  for (const r of resources.filter(isSweepPoint)) sweepOf.set(r.address, r.spec.sweep);
  // group → run id → submission time.
  const known = new Map<string, Map<string, number>>();
  for (const e of events) {
    // A journal event's kind (`job`, `built`), not a resource's.
    if (e.kind !== 'job' || e.id === undefined) continue;
    const group = sweepOf.get(e.address) ?? e.address;
    const runs = known.get(group) ?? new Map<string, number>();
    const id = runIdOf(e.id);
    runs.set(id, Math.max(runs.get(id) ?? 0, e.epoch));
    known.set(group, runs);
  }
  const built = new Set([
    ...events.filter((e) => e.kind === 'built').map((e) => e.address),
    ...resources.filter((r) => buildOf(r) !== undefined).map((r) => r.address),
  ]);
  const patterns = patternsOf(resources);
  const groups = [...new Set([...known.keys(), ...patterns.map((p) => p.group)])].sort((a, b) => b.length - a.length);
  const buildLogs = new Map<string, Entry>();
  const files = new Map<string, { group: string; id: string; files: Entry[] }>();
  const add = (group: string, id: string, entry: Entry) => {
    const key = `${group}\0${id}`;
    const run = files.get(key) ?? { group, id, files: [] };
    run.files.push(entry);
    files.set(key, run);
  };
  for (const entry of logs) {
    const buildLog = /^logs\/(.+)\/build\.log$/.exec(entry.path);
    if (buildLog && built.has(buildLog[1]!)) {
      buildLogs.set(buildLog[1]!, entry);
      continue;
    }
    const byPattern = patterns
      .flatMap((p) => p.regexes.map((re) => ({ group: p.group, m: re.exec(entry.path) })))
      .find((x) => x.m);
    const id = byPattern?.m?.groups?.A ?? byPattern?.m?.groups?.j;
    if (byPattern && id !== undefined) {
      add(byPattern.group, runIdOf(id), entry);
      continue;
    }
    const group = groups.find((g) => entry.path.startsWith(`logs/${g}/`));
    const ids = group === undefined ? undefined : known.get(group);
    if (group === undefined || ids === undefined) continue;
    // The last job id in the path (`123`, or an array task's `123_4`) that the journal recorded for that address.
    const tokens = [...entry.path.slice(`logs/${group}/`.length).matchAll(/\d+(?:_\d+)?/g)]
      .map((m) => runIdOf(m[0]))
      .filter((t) => ids.has(t));
    if (tokens.length > 0) add(group, tokens[tokens.length - 1]!, entry);
  }
  const runs: Run[] = [...files.values()].map((r) => {
    const epoch = known.get(r.group)?.get(r.id);
    return {
      group: r.group,
      id: r.id,
      files: r.files.sort((a, b) => (a.path < b.path ? -1 : 1)),
      ...(epoch !== undefined ? { epoch } : {}),
    };
  });
  return { runs, buildLogs };
}

/** The newest first: by submission time, else by the newest file; ties by job id. */
function newestFirst(a: Run, b: Run): number {
  const when = (r: Run) => r.epoch ?? Math.max(0, ...r.files.map((f) => f.mtime));
  return when(b) - when(a) || Number(b.id) - Number(a.id) || (a.id < b.id ? 1 : -1);
}

export interface RunDecision {
  readonly run: Run;
  readonly remove: boolean;
  readonly reason: string;
}

/**
 * Keeps each job's newest `keep` runs. A run still pending or running, or
 * one the journal never recorded, is never removed, whatever its place.
 */
export function retainRuns(
  runs: readonly Run[],
  keep: number,
  active: ReadonlySet<string>,
  heldBecause?: string,
): RunDecision[] {
  const byGroup = new Map<string, Run[]>();
  for (const r of runs) byGroup.set(r.group, [...(byGroup.get(r.group) ?? []), r]);
  const out: RunDecision[] = [];
  for (const [group, list] of [...byGroup].sort(([a], [b]) => (a < b ? -1 : 1))) {
    list.sort(newestFirst).forEach((run, i) => {
      const decide = (remove: boolean, reason: string) => out.push({ run, remove, reason });
      if (active.has(run.id)) decide(false, 'the job is pending or running');
      else if (i < keep)
        decide(false, keep === 1 ? `the newest run of ${group}` : `one of the newest ${keep} runs of ${group}`);
      else if (heldBecause !== undefined) decide(false, heldBecause);
      else if (run.epoch === undefined)
        decide(false, 'the journal does not record this job, so whether it finished is unknown');
      else
        decide(
          true,
          keep === 0
            ? 'finished, and --keep-runs is 0'
            : `older than the newest ${keep === 1 ? 'run' : `${keep} runs`} of ${group}`,
        );
    });
  }
  return out;
}
