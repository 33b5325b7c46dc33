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
D=$1 id=$2 script=$3 name=$4 out=$5 err=$6 deps=$7 size=\${8:-} throttle=\${9:-} params=\${10:-}
Q="$D/.hpcdk/local-jobs/$id"
exits="$D/.hpcdk/exits"
mkdir -p "$exits"
for dep in \${deps//,/ }; do
  type=\${dep%%:*} dep_id=\${dep#*:}
  [ "$type" = singleton ] && continue
  # A whole job (or array) ends with its runner's exit file; one array task with its own.
  dep_exit="$D/.hpcdk/local-jobs/$dep_id/exit"
  case "$dep_id" in *_*) dep_exit="$exits/$dep_id" ;; esac
  while [ ! -f "$dep_exit" ]; do
    # Cancelled, or the stack's folder is gone: stop waiting.
    { [ -f "$Q/cancelled" ] || [ ! -d "$Q" ]; } && exit 0
    sleep 0.2
  done
  code=$(cat "$dep_exit")
  if { [ "$type" = afterok ] && [ "$code" != 0 ]; } || { [ "$type" = afternotok ] && [ "$code" = 0 ]; }; then
    echo DEPENDENCY_NEVER_SATISFIED > "$Q/state"
    exit 0
  fi
done
echo RUNNING > "$Q/state"
# One task: key is the job id, or <id>_<index> in an array.
run_task() {
  local key=$1 index=$2 o e node_local code
  o=\${out//%x/$name}; o=\${o//%j/$key}; o=\${o//%A/$id}; o=\${o//%a/$index}
  e=\${err//%x/$name}; e=\${e//%j/$key}; e=\${e//%A/$id}; e=\${e//%a/$index}
  mkdir -p "$(dirname "$D/$o")" "$(dirname "$D/$e")"
  [ -n "$index" ] && touch "$Q/started.$index"
  node_local=$(mktemp -d)
  (
    cd "$D" || exit 1
    export SLURM_JOB_ID="$id" SLURM_JOB_NAME="$name" SLURM_SUBMIT_DIR="$D" SLURM_NNODES=1 SLURM_NTASKS=1
    export SLURM_TMPDIR="$node_local" TMPDIR="$node_local"
    if [ -n "$index" ]; then export SLURM_ARRAY_JOB_ID="$id" SLURM_ARRAY_TASK_ID="$index" SLURM_ARRAY_TASK_COUNT="$size"; fi
    if [ -n "$params" ]; then export HPCDK_PARAMS_FILE="$D/$params"; fi
    exec bash "$script" >"$D/$o" 2>"$D/$e"
  )
  code=$?
  # The job's own exit trap normally wrote this; a script that never started did not.
  [ -f "$exits/$key" ] || echo "$code" > "$exits/$key"
  rm -rf "$node_local"
}
if [ -z "$size" ]; then
  run_task "$id" ""
  cp "$exits/$id" "$Q/exit"
else
  limit=\${throttle:-$(nproc)}
  for ((i = 0; i < size; i++)); do
    while [ "$(jobs -rp | wc -l)" -ge "$limit" ]; do wait -n; done
    [ -f "$Q/cancelled" ] && break
    run_task "\${id}_$i" "$i" &
  done
  wait
  # The array's code, as SLURM's afterok sees it: 0 only if every task succeeded.
  code=0
  for ((i = 0; i < size; i++)); do [ "$(cat "$exits/\${id}_$i" 2>/dev/null)" = 0 ] || code=1; done
  echo "$code" > "$Q/exit"
fi
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
    // Bash builtins only (no process per task): a local sweep has thousands.
    return `
hpcdk_local_state() { # dir key index: sets hpcdk_state
  local dir=$1 key=$2 index=$3 code="" runner="" pid=0
  [ -f "$dir/state" ] && read -r runner < "$dir/state"
  [ -f "$dir/pid" ] && read -r pid < "$dir/pid"
  if [ -f "$dir/cancelled" ]; then hpcdk_state=CANCELLED
  elif [ -f "$D/.hpcdk/exits/$key" ]; then
    read -r code < "$D/.hpcdk/exits/$key"
    if [ "$code" = 0 ]; then hpcdk_state=COMPLETED; else hpcdk_state=FAILED; fi
  elif [ "$runner" = DEPENDENCY_NEVER_SATISFIED ]; then hpcdk_state=DEPENDENCY_NEVER_SATISFIED
  elif kill -0 "\${pid:-0}" 2>/dev/null; then
    if [ -n "$index" ] && [ ! -f "$dir/started.$index" ]; then hpcdk_state=PENDING
    elif [ "$runner" = RUNNING ]; then hpcdk_state=RUNNING
    else hpcdk_state=PENDING
    fi
  else hpcdk_state=CANCELLED
  fi
}
for hpcdk_dir in "$D/.hpcdk/local-jobs"/*/; do
  [ -f "$hpcdk_dir/comment" ] || continue
  hpcdk_id=\${hpcdk_dir%/}; hpcdk_id=\${hpcdk_id##*/}
  read -r hpcdk_comment < "$hpcdk_dir/comment" || true
  case "$hpcdk_comment" in ${quote(commentPrefix)}*) ;; *) continue ;; esac
  if [ -f "$hpcdk_dir/array" ]; then
    read -r hpcdk_size < "$hpcdk_dir/array"
    for ((hpcdk_i = 0; hpcdk_i < hpcdk_size; hpcdk_i++)); do
      hpcdk_local_state "$hpcdk_dir" "\${hpcdk_id}_\${hpcdk_i}" "$hpcdk_i"
      printf '%s|%s|%s\\n' "\${hpcdk_id}_\${hpcdk_i}" "$hpcdk_state" "$hpcdk_comment"
    done
  else
    hpcdk_local_state "$hpcdk_dir" "$hpcdk_id" ""
    printf '%s|%s|%s\\n' "$hpcdk_id" "$hpcdk_state" "$hpcdk_comment"
  fi
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
      ...(r.array ? [`  echo ${r.array.size} > "$hpcdk_q/$hpcdk_job_id/array"`] : []),
      // The job reads its identity for its run record (run.json).
      `  HPCDK_IDENTITY=${quote(r.identity)} setsid bash "$D/.hpcdk/local-runner.sh" "$D" "$hpcdk_job_id" ${quote(`files/${r.script}`)} ${quote(r.jobName)} ${quote(r.stdout)} ${quote(r.stderr)} "$hpcdk_deps" ${quote(String(r.array?.size ?? ''))} ${quote(String(r.array?.throttle ?? ''))} ${quote(r.paramsFile ?? '')} </dev/null >/dev/null 2>&1 &`,
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
