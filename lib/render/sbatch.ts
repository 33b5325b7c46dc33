import type { Allocation } from '../core/allocation.js';
import { STACK_DIR_LINE, Scratch } from '../core/runtime.js';
import { Secret } from '../core/secret.js';
import { LITERALS_DIRECTIVE, comment, exportLine, quote, word, words, type ShellValue } from '../shell/index.js';
import { renderRunRecord, type RunRecordSpec } from './run-record.js';
import { hasPeriodicCopies, renderStageOut, type StageOutSpec } from './stage-out.js';
import { EXITS_DIR } from '../state/layout.js';

/** One step of a job: a shell line written as the user wrote it, or an argv whose every word is quoted. */
export type JobStep = string | readonly ShellValue[];

/** Checkpoint and requeue, as the job declares them. */
export interface CheckpointSpec {
  readonly hook: string;
  readonly secondsBefore: number;
  readonly signal: string;
  readonly requeue: boolean;
}

/** Everything the sbatch renderer needs, already validated and resolved against the target. */
export interface SbatchSpec {
  readonly jobName: string;
  readonly allocation: Allocation;
  /** `#SBATCH --output` / `--error`, relative to the stack folder on the target. */
  readonly stdout: string;
  readonly stderr: string;
  readonly env: ReadonlyArray<readonly [string, ShellValue | Secret]>;
  readonly workdir?: ShellValue;
  /** Lines run before the steps (module loads, activation), already rendered. */
  readonly prologue: readonly string[];
  readonly steps: readonly JobStep[];
  /** Wraps each rendered step (a container image runs it inside). */
  readonly wrapStep?: (step: string) => string;
  readonly checkpoint?: CheckpointSpec;
  /** Record the packages the run uses: into `freeze.dir` (relative to the stack folder), with `freeze.command`. */
  readonly freeze?: { readonly dir: string; readonly command: string };
  /** Handled by apply on the sbatch command line, where --dependency is set. */
  readonly singleton?: boolean;
  /** The target's node-local scratch variable, exported as HPCDK_SCRATCH. */
  readonly scratchVar: string;
  /** Outputs on node-local disk to copy back (stage-out). */
  readonly outputs?: readonly StageOutSpec[];
  /** An array task of a sweep: each task's outputs go to a folder of its own. */
  readonly perTask?: boolean;
  /** What the run's provenance record names. */
  readonly run: RunRecordSpec;
  /** Free text for the header comment (what rendered this, from where). */
  readonly header: readonly string[];
}

/** Without a checkpoint, jobs with outputs still ask for a warning before the time limit, to copy them back in time. */
export const STAGE_OUT_WARNING = { signal: 'USR2', secondsBefore: 300 } as const;

/** `#SBATCH` directives for an allocation, sorted by option name, values quoted. */
export function sbatchDirectives(
  jobName: string,
  a: Allocation,
  stdout: string,
  stderr: string,
  checkpoint?: CheckpointSpec,
  warning?: { readonly signal: string; readonly secondsBefore: number },
): string[] {
  const d = new Map<string, string | undefined>();
  const signal = checkpoint ?? warning;
  if (signal) d.set('signal', `B:${signal.signal}@${signal.secondsBefore}`);
  if (checkpoint?.requeue) d.set('requeue', '');
  d.set('job-name', jobName);
  d.set('output', stdout);
  d.set('error', stderr);
  d.set('account', a.account);
  d.set('partition', a.partition);
  d.set('time', a.time);
  d.set('nodes', a.nodes?.toString());
  d.set('ntasks', a.ntasks?.toString());
  d.set('ntasks-per-node', a.ntasksPerNode?.toString());
  d.set('cpus-per-task', a.cpusPerTask?.toString());
  d.set('mem', a.mem);
  if (a.gpus) d.set('gres', `gpu:${a.gpus.type ? `${a.gpus.type}:` : ''}${a.gpus.count}`);
  d.set('constraint', a.constraint);
  d.set('qos', a.qos);
  if (a.mail) {
    d.set('mail-user', a.mail.user);
    d.set('mail-type', a.mail.type.join(','));
  }
  for (const [k, v] of Object.entries(a.extra)) d.set(k, v);
  return [...d.entries()]
    .filter((e): e is [string, string] => e[1] !== undefined)
    .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => (v === '' ? `#SBATCH --${k}` : `#SBATCH --${k}=${quote(v)}`));
}

