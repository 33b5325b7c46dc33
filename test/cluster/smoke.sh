#!/usr/bin/env bash
# End-to-end check of the test cluster started by up.sh. Uses only the files
# up.sh wrote (env, ssh_config) and talks to SLURM exclusively over ssh, the
# way hpcdk does. Prints PASS/FAIL lines; exits non-zero on any failure.
# HPCDK_CLUSTER_ACCOUNTING=slurmdbd: checks the accounting variant (its
# default dir), sacct included.
set -euo pipefail

if [ "${HPCDK_CLUSTER_ACCOUNTING:-none}" = slurmdbd ]; then
  DIR="${HPCDK_CLUSTER_DIR:-/tmp/hpcdk-cluster-acct}"
else
  DIR="${HPCDK_CLUSTER_DIR:-/tmp/hpcdk-cluster}"
fi
if [ ! -f "$DIR/env" ]; then
  echo "FAIL: $DIR/env not found; run test/cluster/up.sh first"
  exit 1
fi
# shellcheck source=/dev/null
source "$DIR/env"

WAIT_SECONDS="${HPCDK_SMOKE_WAIT:-60}"
ALIAS="${HPCDK_SSH_ALIAS:-hpcdk-test}"
# What the cluster was started with (env files of older up.sh lack it).
ACCOUNTING="${HPCDK_ACCOUNTING:-none}"
FAILS=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

# One remote command string per call, run by the remote login shell.
remote() { ssh -F "$HPCDK_SSH_CONFIG" "$ALIAS" "$1" </dev/null; }
# Same, feeding stdin (used to upload job scripts).
remote_in() { ssh -F "$HPCDK_SSH_CONFIG" "$ALIAS" "$1"; }

# --- connectivity and versions ----------------------------------------------

if out="$(remote 'sinfo -V' 2>&1)" && [[ "$out" =~ ^slurm(-wlm)?\ [0-9] ]]; then
  pass "sinfo -V over ssh: $out"
else
  fail "sinfo -V over ssh: $out"
  echo "FAIL: cannot use the cluster over ssh; giving up"
  exit 1
fi
if out="$(remote 'squeue -V' 2>&1)" && [[ "$out" =~ ^slurm(-wlm)?\ [0-9] ]]; then
  pass "squeue -V: $out"
else
  fail "squeue -V: $out"
fi
if out="$(remote 'scontrol show config' 2>&1)" && grep -Eq '^MaxArraySize +=  *1001$' <<<"$out"; then
  pass "MaxArraySize = 1001"
else
  fail "MaxArraySize is not 1001"
fi
if out="$(remote 'sinfo -h -o %P' 2>&1)" && [ "$(tr '\n' ' ' <<<"$out")" = "debug* gpu long " ]; then
  pass "partitions: $(tr '\n' ' ' <<<"$out")"
else
  fail "partitions: $out"
fi

# --- job scripts ------------------------------------------------------------

# A fresh work folder per run so output files never collide with older runs.
WORK="$HPCDK_CLUSTER_DIR/smoke/$(date +%Y%m%d-%H%M%S)-$$"
remote "mkdir -p '$WORK'"

upload() { # name (script on stdin)
  remote_in "cat > '$WORK/$1' && chmod +x '$WORK/$1'"
}

# Job scripts: no 'set -u' because Lmod's init scripts use unset variables.
upload hello.sh <<'EOF'
#!/bin/bash
set -eo pipefail
echo "SLURM_TMPDIR=${SLURM_TMPDIR:-unset}"
test -d "$SLURM_TMPDIR"
echo probe >"$SLURM_TMPDIR/probe"
source /etc/profile.d/lmod.sh
module load python/3.11.5 scipy-stack/2024a
module load gcc
echo "MODULE_PYTHON=${HPCDK_MODULE_PYTHON:-unset}"
echo "MODULE_GCC=${HPCDK_MODULE_GCC:-unset}"
echo "HELLO_OK"
EOF

