import { comment, quote, word, type ShellValue } from '../shell/index.js';

/** One output of a job: a node-local folder and where it is kept. Already validated. */
export interface StageOutSpec {
  /** The node-local folder (under HPCDK_SCRATCH). */
  readonly from: ShellValue;
  /** The persistent destination; a sweep's tasks each write below it, in a folder named after their point. */
  readonly to: ShellValue;
  /** Copy in the background this often while the job runs (checkpoints). */
  readonly everyMinutes?: number;
  /** Keep only the newest K entries, at the destination and on scratch. */
  readonly keep?: number;
  /** Export the newest entry at the destination under this name when the job starts (resume). */
  readonly resumeVar?: string;
}

/** The destination as the job sees it: one folder per array task, so tasks never overwrite each other. */
function destination(o: StageOutSpec, perTask: boolean): string {
  return perTask ? `${word(o.to)}/"\${HPCDK_POINT:?}"` : word(o.to);
}

/**
 * The stage-out functions: copy each output back with rsync, prune to the
 * newest K, and report every output that was not copied. The EXIT trap, the
 * warning signal and the background loops all call `hpcdk_stage_out`.
 */
export function renderStageOut(outputs: readonly StageOutSpec[], perTask: boolean): string[] {
  if (outputs.length === 0) return [];
  const lines = [
    comment(
      'hpcdk: outputs written to node-local disk, copied back to persistent storage\nwhen the job ends (whatever its result), when the warning signal arrives,\nand in the background for those copied every N minutes.',
    ),
    `hpcdk_out_from=(${outputs.map((o) => word(o.from)).join(' ')})`,
    `hpcdk_out_to=(${outputs.map((o) => destination(o, perTask)).join(' ')})`,
    `hpcdk_out_keep=(${outputs.map((o) => String(o.keep ?? 0)).join(' ')})`,
    '# shellcheck disable=SC2317 # called from traps',
    'hpcdk_prune() {',
    '  # Keep the newest $2 entries of folder $1 (0: keep all).',
    '  [ "$2" -gt 0 ] && [ -d "$1" ] || return 0',
    '  find "$1" -mindepth 1 -maxdepth 1 -printf \'%T@ %p\\0\' | sort -z -rn | tail -z -n "+$(($2 + 1))" | cut -z -d\' \' -f2- | xargs -0 -r rm -rf --',
    '}',
    '# shellcheck disable=SC2317 # called from traps',
    'hpcdk_copy_out() {',
    '  local from="${hpcdk_out_from[$1]}" to="${hpcdk_out_to[$1]}" keep="${hpcdk_out_keep[$1]}"',
    '  # Nothing written there: nothing to copy.',
    '  [ -e "$from" ] || return 0',
    '  hpcdk_prune "$from" "$keep"',
    '  mkdir -p -- "$to" && rsync -a -- "$from/" "$to/" && hpcdk_prune "$to" "$keep"',
    '}',
    '# shellcheck disable=SC2317 # called from traps',
    'hpcdk_stage_out() {',
    '  local i failed=()',
    '  for i in "${!hpcdk_out_from[@]}"; do',
    '    hpcdk_copy_out "$i" || failed+=("${hpcdk_out_from[$i]} -> ${hpcdk_out_to[$i]}")',
    '  done',
    '  [ "${#failed[@]}" -eq 0 ] && return 0',
    '  echo "hpcdk: stage-out ($1) failed; not copied: ${failed[*]}" >&2',
    '  return 1',
    '}',
  ];
  for (const [i, o] of outputs.entries()) {
    if (o.resumeVar) {
      lines.push(
        `# The newest entry already kept at the destination: where a requeued or resumed run picks up.`,
        `${o.resumeVar}="$(find "\${hpcdk_out_to[${i}]}" -mindepth 1 -maxdepth 1 -printf '%T@ %p\\n' 2>/dev/null | sort -rn | head -n 1 | cut -d' ' -f2- || true)"`,
        `export ${o.resumeVar}`,
      );
    }
  }
  const periodic = outputs.map((o, i) => [o, i] as const).filter(([o]) => o.everyMinutes !== undefined);
  if (periodic.length > 0) {
    lines.push('# Background copies never block the steps; the EXIT trap stops them before the last copy.');
    for (const [o, i] of periodic) {
      lines.push(
        `( while sleep ${quote(String(o.everyMinutes! * 60))}; do hpcdk_copy_out ${i} || echo "hpcdk: background copy of \${hpcdk_out_from[${i}]} failed; retrying in ${o.everyMinutes} min" >&2; done ) &`,
        'hpcdk_sync_pids+=("$!")',
      );
    }
  }
  return lines;
}

/** Whether the job's script stops background copies before the final one. */
export function hasPeriodicCopies(outputs: readonly StageOutSpec[]): boolean {
  return outputs.some((o) => o.everyMinutes !== undefined);
}