function renderStep(step: JobStep): string {
  return typeof step === 'string' ? step : words(step);
}

/**
 * Every job records how it ended where plan reads it, so a finished job is
 * known even where the scheduler keeps no accounting. A TERM (scancel, time
 * limit) ends the script through the EXIT trap too. Outputs are copied back
 * first: a job whose outputs could not be copied fails, whatever its steps did.
 */
function exitTrap(stageOut: boolean, periodic: boolean): string[] {
  return [
    '# hpcdk: when the job ends: copy outputs back, write run.json, record how it ended.',
    `hpcdk_exit_dir="\${HPCDK_STACK_DIR}/${EXITS_DIR}"`,
    'hpcdk_job_key="${SLURM_ARRAY_JOB_ID:+${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}}"',
    ...(periodic ? ['hpcdk_sync_pids=()'] : []),
    '# shellcheck disable=SC2317 # run by the trap below',
    'hpcdk_record_exit() {',
    '  local code=$?',
    ...(periodic ? ['  [ "${#hpcdk_sync_pids[@]}" -eq 0 ] || kill "${hpcdk_sync_pids[@]}" 2>/dev/null || true'] : []),
    ...(stageOut
      ? [
          '  if declare -F hpcdk_stage_out >/dev/null && ! hpcdk_stage_out exit; then',
          '    [ "$code" -ne 0 ] || code=1',
          '  fi',
        ]
      : []),
    '  if declare -F hpcdk_write_run >/dev/null; then',
    '    hpcdk_write_run "$([ -n "${hpcdk_requeued:-}" ] && echo requeued || echo ended)" "$code" || true',
    '  fi',
    '  # A requeued run has not ended: the scheduler runs it again.',
    '  if [ -z "${hpcdk_requeued:-}" ]; then',
    '    mkdir -p "$hpcdk_exit_dir" && printf \'%s\\n\' "$code" > "$hpcdk_exit_dir/${hpcdk_job_key:-${SLURM_JOB_ID:-unknown}}"',
    '  fi',
    '  exit "$code"',
    '}',
    'trap hpcdk_record_exit EXIT',
    "trap 'exit 143' TERM",
  ];
}

/** Waits for a backgrounded step; a trapped signal interrupts `wait` while the step runs on. */
const WAIT_FUNCTION = [
  '# shellcheck disable=SC2317 # used by the steps below',
  'hpcdk_wait() {',
  '  local rc',
  '  while :; do',
  '    wait "$1" && rc=0 || rc=$?',
  '    if [ "$rc" -gt 128 ] && kill -0 "$1" 2>/dev/null; then continue; fi',
  '    return "$rc"',
  '  done',
  '}',
];

/**
 * The checkpoint trap. Bash runs a trap only once the foreground command
 * ends, so with checkpointing each step runs in the background under `wait`,
 * which the signal interrupts; the hook can reach the step as $HPCDK_STEP_PID.
 */
function checkpointLines(c: CheckpointSpec, stageOut: boolean): string[] {
  return [
    '# hpcdk: checkpoint when the scheduler warns that time is nearly up, then requeue.',
    'export HPCDK_RESTART_COUNT="${SLURM_RESTART_COUNT:-0}"',
    'HPCDK_STEP_PID=""',
    '# shellcheck disable=SC2317 # run by the trap below',
    'hpcdk_on_checkpoint() {',
    `  echo "hpcdk: ${c.signal} received (restart \${HPCDK_RESTART_COUNT}): running the checkpoint hook" >&2`,
    // Not indented: a hook may hold a heredoc, whose terminator must start its line.
    ...c.hook.split('\n'),
    ...(stageOut ? ['  hpcdk_stage_out checkpoint || true'] : []),
    ...(c.requeue ? ['  hpcdk_requeued=1', '  scontrol requeue "${hpcdk_job_key:-${SLURM_JOB_ID}}"'] : []),
    '  exit 0',
    '}',
    `trap hpcdk_on_checkpoint ${c.signal}`,
  ];
}

