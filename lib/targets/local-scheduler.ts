import { quote } from '../shell/index.js';
import type { Scheduler, SubmitRequest } from './scheduler.js';
import { dependencyLines } from './slurm-scheduler.js';

/**
 * The runner that plays SLURM's part on a laptop: waits for dependencies,
 * runs the batch script with SLURM-like variables and a private node-local
 * folder, and leaves the exit code where plan reads it.
 * Arguments: stack dir, job id, script, job name, stdout, stderr, deps (type:id,…).
 */
const RUNNER = `#!/usr/bin/env bash
set -u
D=$1 id=$2 script=$3 name=$4 out=$5 err=$6 deps=$7
Q="$D/.hpcdk/local-jobs/$id"
exits="$D/.hpcdk/exits"
mkdir -p "$exits"
for dep in \${deps//,/ }; do
  type=\${dep%%:*} dep_id=\${dep#*:}
  while [ ! -f "$exits/$dep_id" ]; do
    # Cancelled, or the stack's folder is gone: stop waiting.
    { [ -f "$Q/cancelled" ] || [ ! -d "$Q" ]; } && exit 0
    sleep 0.2
  done
  code=$(cat "$exits/$dep_id")
  if { [ "$type" = afterok ] && [ "$code" != 0 ]; } || { [ "$type" = afternotok ] && [ "$code" = 0 ]; }; then
    echo DEPENDENCY_NEVER_SATISFIED > "$Q/state"
    exit 0
  fi
done
echo RUNNING > "$Q/state"
out=\${out//%x/$name}; out=\${out//%j/$id}
err=\${err//%x/$name}; err=\${err//%j/$id}
mkdir -p "$(dirname "$D/$out")" "$(dirname "$D/$err")"
node_local=$(mktemp -d)
(
  cd "$D" || exit 1
  export SLURM_JOB_ID="$id" SLURM_JOB_NAME="$name" SLURM_SUBMIT_DIR="$D" SLURM_NNODES=1 SLURM_NTASKS=1
  export SLURM_TMPDIR="$node_local" TMPDIR="$node_local"
  exec bash "$script" >"$D/$out" 2>"$D/$err"
)
code=$?
# The job's own exit trap normally wrote this; a script that never started did not.
[ -f "$exits/$id" ] || echo "$code" > "$exits/$id"
rm -rf "$node_local"
echo DONE > "$Q/state"
`;

/** The local target's scheduler: batch scripts run as background processes on this machine. */
export class LocalScheduler implements Scheduler {
  public readonly name = 'local';

  public readonly functions = `
hpcdk_q="$D/.hpcdk/local-jobs"
hpcdk_active_job() {
  local dir
  for dir in "$hpcdk_q"/*/; do
    [ -f "$dir/comment" ] || continue
    if [ "$(cat "$dir/comment")" = "$1" ] && [ ! -f "$D/.hpcdk/exits/$(basename "$dir")" ] && kill -0 "$(cat "$dir/pid" 2>/dev/null || echo 0)" 2>/dev/null; then
      basename "$dir"
      return
    fi
  done
}
# Written once per apply, and by rename: a runner still executing the old file
# (bash reads scripts as it goes) keeps reading the old one.
hpcdk_local_runner() {
  [ -n "\${hpcdk_runner_ready:-}" ] && return 0
  mkdir -p "$D/.hpcdk"
  cat > "$D/.hpcdk/local-runner.sh.$$" <<'HPCDK_RUNNER'
${RUNNER}HPCDK_RUNNER
  mv -f "$D/.hpcdk/local-runner.sh.$$" "$D/.hpcdk/local-runner.sh"
  hpcdk_runner_ready=1
}`;

  public queryLines(commentPrefix: string): string {
    return `
for hpcdk_dir in "$D/.hpcdk/local-jobs"/*/; do
  [ -f "$hpcdk_dir/comment" ] || continue
  hpcdk_id=$(basename "$hpcdk_dir")
  hpcdk_comment=$(cat "$hpcdk_dir/comment")
  case "$hpcdk_comment" in ${quote(commentPrefix)}*) ;; *) continue ;; esac
  if [ -f "$hpcdk_dir/cancelled" ]; then hpcdk_state=CANCELLED
  elif [ -f "$D/.hpcdk/exits/$hpcdk_id" ]; then
    if [ "$(cat "$D/.hpcdk/exits/$hpcdk_id")" = 0 ]; then hpcdk_state=COMPLETED; else hpcdk_state=FAILED; fi
  elif [ "$(cat "$hpcdk_dir/state" 2>/dev/null)" = DEPENDENCY_NEVER_SATISFIED ]; then hpcdk_state=DEPENDENCY_NEVER_SATISFIED
  elif kill -0 "$(cat "$hpcdk_dir/pid" 2>/dev/null || echo 0)" 2>/dev/null; then
    if [ "$(cat "$hpcdk_dir/state" 2>/dev/null)" = RUNNING ]; then hpcdk_state=RUNNING; else hpcdk_state=PENDING; fi
  else hpcdk_state=CANCELLED
  fi
  printf '%s|%s|%s\\n' "$hpcdk_id" "$hpcdk_state" "$hpcdk_comment"
done`;
  }

  public submitLines(r: SubmitRequest): string {
    return [
      dependencyLines(r),
      `hpcdk_job_id="$(hpcdk_active_job ${quote(r.comment)})"`,
      `if [ -z "$hpcdk_job_id" ]; then`,
      `  hpcdk_local_runner`,
      `  mkdir -p "$hpcdk_q"`,
      // Ids grow across applies; mkdir is atomic, so two submits never share one.
      `  hpcdk_job_id=$(( $(cat "$hpcdk_q/next" 2>/dev/null || echo 0) + 1 ))`,
      `  while ! mkdir "$hpcdk_q/$hpcdk_job_id" 2>/dev/null; do hpcdk_job_id=$((hpcdk_job_id + 1)); done`,
      `  echo "$hpcdk_job_id" > "$hpcdk_q/next"`,
      `  printf '%s' ${quote(r.comment)} > "$hpcdk_q/$hpcdk_job_id/comment"`,
      `  echo PENDING > "$hpcdk_q/$hpcdk_job_id/state"`,
      `  setsid bash "$D/.hpcdk/local-runner.sh" "$D" "$hpcdk_job_id" ${quote(`files/${r.script}`)} ${quote(r.jobName)} ${quote(r.stdout)} ${quote(r.stderr)} "$hpcdk_deps" </dev/null >/dev/null 2>&1 &`,
      `  echo $! > "$hpcdk_q/$hpcdk_job_id/pid"`,
      `fi`,
    ].join('\n');
  }

  public cancelLines(jobIds: readonly string[]): string {
    return jobIds
      .map(
        (id) =>
          `touch "$hpcdk_q/"${quote(id)}/cancelled 2>/dev/null; kill -TERM -- -"$(cat "$hpcdk_q/"${quote(id)}/pid 2>/dev/null || echo 0)" 2>/dev/null || true`,
      )
      .join('\n') || ':';
  }
}
