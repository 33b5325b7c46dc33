/**
 * The removal script gc runs on a target: for each stack folder, take the
 * stack's apply lock (so gc never races an apply), refuse if the journal
 * changed since the inventory, then remove item by item, reporting each.
 * Every step leaves a state that is consistent if the script is killed
 * there: a deployed file is journaled as removed before it goes, a folder is
 * renamed aside before it is deleted, an image's record goes last.
 */
import { serialCheckLines } from '../../state/journal.js';
import { takeLockLines } from '../../state/lock.js';
import { quote, word, words, type ShellValue } from '../../shell/index.js';
import { JOURNAL_FUNCTION } from '../../state/journal.js';
import type { GcItem, RemovalStep } from './decide.js';
import { TRASH_PREFIX } from './inventory.js';
import { FILES_DIR } from '../../state/layout.js';

export interface StackRemoval {
  readonly stack: string;
  readonly stackDir: ShellValue;
  /** The journal serial the inventory read. */
  readonly serial: number;
  /** Items to remove, with their index in the plan (the script reports by index). */
  readonly items: ReadonlyArray<{ readonly index: number; readonly item: GcItem }>;
}

/** An image reference or id as the inventory listed it: never an option. */
const IMAGE_REF = /^[A-Za-z0-9][A-Za-z0-9._/:@-]*$/;

function stepLine(step: RemovalStep): string {
  switch (step.op) {
    case 'rmi': {
      if (!IMAGE_REF.test(step.ref)) throw new Error(`not an image reference: ${JSON.stringify(step.ref)}`);
      const podman = (...rest: string[]) => words(['podman', ...step.args, ...rest]);
      // Gone already counts as removed; in use by a container fails, with podman's message.
      return `{ hpcdk_do ${podman('rmi', step.ref)} || ! ${podman('image', 'exists', step.ref)}; }`;
    }
    case 'rm':
      return `hpcdk_do rm -f -- "$D/"${quote(step.path)}`;
    case 'rmtree':
      return `hpcdk_rmtree ${quote(step.path)}`;
    case 'rmfile':
      return `{ hpcdk_journal rmfile ${quote(step.path)} && hpcdk_do rm -f -- "$D/${FILES_DIR}/"${quote(step.path)}; }`;
    case 'rmstack':
      return `{ hpcdk_t="$B/$hpcdk_trash$(basename -- "$D")-$$" && hpcdk_do mv -- "$D" "$hpcdk_t" && hpcdk_do rm -rf -- "$hpcdk_t"; }`;
    case 'rmtrash':
      return `hpcdk_do rm -rf -- "$B/"${quote(step.name)}`;
  }
}

function itemLines(index: number, item: GcItem): string {
  const steps = item.steps.map(stepLine).join(' && ');
  return `hpcdk_err=''
if ${steps}; then echo "@@removed ${index}"; else echo "@@failed ${index} $(printf '%s' "$hpcdk_err" | base64 -w0)"; fi`;
}

/** Helpers every block uses: run a command keeping its message; remove a folder by renaming it aside first. */
const HELPERS = `
hpcdk_trash=${quote(TRASH_PREFIX)}
hpcdk_do() { local out; if out=$("$@" 2>&1); then return 0; fi; hpcdk_err="$out"; return 1; }
hpcdk_rmtree() {
  local p="$D/$1" t
  [ -e "$p" ] || return 0
  case "\${1##*/}" in "$hpcdk_trash"*) hpcdk_do rm -rf -- "$p"; return ;; esac
  t="$(dirname -- "$p")/$hpcdk_trash$(basename -- "$p")"
  rm -rf -- "$t"
  hpcdk_do mv -- "$p" "$t" && hpcdk_do rm -rf -- "$t"
}`;

/**
 * One script for a target: each stack's removals run in a subshell holding
 * that stack's lock, so a held lock or a changed journal stops that stack
 * only. Leftovers under the base path (`stack: ''`) need no lock.
 */
export function removalScript(
  base: ShellValue,
  stacks: readonly StackRemoval[],
  leftovers: ReadonlyArray<{ readonly index: number; readonly item: GcItem }> = [],
): string {
  const blocks = stacks
    .filter((s) => s.items.length > 0)
    .map(
      (s) => `echo "@@stack "${quote(s.stack)}
(
D=${word(s.stackDir)}
${takeLockLines('gc')}
${serialCheckLines(s.serial)}
${s.items.map(({ index, item }) => itemLines(index, item)).join('\n')}
)`,
    );
  const loose = leftovers.map(({ index, item }) => itemLines(index, item));
  return `
B=${word(base)}
${JOURNAL_FUNCTION}
${HELPERS}
${blocks.join('\n')}
${loose.length > 0 ? `echo '@@stack '\n${loose.join('\n')}` : ''}
echo '@@done'
`;
}

export interface RemovalResult {
  readonly removed: ReadonlySet<number>;
  /** Item index → the message of the step that failed. */
  readonly failed: ReadonlyMap<number, string>;
  /** Stack → the lock's owner, for stacks whose lock was held. */
  readonly locked: ReadonlyMap<string, string>;
  /** Stacks whose journal changed since the inventory. */
  readonly stale: ReadonlySet<string>;
  /** Lines the lock reported (a stale lock taken over). */
  readonly notes: readonly string[];
  /** The script ran to its end. */
  readonly finished: boolean;
}

export function parseRemoval(stdout: string): RemovalResult {
  const removed = new Set<number>();
  const failed = new Map<number, string>();
  const locked = new Map<string, string>();
  const stale = new Set<string>();
  const notes: string[] = [];
  let stack = '';
  let finished = false;
  for (const line of stdout.split('\n')) {
    const [tag, ...rest] = line.split(' ');
    const arg = rest.join(' ');
    if (tag === '@@stack') stack = arg;
    else if (tag === '@@removed') removed.add(Number(arg));
    else if (tag === '@@failed')
      failed.set(
        Number(rest[0]),
        Buffer.from(rest[1] ?? '', 'base64')
          .toString('utf8')
          .trim(),
      );
    else if (tag === '@@locked') locked.set(stack, arg);
    else if (tag === '@@stale') stale.add(stack);
    else if (tag === '@@note') notes.push(`${stack}: ${arg}`);
    else if (tag === '@@done') finished = true;
  }
  return { removed, failed, locked, stale, notes, finished };
}