function backgrounded(step: string): string {
  return `${step} &\nHPCDK_STEP_PID=$!\nhpcdk_wait "$HPCDK_STEP_PID"`;
}

/**
 * A secret's value, read from its file when the job starts: never in the
 * script. The assignment stands alone so a missing file fails the job
 * (`export X="$(…)"` would hide cat's failure).
 */
function secretLines(name: string, secret: Secret): string[] {
  return [`${name}="$(cat -- ${word(secret.file())})"`, `export ${name}`];
}

/** Renders a batch script. Pure: the same spec always gives the same text. */
export function renderSbatch(spec: SbatchSpec): string {
  const outputs = spec.outputs ?? [];
  const stageOut = outputs.length > 0;
  // Steps run under `wait` whenever a signal must reach the script while they run.
  const interruptible = spec.checkpoint !== undefined || stageOut;
  const lines: string[] = ['#!/usr/bin/env bash'];
  lines.push(
    ...sbatchDirectives(
      spec.jobName,
      spec.allocation,
      spec.stdout,
      spec.stderr,
      spec.checkpoint,
      stageOut ? STAGE_OUT_WARNING : undefined,
    ),
  );
  lines.push(comment(spec.header.join('\n')), LITERALS_DIRECTIVE);
  lines.push(
    'set -euo pipefail',
    STACK_DIR_LINE,
    Scratch.exportLine(spec.scratchVar),
    '',
    ...exitTrap(stageOut, hasPeriodicCopies(outputs)),
    '',
  );
  lines.push(...renderRunRecord(spec.run), '');
  for (const [name, value] of spec.env)
    lines.push(...(Secret.isSecret(value) ? secretLines(name, value) : [exportLine(name, value)]));
  if (spec.env.length > 0) lines.push('');
  if (interruptible) lines.push(...WAIT_FUNCTION, '');
  if (spec.checkpoint) lines.push(...checkpointLines(spec.checkpoint, stageOut), '');
  if (spec.prologue.length > 0) lines.push(...spec.prologue, '');
  if (stageOut) {
    lines.push(...renderStageOut(outputs, spec.perTask === true));
    // Without a checkpoint, the warning before the time limit (or a preemption notice) copies the outputs and the steps go on.
    if (!spec.checkpoint) lines.push(`trap 'hpcdk_stage_out signal || true' ${STAGE_OUT_WARNING.signal}`);
    lines.push('');
  }
  if (spec.freeze) {
    // Exact library versions next to the logs, as provenance.
    lines.push(
      comment('hpcdk: record the packages this run uses, next to its logs'),
      `hpcdk_freeze_dir="\${HPCDK_STACK_DIR}/${spec.freeze.dir}"`,
      'mkdir -p "$hpcdk_freeze_dir"',
      `{ ${spec.freeze.command}; } > "$hpcdk_freeze_dir/\${hpcdk_job_key:-\${SLURM_JOB_ID:-unknown}}.txt" 2>/dev/null || true`,
      '',
    );
  }
  lines.push('hpcdk_write_run running', '');
  if (spec.workdir !== undefined) lines.push(`cd -- ${word(spec.workdir)}`);
  const steps = spec.steps.map(renderStep).map((s) => (spec.wrapStep ? spec.wrapStep(s) : s));
  lines.push(...(interruptible ? steps.map(backgrounded) : steps));
  return `${lines.join('\n')}\n`;
}
