/**
 * `hpcdk shell`: the scripts of an interactive session on a compute node
 * (or of one command run there), with an environment activated or inside an
 * image. Pure: the command decides where they run.
 */
import type { Allocation } from '../core/allocation.js';
import { Scratch } from '../core/runtime.js';
import { sbatchDirectives } from '../render/sbatch.js';
import { LITERALS_DIRECTIVE, base64Lines, comment, exportLine, quote, words, type ShellValue } from '../shell/index.js';
import { builtIdentityCommand } from '../state/journal.js';
import { FILES_DIR, SHELL_DIR } from '../state/layout.js';

/**
 * Allocation options a session does not take over: it is one task on one
 * node, its output is the terminal, and nobody needs mail about it.
 */
const NOT_FOR_SESSIONS = new Set([
  'job-name',
  'output',
  'error',
  'nodes',
  'ntasks',
  'ntasks-per-node',
  'mail-user',
  'mail-type',
]);

/** `srun` options for one task on one node with `allocation`'s resources, quoted as the batch directives are. */
export function srunOptions(jobName: string, allocation: Allocation): string[] {
  const options = sbatchDirectives(jobName, allocation, 'unused', 'unused').map((line) =>
    line.replace(/^#SBATCH /, ''),
  );
  const kept = options.filter((option) => !NOT_FOR_SESSIONS.has(/^--([a-z0-9-]+)/.exec(option)?.[1] ?? ''));
  return [`--job-name=${quote(jobName)}`, ...kept, '--nodes=1', '--ntasks=1'];
}

export interface SessionSpec {
  readonly stack: string;
  readonly target: string;
  readonly address: string;
  /** For messages: `environment`, `image`. */
  readonly what: string;
  readonly stackDir: ShellValue;
  readonly scratchVar: string;
  /** The target's variables, as every job gets them. */
  readonly env: ReadonlyArray<readonly [string, ShellValue]>;
  /** The construct's job prologue: module loads, activation, or the image's run function. */
  readonly prologue: readonly string[];
  /** An image: wraps a line of shell so that it runs inside. */
  readonly wrap?: (step: string) => string;
  /** What must be on the target first: a build recorded at this identity, and these deployed files (below files/). */
  readonly requires: { readonly builtIdentity?: string; readonly files: readonly string[] };
  /** Run this argv instead of an interactive shell. */
  readonly command?: readonly string[];
  /** SLURM: the srun options of the allocation. Undefined on the local target, where the session is a local bash. */
  readonly srun?: readonly string[];
}

/** The shell line that starts a shell inside an image: bash where the image has it. */
const IMAGE_SHELL = 'if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi';

/**
 * podman and docker give a container no terminal unless told (`-it`); the
 * image's run function calls them by name, so in an interactive session
 * these functions add it after `run`.
 */
const TTY_FOR_CONTAINERS = [
  'hpcdk_with_tty() {',
  '  local tool=$1 arg hpcdk_tty_added="" args=()',
  '  shift',
  '  for arg in "$@"; do',
  '    args+=("$arg")',
  '    if [ -z "$hpcdk_tty_added" ] && [ "$arg" = run ]; then args+=(-it); hpcdk_tty_added=1; fi',
  '  done',
  '  command "$tool" "${args[@]}"',
  '}',
  'podman() { hpcdk_with_tty podman "$@"; }',
  'docker() { hpcdk_with_tty docker "$@"; }',
];

/**
 * The file the session's bash reads on the compute node: an `--rcfile` for
 * an interactive shell in an environment, else a script run with bash.
 */
export function renderSessionRc(spec: SessionSpec): string {
  const interactive = spec.command === undefined;
  const lines = [
    comment(
      `hpcdk shell: ${spec.address} of stack ${spec.stack} on target ${spec.target}.\nRendered by hpcdk for one session, and removed when it ends.`,
    ),
    LITERALS_DIRECTIVE,
  ];
  if (interactive && !spec.wrap) {
    // --rcfile replaces ~/.bashrc: read it first, so what the session sets up below wins.
    lines.push('set +u', '# shellcheck source=/dev/null', 'if [ -f ~/.bashrc ]; then source ~/.bashrc; fi');
  }
  if (!interactive) lines.push('set -eo pipefail');
  lines.push(
    exportLine('HPCDK_STACK_DIR', spec.stackDir),
    Scratch.exportLine(spec.scratchVar),
    ...spec.env.map(([name, value]) => exportLine(name, value)),
  );
  // Jobs run in the stack folder: so does the session.
  lines.push('cd "$HPCDK_STACK_DIR" || exit 1', ...spec.prologue);
  // The prologue ends with `set -u`, as scripts want; a shell must not stop at every unset variable.
  lines.push('set +u');
  if (spec.wrap) {
    if (interactive) lines.push(...TTY_FOR_CONTAINERS);
    lines.push(spec.wrap(interactive ? IMAGE_SHELL : words(spec.command!)));
  } else if (!interactive) {
    lines.push(`exec ${words(spec.command!)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Stops the session before it starts, with `message` as the error. */
function failLine(condition: string, message: string): string {
  return `if ${condition}; then printf 'Error: %s\\n' ${quote(message)} >&2; exit 1; fi`;
}

/**
 * The script that starts the session where the stack lives (the login node,
 * or this machine): checks that the construct was applied, writes the rc
 * file into the stack folder (compute nodes see it there), and runs bash
 * through `srun` on SLURM.
 */
export function renderSessionScript(spec: SessionSpec): string {
  const interactive = spec.command === undefined;
  const on = `on target ${spec.target}: run hpcdk apply first (hpcdk apply ${spec.stack} --target ${spec.target})`;
  const notDeployed = `${spec.what} ${spec.address} of stack ${spec.stack} is not deployed ${on}`;
  const lines = [
    exportLine('HPCDK_STACK_DIR', spec.stackDir),
    failLine(`[ ! -d "$HPCDK_STACK_DIR/${FILES_DIR}" ]`, notDeployed),
  ];
  for (const file of spec.requires.files)
    lines.push(failLine(`[ ! -f "$HPCDK_STACK_DIR/${FILES_DIR}/"${quote(file)} ]`, notDeployed));
  if (spec.requires.builtIdentity !== undefined) {
    lines.push(
      `hpcdk_built=$(${builtIdentityCommand(spec.address, '$HPCDK_STACK_DIR')})`,
      failLine('[ -z "$hpcdk_built" ]', `${spec.what} ${spec.address} of stack ${spec.stack} has not been built ${on}`),
      `if [ "$hpcdk_built" != ${quote(spec.requires.builtIdentity)} ]; then printf 'Warning: %s\\n' ${quote(`${spec.address} has changed since it was built on target ${spec.target}; this session uses the build that is there (hpcdk apply rebuilds it).`)} >&2; fi`,
    );
  }
  const rc = base64Lines(renderSessionRc(spec));
  lines.push(
    `mkdir -p "$HPCDK_STACK_DIR/${SHELL_DIR}" || exit 1`,
    `hpcdk_rc=$(mktemp "$HPCDK_STACK_DIR/${SHELL_DIR}/rc.XXXXXX") || exit 1`,
    `base64 -d > "$hpcdk_rc" <<'HPCDK_RC'\n${rc}\nHPCDK_RC`,
  );
  const bash = interactive && !spec.wrap ? 'bash --rcfile "$hpcdk_rc" -i' : 'bash "$hpcdk_rc"';
  if (spec.srun) {
    lines.push(`trap 'rm -f "$hpcdk_rc"' EXIT`, `srun${interactive ? ' --pty' : ''} ${spec.srun.join(' ')} ${bash}`);
  } else {
    // The local target: a private node-local folder, as the local runner gives each job.
    lines.push(
      'hpcdk_scratch=$(mktemp -d) || exit 1',
      `trap 'rm -f "$hpcdk_rc"; rm -rf "$hpcdk_scratch"' EXIT`,
      'export TMPDIR="$hpcdk_scratch" SLURM_TMPDIR="$hpcdk_scratch"',
      bash,
    );
  }
  lines.push('exit $?');
  return `${lines.join('\n')}\n`;
}

/**
 * The command line for `ssh HOST COMMAND`: the session script as one word
 * of base64, so the remote login shell (bash, or tcsh on some clusters)
 * only ever sees `bash -c '…'` with no newline or quote of its own.
 */
export function remoteCommand(script: string): string {
  const encoded = Buffer.from(script, 'utf8').toString('base64');
  return `bash -c ${quote(`eval "$(printf %s ${encoded} | base64 -d)"`)}`;
}