upload array.sh <<'EOF'
#!/bin/bash
set -eo pipefail
echo "START $(date +%s.%N)"
echo "TASK=${SLURM_ARRAY_TASK_ID} SLURM_TMPDIR=${SLURM_TMPDIR:-unset}"
test -d "$SLURM_TMPDIR"
sleep 1
echo "END $(date +%s.%N)"
EOF

upload gpu.sh <<'EOF'
#!/bin/bash
set -eo pipefail
echo "GPUS=${SLURM_JOB_GPUS:-unset} CUDA=${CUDA_VISIBLE_DEVICES:-unset}"
echo "MEM=${SLURM_MEM_PER_NODE:-unset}"
EOF

upload dep.sh <<'EOF'
#!/bin/bash
set -eo pipefail
echo "DEP_OK"
EOF

submit() { # description sbatch-args...
  local what="$1" out
  shift
  if out="$(remote "cd '$WORK' && sbatch --parsable $*" 2>&1)" && [[ "$out" =~ ^[0-9]+$ ]]; then
    pass "sbatch $what: job $out" >&2
    echo "$out"
  else
    fail "sbatch $what: $out" >&2
    echo ""
  fi
}

HELLO="$(submit hello "--job-name=smoke-hello --time=00:05:00 --output='$WORK/hello-%j.out' hello.sh")"
ARRAY="$(submit "array 0-3%2" "--job-name=smoke-array --array=0-3%2 --time=00:05:00 --output='$WORK/array-%A_%a.out' array.sh")"
GPU="$(submit "gpu a100 80G" "--job-name=smoke-gpu --partition=gpu --gres=gpu:a100:1 --mem=80G --time=00:05:00 --output='$WORK/gpu-%j.out' gpu.sh")"
DEP=""
if [ -n "$HELLO" ]; then
  DEP="$(submit "dependency afterok:$HELLO" "--job-name=smoke-dep --dependency=afterok:$HELLO --time=00:05:00 --output='$WORK/dep-%j.out' dep.sh")"
fi

# Accounting: a job cancelled while pending (held for an hour by --begin).
HELD=""
if [ "$ACCOUNTING" = slurmdbd ]; then
  HELD="$(submit "held (--begin=now+3600)" "--job-name=smoke-held --begin=now+3600 --time=00:05:00 --output='$WORK/held-%j.out' dep.sh")"
  if [ -n "$HELD" ] && remote "scancel '$HELD'"; then pass "scancel of pending job $HELD"; else fail "scancel of pending job '$HELD'"; fi
fi

if out="$(remote "cd '$WORK' && sbatch --test-only --time=00:05:00 hello.sh" 2>&1)" && grep -q 'to start at' <<<"$out"; then
  pass "sbatch --test-only: $out"
else
  fail "sbatch --test-only: $out"
fi

if out="$(remote 'squeue --json' 2>&1)" && [[ "$out" == \{* ]] && grep -q '"jobs"' <<<"$out"; then
  pass "squeue --json ($(grep -c '"job_id"' <<<"$out") job_id fields)"
else
  fail "squeue --json: $(head -c 300 <<<"$out")"
fi

# --- wait for the jobs ------------------------------------------------------

IDS=""
for id in "$HELLO" "$ARRAY" "$GPU" "$DEP"; do
  [ -z "$id" ] || IDS="${IDS:+$IDS,}$id"
done

# Jobs still pending/running/completing. COMPLETING lasts until the Epilog
# has finished, so once none is left the scratch folders must be gone.
active_jobs() {
  remote "squeue -h -t all -j '$IDS' -o '%i %T'" 2>/dev/null \
    | awk '$2 ~ /^(PENDING|RUNNING|COMPLETING|CONFIGURING|SUSPENDED|REQUEUED|RESIZING|SIGNALING|STAGE_OUT)$/'
}

if [ -n "$IDS" ]; then
  start=$SECONDS
  delay=0.5
  while :; do
    left="$(active_jobs || true)"
    [ -n "$left" ] || break
    if [ $((SECONDS - start)) -ge "$WAIT_SECONDS" ]; then
      fail "jobs not finished after ${WAIT_SECONDS}s: $(tr '\n' ' ' <<<"$left")"
      break
    fi
    sleep "$delay"
    # Back off 0.5 -> 1 -> 2 -> 4 s.
    case "$delay" in 0.5) delay=1 ;; 1) delay=2 ;; *) delay=4 ;; esac
  done
  [ -n "$left" ] || pass "all jobs finished after $((SECONDS - start))s"
