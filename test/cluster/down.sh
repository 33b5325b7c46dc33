#!/usr/bin/env bash
# Tear down the test cluster started by up.sh: stop its sshd, slurmctld,
# slurmd, slurmdbd, mariadbd and munged (found through their pid files in the
# cluster dir, never by name alone), then remove the cluster dir unless --keep
# is given. HPCDK_CLUSTER_ACCOUNTING=slurmdbd: the accounting variant's
# default dir. Idempotent: nothing running and no dir is fine.
set -euo pipefail

if [ "${HPCDK_CLUSTER_ACCOUNTING:-none}" = slurmdbd ]; then
  DEFAULT_DIR=/tmp/hpcdk-cluster-acct
else
  DEFAULT_DIR=/tmp/hpcdk-cluster
fi

usage() {
  echo "usage: $0 [--keep]   (--keep: stop the daemons but keep ${HPCDK_CLUSTER_DIR:-$DEFAULT_DIR})"
}

KEEP=0
for arg in "$@"; do
  case "$arg" in
    --keep) KEEP=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

log() { echo "down.sh: $*" >&2; }

RAW_DIR="${HPCDK_CLUSTER_DIR:-$DEFAULT_DIR}"
if [ ! -d "$RAW_DIR" ]; then
  log "nothing to do ($RAW_DIR does not exist)"
  exit 0
fi
DIR="$(cd "$RAW_DIR" && pwd -P)"
RUN="$DIR/run"
# Do not tear down while an up.sh is starting the cluster (up.sh itself calls
# this script with the lock already held).
if [ -z "${HPCDK_CLUSTER_LOCKED:-}" ]; then
  exec 9<"$DIR"
  flock -w 180 9 || { log "timed out waiting for the lock on $DIR"; exit 1; }
fi

# The pid in $1 if that process is alive and its name is $2 (guards against a
# stale pid file whose pid was reused by an unrelated process).
pid_from_file() {
  local pid
  [ -s "$1" ] || return 1
  pid="$(tr -dc '0-9' <"$1")"
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
  echo "$pid"
}

# Fallback when a pid file is gone: processes named $1 whose command line
# names a file inside this cluster dir (so the system sshd never matches).
# slurmdbd has no config option; it is found by the SLURM_CONF it was
# started with.
pids_by_cmdline() {
  local p pid comm
  for p in /proc/[0-9]*; do
    pid="${p#/proc/}"
    # read, not $(cat): no fork per process, the scan takes a few ms.
    comm=""
    { read -r comm <"$p/comm"; } 2>/dev/null || true
    [ "$comm" = "$1" ] || continue
    if [ "$1" = slurmdbd ]; then
      tr '\0' '\n' 2>/dev/null <"$p/environ" | grep -qxF "SLURM_CONF=$DIR/etc/slurm.conf" || continue
    else
      tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF "$DIR/" || continue
    fi
    echo "$pid"
  done
}

# Alive = exists and is not a zombie (daemons are reparented to PID 1, which
# may reap them only after a while; a zombie has already released its ports).
alive() {
  local state
  state="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)"
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# TERM, wait up to ~10 s, then KILL.
terminate() {
  local pid i any
  [ "$#" -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    any=0
    for pid in "$@"; do
      if alive "$pid"; then any=1; fi
    done
    [ "$any" -eq 1 ] || return 0
    sleep 0.1
  done
  log "forcing kill of: $*"
  kill -KILL "$@" 2>/dev/null || true
}

stop_daemon() { # name
  local name="$1" pid
  local -a pids=()
  if pid="$(pid_from_file "$RUN/$name.pid" "$name")"; then
    pids+=("$pid")
  fi
  while read -r pid; do
    [ -n "$pid" ] && [[ " ${pids[*]} " != *" $pid "* ]] && pids+=("$pid")
  done < <(pids_by_cmdline "$name")
  if [ "${#pids[@]}" -gt 0 ]; then
    log "stopping $name (pid ${pids[*]})"
    terminate "${pids[@]}"
  fi
  rm -f "$RUN/$name.pid"
}

# Job steps of this cluster: slurmstepd processes whose working directory is
# our log dir (slurmstepd changes into the directory of SlurmdLogFile; its
# environ is overwritten by its process title, so it cannot carry a marker).
cluster_job_pids() {
  local p pid
  for p in /proc/[0-9]*; do
    pid="${p#/proc/}"
    [ "$(cat "$p/comm" 2>/dev/null)" = "slurmstepd" ] || continue
    [ "$(readlink "$p/cwd" 2>/dev/null)" = "$DIR/log" ] || continue
    echo "$pid"
    # ... and everything below it (the job's own processes).
    ps -e -o pid=,ppid= | awk -v root="$pid" '
      { parent[$1] = $2 }
      END {
        for (p in parent) {
          q = p
          while (q in parent && q != 1 && q != 0) {
            q = parent[q]
            if (q == root) { print p; break }
          }
        }
      }'
  done
}

# sshd first (no new sessions), then the controller, then the node daemon.
stop_daemon sshd
stop_daemon slurmctld
if [ "$KEEP" -eq 0 ]; then
  # The dir is about to vanish: running jobs of this cluster cannot survive.
  mapfile -t JOBS < <(cluster_job_pids | sort -u)
  if [ "${#JOBS[@]}" -gt 0 ]; then
    log "killing ${#JOBS[@]} leftover job process(es) of this cluster"
    kill -KILL "${JOBS[@]}" 2>/dev/null || true
  fi
fi
stop_daemon slurmd
# Accounting variant: slurmdbd after slurmctld (which hands it its last
# records), mariadb after slurmdbd; munged last, everything uses it.
if [ -e "$DIR/etc/slurmdbd.conf" ] || [ -e "$DIR/mariadb" ] || [ -e "$RUN/slurmdbd.pid" ] || [ -e "$RUN/mariadbd.pid" ]; then
  stop_daemon slurmdbd
  stop_daemon mariadbd
fi
stop_daemon munged

if [ "$KEEP" -eq 1 ]; then
  log "stopped; kept $DIR"
  exit 0
fi

# Only delete folders that up.sh created (it leaves this marker).
if [ -f "$DIR/.hpcdk-cluster" ]; then
  rm -rf -- "$DIR"
  log "stopped; removed $DIR"
else
  log "stopped; NOT removing $DIR (no .hpcdk-cluster marker, not created by up.sh)"
fi
