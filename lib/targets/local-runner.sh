#!/usr/bin/env bash
set -u
# Job control: each array task runs in a process group of its own, so one
# task can be cancelled without its siblings (as scancel of one task does).
set -m
# The job's script is "$Q/script", copied there when it was submitted.
D=$1 id=$2 name=$3 out=$4 err=$5 deps=$6 size=${7:-} throttle=${8:-} params=${9:-}
# The stack folder's layout (lib/state/layout.ts; a test keeps these in step).
LOCAL_JOBS_DIR='.hpcdk/local-jobs'
EXITS_DIR='.hpcdk/exits'
Q="$D/$LOCAL_JOBS_DIR/$id"
exits="$D/$EXITS_DIR"
mkdir -p "$exits"
for dep in ${deps//,/ }; do
  type=${dep%%:*} dep_id=${dep#*:}
  [ "$type" = singleton ] && continue
  # A whole job (or array) ends with its runner's exit file; one array task with its own.
  dep_exit="$D/$LOCAL_JOBS_DIR/$dep_id/exit"
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
# The job's time limit in seconds, from its #SBATCH --time line (SLURM's forms:
# M, M:S, H:M:S, D-H, D-H:M, D-H:M:S); 0 when it has none.
time_limit() {
  local t d=0 h=0 m=0 s=0 parts=()
  t=$(sed -n 's/^#SBATCH --time=//p' "$Q/script" | head -n 1)
  case "$t" in '' | UNLIMITED | INFINITE | unlimited | infinite) echo 0; return ;; esac
  if [[ $t == *-* ]]; then
    d=${t%%-*}
    IFS=: read -r h m s <<< "${t#*-}"
  else
    IFS=: read -r -a parts <<< "$t"
    case ${#parts[@]} in
      1) m=${parts[0]} ;;
      2) m=${parts[0]} s=${parts[1]} ;;
      *) h=${parts[0]} m=${parts[1]} s=${parts[2]} ;;
    esac
  fi
  echo $(((((10#${d:-0} * 24) + 10#${h:-0}) * 60 + 10#${m:-0}) * 60 + 10#${s:-0}))
}
limit_seconds=$(time_limit)
# Ends task group $2 after $1 seconds, as SLURM ends a job at its time limit,
# leaving the mark that says TIMEOUT ($3: the task's index, or job).
watchdog() {
  local sleeper
  sleep "$1" &
  sleeper=$!
  trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
  wait "$sleeper" || exit 0
  : > "$Q/timeout.$3"
  kill -TERM -- -"$2" 2>/dev/null
}
# One task: key is the job id, or <id>_<index> in an array. Its pid is
# written before it looks for a cancel, and a cancel is written before the
# canceller reads the pid: one of the two always sees the other.
run_task() {
  local key=$1 index=$2 o e node_local code
  echo "$BASHPID" > "$Q/pid.${index:-job}"
  { [ -f "$Q/cancelled" ] || { [ -n "$index" ] && [ -f "$Q/cancelled.$index" ]; }; } && return 0
  o=${out//%x/$name}; o=${o//%j/$key}; o=${o//%A/$id}; o=${o//%a/$index}
  e=${err//%x/$name}; e=${e//%j/$key}; e=${e//%A/$id}; e=${e//%a/$index}
  mkdir -p "$(dirname "$D/$o")" "$(dirname "$D/$e")"
  [ -n "$index" ] && touch "$Q/started.$index"
  node_local=$(mktemp -d)
  echo "$node_local" > "$Q/tmp.${index:-job}"
  local watcher="" group=$BASHPID
  if [ "$limit_seconds" -gt 0 ]; then
    # $group, not $BASHPID: the arguments of a command run with & are expanded in the child.
    watchdog "$limit_seconds" "$group" "${index:-job}" &
    watcher=$!
  fi
  (
    cd "$D" || exit 1
    export SLURM_JOB_ID="$id" SLURM_JOB_NAME="$name" SLURM_SUBMIT_DIR="$D" SLURM_NNODES=1 SLURM_NTASKS=1
    export SLURM_TMPDIR="$node_local" TMPDIR="$node_local"
    if [ -n "$index" ]; then export SLURM_ARRAY_JOB_ID="$id" SLURM_ARRAY_TASK_ID="$index" SLURM_ARRAY_TASK_COUNT="$size"; fi
    if [ -n "$params" ]; then export HPCDK_PARAMS_FILE="$D/$params"; fi
    # The copy taken at submission, as SLURM keeps a job's script: a later apply may replace the file.
    exec bash "$Q/script" >"$D/$o" 2>"$D/$e"
  )
  code=$?
  [ -z "$watcher" ] || kill "$watcher" 2>/dev/null
  # The job's own exit trap normally wrote this; a script that never started did not.
  [ -f "$exits/$key" ] || echo "$code" > "$exits/$key"
  rm -rf "$node_local"
}
if [ -z "$size" ]; then
  # In the background too: only a job of its own has a process group a cancel can end.
  run_task "$id" "" &
  wait
  if [ -f "$exits/$id" ]; then cp "$exits/$id" "$Q/exit"; else echo 143 > "$Q/exit"; fi
  rm -rf "$(cat "$Q/tmp.job" 2>/dev/null || echo /nonexistent)" 
else
  limit=${throttle:-$(nproc)}
  for ((i = 0; i < size; i++)); do
    while [ "$(jobs -rp | wc -l)" -ge "$limit" ]; do wait -n; done
    [ -f "$Q/cancelled" ] && break
    [ -f "$Q/cancelled.$i" ] && continue
    run_task "${id}_$i" "$i" &
  done
  wait
  # The array's code, as SLURM's afterok sees it: 0 only if every task succeeded.
  code=0
  for ((i = 0; i < size; i++)); do [ "$(cat "$exits/${id}_$i" 2>/dev/null)" = 0 ] || code=1; done
  echo "$code" > "$Q/exit"
  # Node-local folders of tasks that were ended before they could remove their own.
  for f in "$Q"/tmp.*; do [ -f "$f" ] && rm -rf "$(cat "$f")"; done
fi
echo DONE > "$Q/state"