fi

# --- results ----------------------------------------------------------------

JOBCOMP="$(remote "cat '$HPCDK_JOBCOMP_LOG'" 2>/dev/null || true)"

# State of a job in the jobcomp file (last record wins: ids may repeat if the
# controller state was ever wiped).
comp_state() { # grep-pattern identifying the record
  { grep -E "$1" <<<"$JOBCOMP" || true; } | tail -n 1 | sed -n 's/.* JobState=\([A-Z_]*\).*/\1/p'
}
check_completed() { # label pattern
  local st
  st="$(comp_state "$2")"
  if [ "$st" = "COMPLETED" ]; then
    pass "jobcomp: $1 COMPLETED"
  else
    fail "jobcomp: $1 state '${st:-missing}'"
  fi
}

output_of() { remote "cat '$1'" 2>/dev/null || true; }

check_gone() { # label dir
  if [ -z "$2" ] || [ "$2" = unset ]; then
    fail "$1: no SLURM_TMPDIR printed"
  elif remote "test ! -e '$2'"; then
    pass "$1: SLURM_TMPDIR $2 deleted by Epilog"
  else
    fail "$1: SLURM_TMPDIR $2 still exists after the job"
  fi
}

if [ -n "$HELLO" ]; then
  check_completed "hello job $HELLO" "^JobId=$HELLO "
  out="$(output_of "$WORK/hello-$HELLO.out")"
  if grep -q '^HELLO_OK$' <<<"$out"; then pass "hello output file"; else fail "hello output: $out"; fi
  if grep -q '^MODULE_PYTHON=3.11.5$' <<<"$out" && grep -q '^MODULE_GCC=12.2.0$' <<<"$out"; then
    pass "module load python/3.11.5 scipy-stack/2024a gcc in a batch job"
  else
    fail "module load in a batch job: $out"
  fi
  tmp="$(sed -n 's/^SLURM_TMPDIR=//p' <<<"$out")"
  if [ "$tmp" = "$HPCDK_CLUSTER_DIR/scratch/$HELLO" ]; then pass "SLURM_TMPDIR=$tmp"; else fail "SLURM_TMPDIR='$tmp'"; fi
  check_gone hello "$tmp"
fi

if [ -n "$ARRAY" ]; then
  if [ "$ACCOUNTING" = slurmdbd ]; then
    # MinJobAge=2: the finished tasks have left squeue, sacct lists them
    # (once slurmctld has handed slurmdbd every task's record).
    for ((i = 0; i < 40; i++)); do
      TASKS="$(remote "sacct -n -P -X -j '$ARRAY' -o JobID" 2>/dev/null | sort | tr '\n' ' ' || true)"
      [ "$TASKS" != "${ARRAY}_0 ${ARRAY}_1 ${ARRAY}_2 ${ARRAY}_3 " ] || break
      sleep 0.5
    done
  else
    TASKS="$(remote "squeue -h -t all -j '$ARRAY' -o '%i'" 2>/dev/null | sort | tr '\n' ' ' || true)"
  fi
  if [ "$TASKS" = "${ARRAY}_0 ${ARRAY}_1 ${ARRAY}_2 ${ARRAY}_3 " ]; then
    pass "array has 4 tasks: $TASKS"
  else
    fail "array tasks: '$TASKS'"
  fi
  spans=""
  for task in 0 1 2 3; do
    out="$(output_of "$WORK/array-${ARRAY}_$task.out")"
    if grep -q "^TASK=$task " <<<"$out" && grep -q '^END ' <<<"$out"; then
      pass "array task $task output file"
    else
      fail "array task $task output: $out"
    fi
    check_gone "array task $task" "$(sed -n 's/^TASK=[0-9]* SLURM_TMPDIR=//p' <<<"$out")"
    # jobcomp lists each task under its own job id, with ArrayJobId/TaskId.
    check_completed "array task ${ARRAY}_$task" " ArrayJobId=$ARRAY ArrayTaskId=$task "
    spans+="$(sed -n 's/^START //p' <<<"$out") $(sed -n 's/^END //p' <<<"$out")"$'\n'
  done
  # With %2, at most two tasks may have run at the same time.
  overlap="$(awk 'NF == 2 { print $1, 1; print $2, -1 }' <<<"$spans" | sort -k1,1g -k2,2n \
    | awk '{ n += $2; if (n > m) m = n } END { print m + 0 }')"
  if [ "$overlap" -le 2 ] && [ "$overlap" -ge 1 ]; then
    pass "array throttle %2: at most $overlap tasks ran at once"
  else
    fail "array throttle %2: $overlap tasks ran at once"
  fi
