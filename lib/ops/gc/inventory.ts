/**
 * The inventory `hpcdk images` and `hpcdk gc` read from a target in one
 * round trip: for every stack folder under the target's base path, its
 * journal, lock, deployed files, logs, params files, code bundles, built
 * images and their locks; the hpcdk jobs the scheduler knows; and the images
 * in podman's storage. Listings travel as base64 of NUL-separated records,
 * so no file name can break the format.
 */
import { quote, word, words, type ShellValue } from '../../shell/index.js';
import { READ_SERIAL } from '../../state/journal.js';
import { READ_LOCK_OWNER } from '../../state/lock.js';
import { commentPrefix, parseComment, parseQueueLines } from '../../targets/scheduler.js';
import type { Scheduler } from '../../targets/scheduler.js';
import {
  BUNDLE_COMMIT_FILE,
  BUNDLES_DIR,
  FILES_DIR,
  IMAGES_DIR,
  JOURNAL_FILE,
  LOGS_DIR,
  PACKAGE_LOCKS_DIR,
  PARAMS_DIR,
} from '../../state/layout.js';

/** A file or folder below a stack folder: path relative to it, size in bytes, modification time (epoch seconds). */
export interface Entry {
  readonly path: string;
  readonly size: number;
  readonly mtime: number;
}

/** A job of the stack as the scheduler reports it, with what its comment says. */
export interface InventoryJob {
  readonly id: string;
  readonly state: string;
  /** From the job's comment; undefined when the comment cannot be read back. */
  readonly address?: string;
  readonly identity?: string;
}

export interface StackInventory {
  /** The stack folder's name: the stack's name. */
  readonly name: string;
  /** Non-empty journal lines, counted as apply counts them (`grep -c .`). */
  readonly serial: number;
  readonly journal: string;
  /** The apply lock's owner line, when the lock is held. */
  readonly lock?: string;
  /** Below `files/`, `logs/`, `params/` and `images/`; paths start with that folder. */
  readonly files: readonly Entry[];
  readonly logs: readonly Entry[];
  readonly params: readonly Entry[];
  readonly images: readonly Entry[];
  /** Unpacked code bundles (`bundles/<address>/<content id>`) and folders left by interrupted unpacks or removals. */
  readonly bundles: readonly Entry[];
  /** `images/<address>/<tag>.built-with` → its first line: what runs the built image (podman, apptainer…). */
  readonly records: ReadonlyMap<string, string>;
  /** `images/<address>/<tag>.sif` → its sha256. */
  readonly sifSha256: ReadonlyMap<string, string>;
  /** Built resources' locks (`.hpcdk/locks/<address>/lock.txt`), by address. */
  readonly packageLocks: ReadonlyMap<string, string>;
  readonly jobs: readonly InventoryJob[];
}

/** One image in podman's storage (`podman images --format json`). */
export interface PodmanImage {
  readonly id: string;
  /** `name:tag` references; none for an untagged (dangling) image. */
  readonly names: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly size: number;
  readonly created: number;
  readonly digest?: string;
  /** The podman global arguments that listed it: removals use the same. */
  readonly args: readonly string[];
}

export interface TargetInventory {
  /** The target's clock, for ages. */
  readonly now: number;
  /** Whether the scheduler answered: without it, nothing a job might use can be removed. */
  readonly schedulerOk: boolean;
  readonly stacks: ReadonlyMap<string, StackInventory>;
  readonly podman: readonly PodmanImage[];
  /** Folders a killed gc left under the base path (`.hpcdk-gc-*`). */
  readonly trash: readonly string[];
}

export interface InventoryRequest {
  /** The target's base path: stack folders are `<base>/<stack>`. */
  readonly base: ShellValue;
  readonly scheduler: Scheduler;
  /** Sets of podman global arguments (`--storage-driver vfs`…) to list images with; each set is one listing. */
  readonly podmanArgs: ReadonlyArray<readonly string[]>;
}

/** Every hpcdk job carries a comment starting with this, whatever its stack. */
const ANY_HPCDK_JOB = 'hpcdk/';

/** The prefix of folders gc renames aside before deleting them, so a killed gc leaves no half-deleted folder in use. */
export const TRASH_PREFIX = '.hpcdk-gc-';

