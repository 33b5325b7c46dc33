import { readAsset } from '../core/assets.js';
import { quote } from '../shell/index.js';
import type { Scheduler, SubmitRequest } from './scheduler.js';
import { dependencyLines } from './slurm-scheduler.js';
import { EXITS_DIR, FILES_DIR, LOCAL_JOBS_DIR, LOCAL_RUNNER_FILE, STATE_DIR } from '../state/layout.js';

/**
 * The runner that plays SLURM's part on a laptop: waits for dependencies,
 * runs the batch script with SLURM-like variables and a private node-local
 * folder, and leaves the exit code where plan reads it.
 * Arguments: stack dir, job id, script, job name, stdout, stderr, deps (type:id,…).
 */
export const RUNNER = readAsset('targets/local-runner.sh');

/** The local target's scheduler: batch scripts run as background processes on this machine. */
export class LocalScheduler implements Scheduler {
  public readonly name = 'local';

  public readonly functions = `
hpcdk_q="$D/${LOCAL_JOBS_DIR}"
hpcdk_active_job() {
  local dir
  for dir in "$hpcdk_q"/*/; do
    [ -f "$dir/comment" ] || continue
    if [ "$(cat "$dir/comment")" = "$1" ] && [ ! -f "$D/${EXITS_DIR}/$(basename "$dir")" ] && kill -0 "$(cat "$dir/pid" 2>/dev/null || echo 0)" 2>/dev/null; then
      basename "$dir"
      return
    fi
  done
}
# Written once per apply, and by rename: a runner still executing the old file
# (bash reads scripts as it goes) keeps reading the old one.
hpcdk_local_runner() {
  [ -n "\${hpcdk_runner_ready:-}" ] && return 0
  mkdir -p "$D/${STATE_DIR}"
  cat > "$D/${LOCAL_RUNNER_FILE}.$$" <<'HPCDK_RUNNER'
${RUNNER}HPCDK_RUNNER
  mv -f "$D/${LOCAL_RUNNER_FILE}.$$" "$D/${LOCAL_RUNNER_FILE}"
  hpcdk_runner_ready=1
}
# Ends a process group and waits (a few seconds at most) until it is gone.
hpcdk_local_end() {
  local group=$1 n=0
  [ -n "$group" ] && [ "$group" != 0 ] || return 0
  kill -TERM -- -"$group" 2>/dev/null || return 0
  while kill -0 -- -"$group" 2>/dev/null && [ "$n" -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
  kill -KILL -- -"$group" 2>/dev/null || true
}
# Cancelling is two passes, as scancel is one call: every job and task given
# is marked cancelled first (so none of them starts when another one ends),
# then their processes are ended. A job is <id> (a whole array too), one array
# task <id>_<index>; a mark is written before any pid is read (see local-runner.sh).
hpcdk_local_mark() {
  local dir="$hpcdk_q/\${1%%_*}"
  [ -d "$dir" ] || return 0
  case "$1" in
    *_*) : > "$dir/cancelled.\${1#*_}" ;;
    *) : > "$dir/cancelled" ;;
  esac
}
hpcdk_local_stop() {
  local dir="$hpcdk_q/\${1%%_*}" pid file
  [ -d "$dir" ] || return 0
  case "$1" in
    *_*) file="$dir/pid.\${1#*_}"; [ -f "$file" ] && read -r pid < "$file" && hpcdk_local_end "$pid" ;;
    *)
      read -r pid < "$dir/pid" 2>/dev/null && hpcdk_local_end "$pid"
      for file in "$dir"/pid.*; do
        [ -f "$file" ] && read -r pid < "$file" && hpcdk_local_end "$pid"
      done
      ;;
  esac
  return 0
}`;

  public queryLines(commentPrefix: string): string {
    // Bash builtins only (no process per task): a local sweep has thousands.
    return `
hpcdk_local_state() { # dir key index: sets hpcdk_state
  local dir=$1 key=$2 index=$3 code="" runner="" pid=0
  [ -f "$dir/state" ] && read -r runner < "$dir/state"
  [ -f "$dir/pid" ] && read -r pid < "$dir/pid"
  if [ -f "$dir/cancelled" ] || { [ -n "$index" ] && [ -f "$dir/cancelled.$index" ]; }; then hpcdk_state=CANCELLED
  elif [ -f "$dir/timeout.\${index:-job}" ]; then hpcdk_state=TIMEOUT
  elif [ -f "$D/${EXITS_DIR}/$key" ]; then
    read -r code < "$D/${EXITS_DIR}/$key"
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
for hpcdk_dir in "$D/${LOCAL_JOBS_DIR}"/*/; do
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
      // Kept as SLURM keeps a submitted script: what runs is what was submitted, whatever a later apply uploads.
      `  cp "$D/"${quote(`${FILES_DIR}/${r.script}`)} "$hpcdk_q/$hpcdk_job_id/script"`,
      // The job reads its identity for its run record (run.json).
      `  HPCDK_IDENTITY=${quote(r.identity)} setsid bash "$D/${LOCAL_RUNNER_FILE}" "$D" "$hpcdk_job_id" ${quote(r.jobName)} ${quote(r.stdout)} ${quote(r.stderr)} "$hpcdk_deps" ${quote(String(r.array?.size ?? ''))} ${quote(String(r.array?.throttle ?? ''))} ${quote(r.paramsFile ?? '')} </dev/null >/dev/null 2>&1 &`,
      `  echo $! > "$hpcdk_q/$hpcdk_job_id/pid"`,
      `fi`,
    ].join('\n');
  }

  public cancelLines(jobIds: readonly string[]): string {
    if (jobIds.length === 0) return ':';
    const ids = jobIds.map(quote).join(' ');
    return `for hpcdk_c in ${ids}; do hpcdk_local_mark "$hpcdk_c"; done\nfor hpcdk_c in ${ids}; do hpcdk_local_stop "$hpcdk_c"; done`;
  }
}