fi

if [ -n "$GPU" ]; then
  check_completed "gpu job $GPU" "^JobId=$GPU "
  out="$(output_of "$WORK/gpu-$GPU.out")"
  # The a100s are fake devices 0-3 (see gres.conf); one of them is allocated.
  if grep -Eq '^GPUS=([0-3]) CUDA=\1$' <<<"$out" && grep -q '^MEM=81920$' <<<"$out"; then
    pass "gpu output file ($(tr '\n' ' ' <<<"$out"))"
  else
    fail "gpu output: $out"
  fi
fi

if [ -n "$DEP" ]; then
  check_completed "dependency job $DEP" "^JobId=$DEP "
  out="$(output_of "$WORK/dep-$DEP.out")"
  if grep -q '^DEP_OK$' <<<"$out"; then pass "dependency output file"; else fail "dependency output: $out"; fi
fi

# --- accounting (slurmdbd variant) -------------------------------------------

# Poll sacct (slurmctld hands records to slurmdbd asynchronously): prints the
# last output, succeeds once it matches the regex.
sacct_until() { # regex remote-command
  local out="" i
  for ((i = 0; i < 40; i++)); do
    out="$(remote "$2" 2>&1 || true)"
    if grep -Eq "$1" <<<"$out"; then
      echo "$out"
      return 0
    fi
    sleep 0.5
  done
  echo "$out"
  return 1
}

if [ "$ACCOUNTING" = slurmdbd ]; then
  if [ -n "$HELLO" ]; then
    if out="$(sacct_until "^$HELLO\|COMPLETED\|0:0\$" "sacct -n -P -X -j '$HELLO' -o JobID,State,ExitCode")"; then
      pass "sacct -X -j $HELLO: $out"
    else
      fail "sacct -X -j $HELLO: $out"
    fi
    out="$(remote "sacct --json -j '$HELLO'" 2>&1 || true)"
    flat="$(tr -d ' \n\t' <<<"$out")"
    if [[ "$flat" == \{* ]] && [[ "$flat" == *"\"job_id\":$HELLO,"* ]] && [[ "$flat" == *'"state":{"current":"COMPLETED"'* ]]; then
      pass "sacct --json -j $HELLO: job_id $HELLO, state COMPLETED"
    else
      fail "sacct --json -j $HELLO: $(head -c 300 <<<"$out")"
    fi
  fi
  if [ -n "$ARRAY" ]; then
    if out="$(sacct_until "^${ARRAY}_3\|COMPLETED" "sacct -n -P -X -j '$ARRAY' -o JobID,State")" \
       && [ "$(grep -c '|COMPLETED$' <<<"$out")" -eq 4 ]; then
      pass "sacct: array $ARRAY has 4 COMPLETED tasks"
    else
      fail "sacct array $ARRAY: $(tr '\n' ' ' <<<"$out")"
    fi
  fi
  if [ -n "$HELD" ]; then
    if out="$(sacct_until "^$HELD\|CANCELLED" "sacct -n -P -X -j '$HELD' -o JobID,State,ExitCode")"; then
      pass "sacct: job $HELD cancelled while pending: $out"
    else
      fail "sacct: job $HELD cancelled while pending: $out"
    fi
  fi
fi

if [ "$FAILS" -eq 0 ]; then
  echo "smoke: all checks passed"
else
  echo "smoke: $FAILS check(s) FAILED"
  exit 1
fi