/** The inventory script: one round trip for every stack folder on the target. */
export function inventoryScript(request: InventoryRequest): string {
  const { scheduler } = request;
  // squeue answers for every stack at once; the local scheduler keeps jobs in each stack folder.
  const perStackQueue = scheduler.name === 'local';
  const probe =
    scheduler.name === 'slurm'
      ? 'if squeue -h -u "$(id -un)" -o %i >/dev/null 2>&1; then echo ok; else echo fail; fi'
      : 'echo ok';
  const podman = request.podmanArgs
    .map(
      (args, i) => `echo "@@podman ${i}"
if command -v podman >/dev/null 2>&1; then ${words(['podman', ...args, 'images', '--format', 'json'])} 2>/dev/null; fi | base64 -w0; echo`,
    )
    .join('\n');
  return `
B=${word(request.base)}
echo "@@now $(date +%s)"
# Files below a folder of the stack: "size mtime path" records, NUL-separated, base64 on one line.
hpcdk_list() { if [ -d "$D/$1" ]; then (cd "$D" && find "$1" -type f -printf '%s %T@ %p\\0'); fi | base64 -w0; echo; }
echo '@@scheduler'
${probe}
${perStackQueue ? '' : `echo '@@queue'\nD=/nonexistent-hpcdk-stack\n${scheduler.queryLines(ANY_HPCDK_JOB)}`}
${podman}
for D in "$B"/*/; do
  D=\${D%/}
  hpcdk_name=\${D##*/}
  [ -f "$D/${JOURNAL_FILE}" ] || continue
  case "$hpcdk_name" in '' | *[!a-z0-9_-]*) continue ;; esac
  echo "@@stack $hpcdk_name"
  echo '@@serial'
  ${READ_SERIAL}
  echo "\${hpcdk_serial:-0}"
  echo '@@journal'
  base64 -w0 < "$D/${JOURNAL_FILE}"; echo
  echo '@@lock'
  ${READ_LOCK_OWNER}
  echo '@@files'
  hpcdk_list ${FILES_DIR}
  echo '@@logs'
  hpcdk_list ${LOGS_DIR}
  echo '@@params'
  hpcdk_list ${PARAMS_DIR}
  echo '@@images'
  hpcdk_list ${IMAGES_DIR}
  echo '@@bundles'
  if [ -d "$D/${BUNDLES_DIR}" ]; then
    (cd "$D" && find ${BUNDLES_DIR} -mindepth 2 \\( -type d \\( -name '*.partial' -o -name ${quote(`${TRASH_PREFIX}*`)} \\) -prune -printf '%p\\0' \\) -o \\( -type f -name ${BUNDLE_COMMIT_FILE} -printf '%h\\0' \\) \\
      | while IFS= read -r -d '' p; do printf '%s %s %s\\0' "$(du -sb -- "$p" | cut -f1)" "$(stat -c %Y -- "$p")" "$p"; done)
  fi | base64 -w0; echo
  echo '@@records'
  if [ -d "$D/${IMAGES_DIR}" ]; then
    (cd "$D" && find ${IMAGES_DIR} -type f -name '*.built-with' -print0 | while IFS= read -r -d '' f; do printf '%s\\0%s\\0' "$f" "$(head -n 1 -- "$f")"; done)
  fi | base64 -w0; echo
  echo '@@sifs'
  if [ -d "$D/${IMAGES_DIR}" ]; then (cd "$D" && find ${IMAGES_DIR} -type f -name '*.sif' -exec sha256sum -z -- {} +); fi | base64 -w0; echo
  echo '@@locks'
  if [ -d "$D/${PACKAGE_LOCKS_DIR}" ]; then
    (cd "$D/${PACKAGE_LOCKS_DIR}" && find . -type f -name lock.txt -print0 | while IFS= read -r -d '' f; do printf '%s\\0' "\${f#./}"; cat -- "$f"; printf '\\0'; done)
  fi | base64 -w0; echo
${perStackQueue ? `  echo '@@queue'\n${scheduler.queryLines(ANY_HPCDK_JOB)}` : ''}
done
echo '@@trash'
find "$B" -mindepth 1 -maxdepth 1 -type d -name ${quote(`${TRASH_PREFIX}*`)} -printf '%P\\0' 2>/dev/null | base64 -w0; echo
echo '@@end'
`;
}

interface Section {
  readonly key: string;
  readonly arg: string;
  readonly body: string;
}

function sectionsOf(text: string): Section[] {
  const out: Section[] = [];
  let current: { key: string; arg: string; lines: string[] } | undefined;
  for (const line of text.split('\n')) {
    const m = /^@@([a-z]+)(?: (.*))?$/.exec(line);
    if (m) {
      if (current) out.push({ key: current.key, arg: current.arg, body: current.lines.join('\n') });
      current = { key: m[1]!, arg: m[2] ?? '', lines: [] };
    } else if (current) {
      current.lines.push(line);
    }
  }
  if (current) out.push({ key: current.key, arg: current.arg, body: current.lines.join('\n') });
  return out;
}

const decode = (b64: string) => Buffer.from(b64.trim(), 'base64').toString('utf8');
const records = (b64: string) => decode(b64).split('\0');

/** A path the target listed: relative, with no `.` or `..` segment (removals are built from it). */
function safeRelative(path: string): boolean {
  return path !== '' && !path.startsWith('/') && path.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

function entries(b64: string): Entry[] {
  const out: Entry[] = [];
  for (const rec of records(b64)) {
    const m = /^(\d+) (\d+(?:\.\d+)?) (.+)$/s.exec(rec);
    if (m && safeRelative(m[3]!)) out.push({ size: Number(m[1]), mtime: Math.floor(Number(m[2])), path: m[3]! });
  }
  return out;
}

function pairs(b64: string): Array<[string, string]> {
  const parts = records(b64);
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < parts.length; i += 2) out.push([parts[i]!, parts[i + 1]!]);
  return out;
}

