#!/usr/bin/env bash
set -u
D=$1 id=$2 script=$3 name=$4 out=$5 err=$6 deps=$7 size=${8:-} throttle=${9:-} params=${10:-}
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
# One task: key is the job id, or <id>_<index> in an array.
run_task() {
  local key=$1 index=$2 o e node_local code
  o=${out//%x/$name}; o=${o//%j/$key}; o=${o//%A/$id}; o=${o//%a/$index}
  e=${err//%x/$name}; e=${e//%j/$key}; e=${e//%A/$id}; e=${e//%a/$index}
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
  limit=${throttle:-$(nproc)}
  for ((i = 0; i < size; i++)); do
    while [ "$(jobs -rp | wc -l)" -ge "$limit" ]; do wait -n; done
    [ -f "$Q/cancelled" ] && break
    run_task "${id}_$i" "$i" &
  done
  wait
  # The array's code, as SLURM's afterok sees it: 0 only if every task succeeded.
  code=0
  for ((i = 0; i < size; i++)); do [ "$(cat "$exits/${id}_$i" 2>/dev/null)" = 0 ] || code=1; done
  echo "$code" > "$Q/exit"
fi
echo DONE > "$Q/state"