function podmanImages(b64: string, args: readonly string[]): PodmanImage[] {
  const text = decode(b64).trim();
  if (text === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(parsed)) return [];
  return parsed.flatMap((raw: Record<string, unknown>) => {
    if (typeof raw.Id !== 'string') return [];
    const names = [
      ...((raw.Names as string[] | undefined) ?? []),
      ...((raw.RepoTags as string[] | null | undefined) ?? []),
    ];
    return [
      {
        id: raw.Id,
        names: [...new Set(names)].filter((n) => n !== '<none>:<none>'),
        labels: (raw.Labels as Record<string, string> | null) ?? {},
        size: Number(raw.Size ?? 0),
        created: Number(raw.Created ?? 0),
        ...(typeof raw.Digest === 'string' && raw.Digest !== '' ? { digest: raw.Digest } : {}),
        args,
      },
    ];
  });
}

function jobsOf(queue: string, deployment: string): InventoryJob[] {
  const prefix = commentPrefix(deployment);
  // sacct lines (another query's format) are not asked for here; squeue's are fresher anyway.
  return parseQueueLines(
    queue
      .split('\n')
      .filter((l) => !l.startsWith('sacct:'))
      .join('\n'),
  )
    .filter((j) => j.comment.startsWith(prefix))
    .map((j) => ({ id: j.id, state: j.state, ...parseComment(deployment, j.comment) }));
}

/**
 * Parses the inventory script's output. `deployment` names each stack's
 * deployment (`<stack>~<key>`), so only this target folder's jobs count.
 */
export function parseInventory(
  text: string,
  request: Pick<InventoryRequest, 'podmanArgs'>,
  deployment: (stack: string) => string,
): TargetInventory {
  const sections = sectionsOf(text);
  if (!sections.some((s) => s.key === 'end'))
    throw new Error('the target did not finish the inventory (no end marker)');
  let now = Math.floor(Date.now() / 1000);
  let schedulerOk = false;
  let sharedQueue = '';
  const podman = new Map<string, PodmanImage>();
  const stacks = new Map<string, StackInventory>();
  let trash: string[] = [];
  let stack: { name: string; fields: Map<string, string> } | undefined;
  const finish = () => {
    if (!stack) return;
    const f = stack.fields;
    const lock = (f.get('lock') ?? '').trim();
    const queue = [f.get('queue') ?? '', sharedQueue].join('\n');
    stacks.set(stack.name, {
      name: stack.name,
      serial: Number((f.get('serial') ?? '0').trim()) || 0,
      journal: decode(f.get('journal') ?? ''),
      ...(lock ? { lock } : {}),
      files: entries(f.get('files') ?? ''),
      logs: entries(f.get('logs') ?? ''),
      params: entries(f.get('params') ?? ''),
      images: entries(f.get('images') ?? ''),
      bundles: entries(f.get('bundles') ?? ''),
      records: new Map(
        pairs(f.get('records') ?? '')
          .filter(([p]) => safeRelative(p))
          .map(([p, runner]) => [p, runner.trim()]),
      ),
      sifSha256: new Map(
        records(f.get('sifs') ?? '').flatMap((rec) => {
          const m = /^([0-9a-f]{64}) {2}(.+)$/s.exec(rec);
          return m && safeRelative(m[2]!) ? [[m[2]!, m[1]!] as [string, string]] : [];
        }),
      ),
      packageLocks: new Map(
        pairs(f.get('locks') ?? '').map(([p, content]) => [p.replace(/\/?lock\.txt$/, ''), content]),
      ),
      jobs: jobsOf(queue, deployment(stack.name)),
    });
    stack = undefined;
  };
  for (const s of sections) {
    switch (s.key) {
      case 'now':
        now = Number(s.arg) || now;
        break;
      case 'scheduler':
        schedulerOk = s.body.trim() === 'ok';
        break;
      case 'podman': {
        const args = request.podmanArgs[Number(s.arg)] ?? [];
        for (const image of podmanImages(s.body, args)) if (!podman.has(image.id)) podman.set(image.id, image);
        break;
      }
      case 'stack':
        finish();
        stack = { name: s.arg, fields: new Map() };
        break;
      case 'trash':
        finish();
        trash = records(s.body).filter((n) => n.startsWith(TRASH_PREFIX) && safeRelative(n));
        break;
      case 'end':
        finish();
        break;
      case 'queue':
        if (stack) stack.fields.set('queue', s.body);
        else sharedQueue = s.body;
        break;
      default:
        if (stack) stack.fields.set(s.key, s.body);
    }
  }
  return { now, schedulerOk, stacks, podman: [...podman.values()], trash };
}
