#!/usr/bin/env bash
# Bring up a single-node SLURM test cluster plus an OpenSSH server, both on
# loopback, with all state under ${HPCDK_CLUSTER_DIR:-/tmp/hpcdk-cluster}.
#
# HPCDK_CLUSTER_ACCOUNTING=slurmdbd selects the accounting variant: a private
# mariadb and slurmdbd as well, so sacct works (own defaults for the dir and
# the ports, so both variants can run side by side). The default, "none", has
# no accounting database (jobcomp/filetxt only).
#
# Idempotent: if the cluster from a previous run is healthy this exits 0 at
# once; otherwise it stops whatever is left of it and starts it again.
# System configuration (/etc/slurm, the sshd on port 22) is never touched.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
ACCOUNTING="${HPCDK_CLUSTER_ACCOUNTING:-none}"
case "$ACCOUNTING" in
  none)
    DEFAULT_DIR=/tmp/hpcdk-cluster
    SSH_PORT="${HPCDK_SSH_PORT:-2222}"
    CTLD_PORT="${HPCDK_SLURMCTLD_PORT:-16817}"
    SLURMD_PORT="${HPCDK_SLURMD_PORT:-16818}"
    ALIAS="hpcdk-test"
    ;;
  slurmdbd)
    DEFAULT_DIR=/tmp/hpcdk-cluster-acct
    SSH_PORT="${HPCDK_SSH_PORT:-2223}"
    CTLD_PORT="${HPCDK_SLURMCTLD_PORT:-16827}"
    SLURMD_PORT="${HPCDK_SLURMD_PORT:-16828}"
    DBD_PORT="${HPCDK_SLURMDBD_PORT:-16829}"
    DB_PORT="${HPCDK_MARIADB_PORT:-16830}"
    ALIAS="hpcdk-test-acct"
    ;;
  *)
    echo "up.sh: error: HPCDK_CLUSTER_ACCOUNTING must be none or slurmdbd, not '$ACCOUNTING'" >&2
    exit 1
    ;;
esac
PARTITIONS="debug,gpu,long"
WAIT_SECONDS="${HPCDK_CLUSTER_WAIT:-60}"

# Daemons live in sbin, which a non-login root shell may lack on its PATH.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

die() { echo "up.sh: error: $*" >&2; exit 1; }
log() { echo "up.sh: $*" >&2; }

# --- preconditions ----------------------------------------------------------

# slurmd/slurmctld run as SlurmUser=root and sshd must switch users: root only.
[ "$(id -u)" -eq 0 ] || die "must run as root (SlurmUser=root, sshd needs root); current uid $(id -u)"

for p in "$SSH_PORT" "$CTLD_PORT" "$SLURMD_PORT" ${DBD_PORT:+"$DBD_PORT"} ${DB_PORT:+"$DB_PORT"}; do
  if ! [[ "$p" =~ ^[0-9]+$ ]] || [ "$p" -eq 0 ] || [ "$p" -gt 65535 ]; then die "invalid port: $p"; fi
done
# Port 22 belongs to the system sshd, which we must not disturb.
[ "$SSH_PORT" -ne 22 ] || die "HPCDK_SSH_PORT=22 would clash with the system sshd"

# --- packages ---------------------------------------------------------------

# Map each required executable/file to the Debian package providing it, and
# install only what is missing so a warm machine never touches apt.
missing_packages() {
  local -a out=()
  command -v slurmctld >/dev/null 2>&1 || out+=(slurm-wlm)
  command -v slurmd >/dev/null 2>&1 || out+=(slurm-wlm)
  command -v sbatch >/dev/null 2>&1 || out+=(slurm-wlm)
  command -v munged >/dev/null 2>&1 || out+=(munge)
  [ -x /usr/sbin/sshd ] || out+=(openssh-server)
  command -v ssh >/dev/null 2>&1 || out+=(openssh-client)
  command -v ssh-keygen >/dev/null 2>&1 || out+=(openssh-client)
  [ -f /etc/profile.d/lmod.sh ] || out+=(lmod)
  command -v rsync >/dev/null 2>&1 || out+=(rsync)
  if [ "$ACCOUNTING" = slurmdbd ]; then
    command -v slurmdbd >/dev/null 2>&1 || out+=(slurmdbd)
    command -v sacctmgr >/dev/null 2>&1 || out+=(slurm-client)
    command -v mariadbd >/dev/null 2>&1 || out+=(mariadb-server)
    command -v mariadb-install-db >/dev/null 2>&1 || out+=(mariadb-server)
    command -v mariadb >/dev/null 2>&1 || out+=(mariadb-client)
  fi
  if [ "${#out[@]}" -gt 0 ]; then printf '%s\n' "${out[@]}" | sort -u; fi
}

mapfile -t MISSING < <(missing_packages)
if [ "${#MISSING[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 \
    || die "packages missing (${MISSING[*]}) and apt-get is not available"
  log "installing ${MISSING[*]} (apt-get)"
  apt_log="$(mktemp)"
  # mariadb-server's (and slurmdbd's) postinst would start the system service;
  # this cluster runs its own. Without a policy-rc.d that says no, add one for
  # the duration of the install (a machine that has one keeps it untouched).
  if [ "$ACCOUNTING" = slurmdbd ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# hpcdk test/cluster/up.sh: no service starts during apt-get install\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  # Quiet apt unless it fails; its full output is noise in test logs.
  if ! { apt-get update -q \
         && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${MISSING[@]}"; } \
         >"$apt_log" 2>&1; then
    tail -n 30 "$apt_log" >&2
    rm -f "$apt_log"
    die "apt-get could not install: ${MISSING[*]}"
  fi
  rm -f "$apt_log"
  if [ "$ACCOUNTING" = slurmdbd ] && grep -q '^# hpcdk test/cluster/up.sh' /usr/sbin/policy-rc.d 2>/dev/null; then
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  fi
  mapfile -t MISSING < <(missing_packages)
  [ "${#MISSING[@]}" -eq 0 ] || die "still missing after apt-get install: ${MISSING[*]}"
fi

# --- layout -----------------------------------------------------------------

mkdir -p "${HPCDK_CLUSTER_DIR:-$DEFAULT_DIR}"
DIR="$(cd "${HPCDK_CLUSTER_DIR:-$DEFAULT_DIR}" && pwd -P)"
# Unix socket paths are limited to 108 bytes; the munge socket lives in here.
[ "${#DIR}" -le 80 ] || die "HPCDK_CLUSTER_DIR path too long for unix sockets: $DIR"
# slurm.conf and sshd_config values cannot hold whitespace or quotes.
[[ "$DIR" =~ ^[A-Za-z0-9/._+-]+$ ]] || die "HPCDK_CLUSTER_DIR may only contain [A-Za-z0-9/._+-]: $DIR"
# Serialise concurrent up.sh/down.sh runs (e.g. parallel test workers).
exec 9<"$DIR"
flock -w 180 9 || die "timed out waiting for the lock on $DIR"
# down.sh deletes the whole folder, so never adopt one that holds other data.
MARKER="$DIR/.hpcdk-cluster"
if [ ! -f "$MARKER" ]; then
  [ -z "$(ls -A "$DIR")" ] || die "$DIR is not empty and not an hpcdk test cluster dir; choose another HPCDK_CLUSTER_DIR"
  echo "hpcdk test cluster dir (created by test/cluster/up.sh; removed by down.sh)" >"$MARKER"
fi

# slurmctld only runs as the controller if SlurmctldHost matches the short
# hostname, so the node is named after it and addressed via loopback.
NODE="$(hostname -s)"
[ -n "$NODE" ] || die "hostname -s returned nothing"

ETC="$DIR/etc"; LOGD="$DIR/log"; RUN="$DIR/run"; KEYS="$DIR/keys"; BIN="$DIR/bin"
SLURM_CONF_FILE="$ETC/slurm.conf"
ENV_FILE="$DIR/env"
SSH_CONFIG="$DIR/ssh_config"
KNOWN_HOSTS="$DIR/known_hosts"
CLIENT_KEY="$KEYS/id_ed25519"
HOST_KEY="$KEYS/ssh_host_ed25519_key"
MUNGE_SOCKET="$RUN/munge/munge.socket"
# Accounting variant: slurmdbd's config (it reads slurmdbd.conf next to
# SLURM_CONF), the private mariadb's data, socket and pid file.
DBD_CONF="$ETC/slurmdbd.conf"
DB_DATA="$DIR/mariadb"
DB_SOCKET="$RUN/mariadb.sock"
DB_NAME=slurm_acct_db
# A running cluster set up by another version of this script is restarted.
SCRIPT_SUM="$(sha256sum "$SCRIPT_DIR/up.sh" | cut -d' ' -f1)"

# For sinfo/scontrol run by this script.
export SLURM_CONF="$SLURM_CONF_FILE"

# The process in pidfile $1 runs and is named $2 (a stale pid file may point
# at a reused pid; a zombie awaiting reaping by PID 1 counts as dead).
pid_alive() { # pidfile expected-comm
  local pid
  [ -s "$1" ] || return 1
  pid="$(tr -dc '0-9' <"$1")"
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
  ! grep -Eq '^State:[[:space:]]*[ZX]' "/proc/$pid/status" 2>/dev/null
}

node_state() {
  sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -n 1 || true
}

ssh_ok() {
  ssh -F "$SSH_CONFIG" -o ConnectTimeout=3 "$ALIAS" true </dev/null >/dev/null 2>&1
}

# Accounting variant: the private mariadb as root over its socket.
db_sql() {
  mariadb --no-defaults --protocol=socket -S "$DB_SOCKET" -u root "$@"
}

# sacct answers (slurmdbd and mariadb are up and hold this cluster).
sacct_ok() {
  timeout 5 sacct -n -P -X -o JobID -S now >/dev/null 2>&1
}

# The stamp says this very script started the cluster.
stamp_ok() {
  [ "$(cat "$DIR/.up-sha256" 2>/dev/null || true)" = "$SCRIPT_SUM" ]
}

# --- fast path: already up? --------------------------------------------------

healthy() {
  [ -f "$ENV_FILE" ] && [ -f "$SSH_CONFIG" ] && [ -f "$SLURM_CONF_FILE" ] || return 1
  # A different port/node than the running cluster was set up for => restart.
  grep -qx "export HPCDK_SSH_PORT=$SSH_PORT" "$ENV_FILE" || return 1
  grep -qx "SlurmctldPort=$CTLD_PORT" "$SLURM_CONF_FILE" || return 1
  grep -qx "SlurmdPort=$SLURMD_PORT" "$SLURM_CONF_FILE" || return 1
  grep -q "^NodeName=$NODE " "$SLURM_CONF_FILE" || return 1
  stamp_ok || return 1
  # The other variant in this dir => restart.
  grep -qx "export HPCDK_ACCOUNTING=$ACCOUNTING" "$ENV_FILE" || return 1
  pid_alive "$RUN/munged.pid" munged || return 1
  if [ "$ACCOUNTING" = slurmdbd ]; then
    [ -f "$DBD_CONF" ] || return 1
    grep -qx "DbdPort=$DBD_PORT" "$DBD_CONF" || return 1
    grep -qx "StoragePort=$DB_PORT" "$DBD_CONF" || return 1
    pid_alive "$RUN/mariadbd.pid" mariadbd || return 1
    pid_alive "$RUN/slurmdbd.pid" slurmdbd || return 1
  fi
  pid_alive "$RUN/slurmctld.pid" slurmctld || return 1
  pid_alive "$RUN/slurmd.pid" slurmd || return 1
  pid_alive "$RUN/sshd.pid" sshd || return 1
  case "$(node_state)" in idle|mixed|allocated|completing) ;; *) return 1 ;; esac
  if [ "$ACCOUNTING" = slurmdbd ]; then sacct_ok || return 1; fi
  ssh_ok
}

final_line() {
  if [ "$ACCOUNTING" = slurmdbd ]; then
    echo "hpcdk test cluster up: ssh $ALIAS (127.0.0.1:$SSH_PORT), slurm partitions $PARTITIONS, accounting slurmdbd (127.0.0.1:$DBD_PORT, mariadb 127.0.0.1:$DB_PORT)"
  else
    echo "hpcdk test cluster up: ssh $ALIAS (127.0.0.1:$SSH_PORT), slurm partitions $PARTITIONS"
  fi
}

if healthy; then
  log "cluster in $DIR is already healthy"
  final_line
  exit 0
fi

# Something is missing or stale: stop what is left of this cluster (keeping
# keys and state). down.sh also finds daemons whose pid files were lost.
log "starting cluster in $DIR"
HPCDK_CLUSTER_DIR="$DIR" HPCDK_CLUSTER_LOCKED=1 bash "$SCRIPT_DIR/down.sh" --keep 2>&1 | grep -v '^down.sh: stopped; kept' >&2 || true
rm -f "$DIR/.up-sha256"

mkdir -p "$ETC" "$LOGD" "$RUN/munge" "$KEYS" "$BIN" "$DIR/dev" "$DIR/modules" \
  "$DIR/state/slurmctld" "$DIR/spool/slurmd" "$DIR/scratch"
chmod 0755 "$DIR" "$ETC" "$LOGD" "$RUN" "$RUN/munge" "$BIN"
chmod 0700 "$KEYS"
# Per-job scratch folders are created by the job's user (TaskProlog).
chmod 1777 "$DIR/scratch"

# --- keys -------------------------------------------------------------------
# Generated once and kept across restarts so known_hosts stays valid.

if [ ! -s "$KEYS/munge.key" ]; then
  dd if=/dev/urandom of="$KEYS/munge.key" bs=1024 count=1 status=none
fi
chmod 0600 "$KEYS/munge.key"

if [ ! -s "$HOST_KEY" ] || [ ! -s "$HOST_KEY.pub" ]; then
  rm -f "$HOST_KEY" "$HOST_KEY.pub"
  ssh-keygen -q -t ed25519 -N '' -C "hpcdk-test-host" -f "$HOST_KEY"
fi
if [ ! -s "$CLIENT_KEY" ] || [ ! -s "$CLIENT_KEY.pub" ]; then
  rm -f "$CLIENT_KEY" "$CLIENT_KEY.pub"
  ssh-keygen -q -t ed25519 -N '' -C "hpcdk-test-client" -f "$CLIENT_KEY"
fi
chmod 0600 "$HOST_KEY" "$CLIENT_KEY"
cp "$CLIENT_KEY.pub" "$KEYS/authorized_keys"
chmod 0600 "$KEYS/authorized_keys"

# --- fake GPUs --------------------------------------------------------------
# gres.conf File= must name existing files. Plain files work, but slurmd then
# logs "not a valid character device" and sets no CUDA_VISIBLE_DEVICES;
# symlinks to /dev/null are char devices, so jobs get SLURM_JOB_GPUS and
# CUDA_VISIBLE_DEVICES like on a real GPU node (no device cgroup is used).
# nvidia0-3 are the a100s, 4-5 the l4s, 6-7 the t4s.
for i in 0 1 2 3 4 5 6 7; do ln -sfn /dev/null "$DIR/dev/nvidia$i"; done

# --- job scripts: $SLURM_TMPDIR like DRAC -----------------------------------

# TaskProlog: stdout lines "export NAME=VALUE" become part of the task's env.
cat >"$BIN/task_prolog.sh" <<EOF
#!/usr/bin/env bash
# SLURM TaskProlog (runs as the job user before each task): create the
# per-job scratch folder and publish it as \$SLURM_TMPDIR, as DRAC does.
set -euo pipefail
dir="$DIR/scratch/\${SLURM_JOB_ID:?}"
mkdir -p "\$dir"
echo "export SLURM_TMPDIR=\$dir"
# Jobs submitted with --export=NONE lose the MODULEPATH that sshd sets; put
# the test modules back so "module load" works as on a DRAC compute node.
case ":\${MODULEPATH:-}:" in
  *":$DIR/modules:"*) ;;
  *) echo "export MODULEPATH=$DIR/modules\${MODULEPATH:+:\$MODULEPATH}" ;;
esac
EOF

# Epilog: runs as root on the node once the job has ended.
cat >"$BIN/epilog.sh" <<EOF
#!/usr/bin/env bash
# SLURM Epilog (runs as root when the job ends): delete the job's scratch
# folder, reproducing DRAC's removal of \$SLURM_TMPDIR at job end.
set -euo pipefail
if [ -n "\${SLURM_JOB_ID:-}" ]; then
  rm -rf -- "$DIR/scratch/\$SLURM_JOB_ID"
fi
exit 0
EOF
chmod 0755 "$BIN/task_prolog.sh" "$BIN/epilog.sh"

# --- environment modules ----------------------------------------------------

write_module() { # name version
  local upper
  upper="$(printf '%s' "$1" | tr 'a-z-' 'A-Z_')"
  mkdir -p "$DIR/modules/$1"
  cat >"$DIR/modules/$1/$2.lua" <<EOF
-- hpcdk test cluster: fake module; sets harmless variables (python also its PATH).
whatis("Name: $1")
whatis("Version: $2")
help([[Fake $1/$2 module of the hpcdk test cluster.]])
setenv("HPCDK_MODULE_${upper}", "$2")
setenv("EBVERSION${upper}", "$2")
EOF
}
rm -rf "$DIR/modules" "$DIR/module-bin"
write_module python 3.11.5
# Like a real python module, this one puts its interpreter first on PATH: the
# system's Python 3.11 (with Debian's pip, setuptools and wheel), whatever
# else a login shell would find first.
mkdir -p "$DIR/module-bin/python-3.11.5"
for name in python3.11 python3 python; do ln -sf /usr/bin/python3.11 "$DIR/module-bin/python-3.11.5/$name"; done
printf 'prepend_path("PATH", "%s")\n' "$DIR/module-bin/python-3.11.5" >>"$DIR/modules/python/3.11.5.lua"
write_module opencv 4.10.0
write_module gcc 12.2.0          # sole version, so "module load gcc" works too
write_module scipy-stack 2024a
write_module r 4.4.0

# --- slurm configuration ----------------------------------------------------

# NoInAddrAny binds slurmd to NodeAddr (127.0.0.1). NoCtldInAddrAny binds
# slurmctld to whatever the hostname resolves to, which is only loopback if
# /etc/hosts says so; otherwise clients on 127.0.0.1 could not reach it.
COMM_PARAMS=NoInAddrAny
NODE_ADDRS="$(getent ahostsv4 "$NODE" 2>/dev/null | awk '{print $1}' | sort -u || true)"
if [ -n "$NODE_ADDRS" ] && ! grep -qv '^127\.' <<<"$NODE_ADDRS"; then
  COMM_PARAMS="$COMM_PARAMS,NoCtldInAddrAny"
fi

if [ "$ACCOUNTING" = slurmdbd ]; then
  ACCT_LINES="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
# Clients authenticate to slurmdbd through this munged too (not /run/munge).
AccountingStoragePass=$MUNGE_SOCKET
# sacct also shows each job's --comment (hpcdk tags its jobs with one).
AccountingStoreFlags=job_comment
# Completed-job records in a file too, as in the variant without slurmdbd."
  # Finished jobs leave squeue after 2 s, so tests see what sacct reports
  # about jobs slurmctld has forgotten (the recommended non-zero minimum).
  MIN_JOB_AGE=2
else
  # A dir that ran the accounting variant before: its slurmdbd is stopped.
  rm -f "$DBD_CONF"
  ACCT_LINES="AccountingStorageType=accounting_storage/none
# Completed-job records (there is no slurmdbd / sacct)."
  MIN_JOB_AGE=300
fi

cat >"$SLURM_CONF_FILE" <<EOF
# hpcdk test cluster (generated by test/cluster/up.sh; do not edit)
ClusterName=hpcdk
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
# Own munged, own socket: independent of any system munge.
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$DIR/state/slurmctld
SlurmdSpoolDir=$DIR/spool/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGD/slurmctld.log
SlurmdLogFile=$LOGD/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups: they are unavailable or unreliable in containers/sandboxes.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
$ACCT_LINES
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGD/jobcomp.log
MpiDefault=none
# No mail on this machine; the default MailProg is missing and logs errors.
MailProg=/bin/true
# Bind to loopback rather than all interfaces where that is safe.
CommunicationParameters=$COMM_PARAMS
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
MaxArraySize=1001
DefMemPerCPU=1000
MinJobAge=$MIN_JOB_AGE
ReturnToService=2
# Let the one small node claim a big configured size (CPUs, memory, GPUs).
SlurmdParameters=config_overrides
TaskProlog=$BIN/task_prolog.sh
Epilog=$BIN/epilog.sh
PlugStackConfig=$ETC/plugstack.conf
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=64 Sockets=2 CoresPerSocket=32 ThreadsPerCore=1 RealMemory=512000 Gres=gpu:a100:4,gpu:l4:2,gpu:t4:2 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=01:00:00 State=UP
PartitionName=gpu Nodes=$NODE MaxTime=2-00:00:00 State=UP
PartitionName=long Nodes=$NODE MaxTime=7-00:00:00 State=UP
EOF

# One line per GPU type; Count= without File= leaves the node INVALID.
cat >"$ETC/gres.conf" <<EOF
# hpcdk test cluster fake GPUs (generated by test/cluster/up.sh)
AutoDetect=off
NodeName=$NODE Name=gpu Type=a100 File=$DIR/dev/nvidia[0-3]
NodeName=$NODE Name=gpu Type=l4 File=$DIR/dev/nvidia[4-5]
NodeName=$NODE Name=gpu Type=t4 File=$DIR/dev/nvidia[6-7]
EOF

# Empty SPANK stack so the system /etc/slurm/plugstack.conf.d is not read.
: >"$ETC/plugstack.conf"

# --- slurmdbd configuration (accounting variant) ---------------------------

if [ "$ACCOUNTING" = slurmdbd ]; then
  # The slurm DB user's password, made once (the database keeps it).
  if [ ! -s "$KEYS/mariadb.pass" ]; then
    head -c 64 /dev/urandom | sha256sum | cut -c1-32 >"$KEYS/mariadb.pass"
  fi
  chmod 0600 "$KEYS/mariadb.pass"
  DB_PASS="$(cat "$KEYS/mariadb.pass")"
  # slurmdbd refuses a config readable by others or not owned by SlurmUser.
  rm -f "$DBD_CONF"
  (umask 077 && cat >"$DBD_CONF" <<EOF
# hpcdk test cluster slurmdbd (generated by test/cluster/up.sh; do not edit)
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$LOGD/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=$DB_NAME
EOF
  )
  chown root:root "$DBD_CONF"
  chmod 0600 "$DBD_CONF"
fi

# --- sshd configuration -----------------------------------------------------

# Without PAM, sshd refuses accounts whose password field is locked ("!...").
USE_PAM=no
if [ "$(getent shadow root 2>/dev/null | cut -d: -f2 | cut -c1)" = "!" ]; then
  USE_PAM=yes
fi

cat >"$ETC/sshd_config" <<EOF
# hpcdk test cluster sshd (generated by test/cluster/up.sh)
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $HOST_KEY
PidFile $RUN/sshd.pid
AuthorizedKeysFile $KEYS/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM $USE_PAM
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
# VERBOSE logs "Starting session: command for ..." per exec (benchmarks count them).
LogLevel VERBOSE
# Tests open many connections/sessions at once; do not drop them.
MaxStartups 100:30:200
MaxSessions 64
SetEnv MODULEPATH=$DIR/modules SLURM_CONF=$SLURM_CONF_FILE
# Fault suites give their own key an environment="BASH_ENV=..." option in
# authorized_keys: a file that bash sources to inject kills and pauses into
# that key's sessions only.
PermitUserEnvironment BASH_ENV
Subsystem sftp /usr/lib/openssh/sftp-server
EOF

# --- client files -----------------------------------------------------------

printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$HOST_KEY.pub")" >"$KNOWN_HOSTS"

cat >"$SSH_CONFIG" <<EOF
# hpcdk test cluster client config: ssh -F $SSH_CONFIG $ALIAS
Host $ALIAS
  HostName 127.0.0.1
  Port $SSH_PORT
  User root
  IdentityFile $CLIENT_KEY
  IdentitiesOnly yes
  UserKnownHostsFile $KNOWN_HOSTS
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel ERROR
EOF

{
  echo "# hpcdk test cluster (source me)"
  printf 'export HPCDK_CLUSTER_DIR=%q\n' "$DIR"
  echo "export HPCDK_SSH_HOST=127.0.0.1"
  echo "export HPCDK_SSH_PORT=$SSH_PORT"
  echo "export HPCDK_SSH_USER=root"
  printf 'export HPCDK_SSH_KEY=%q\n' "$CLIENT_KEY"
  printf 'export HPCDK_SSH_KNOWN_HOSTS=%q\n' "$KNOWN_HOSTS"
  printf 'export HPCDK_SSH_CONFIG=%q\n' "$SSH_CONFIG"
  echo "export HPCDK_SSH_ALIAS=$ALIAS"
  printf 'export HPCDK_SSH_LOG=%q\n' "$LOGD/sshd.log"
  printf 'export SLURM_CONF=%q\n' "$SLURM_CONF_FILE"
  printf 'export HPCDK_MODULEPATH=%q\n' "$DIR/modules"
  printf 'export HPCDK_SLURM_NODE=%q\n' "$NODE"
  printf 'export HPCDK_JOBCOMP_LOG=%q\n' "$LOGD/jobcomp.log"
  printf 'export HPCDK_SCRATCH_DIR=%q\n' "$DIR/scratch"
  if [ "$ACCOUNTING" = slurmdbd ]; then
    echo "export HPCDK_SLURMDBD_PORT=$DBD_PORT"
    echo "export HPCDK_MARIADB_PORT=$DB_PORT"
    printf 'export HPCDK_MARIADB_SOCKET=%q\n' "$DB_SOCKET"
    printf 'export HPCDK_SLURMDBD_LOG=%q\n' "$LOGD/slurmdbd.log"
  fi
  echo "export HPCDK_ACCOUNTING=$ACCOUNTING"
} >"$ENV_FILE"

# --- start daemons ----------------------------------------------------------

show_logs() {
  local f
  for f in "$@"; do
    [ -f "$f" ] || continue
    echo "----- tail of $f -----" >&2
    tail -n 25 "$f" >&2
  done
}

# Poll a predicate: status 0 = ready, 2 = give up now, anything else = wait.
wait_for() { # description seconds command...
  local what="$1" secs="$2" i rc start=$SECONDS
  shift 2
  # At most secs*4 polls, and no longer than secs seconds with slow predicates.
  for ((i = 0; i < secs * 4 && SECONDS - start <= secs; i++)); do
    rc=0
    "$@" || rc=$?
    [ "$rc" -ne 0 ] || return 0
    [ "$rc" -ne 2 ] || { log "$what: daemon exited"; return 1; }
    sleep 0.25
  done
  log "timed out after ${secs}s waiting for $what"
  return 1
}

# Daemons are started with fd 9 (the lock) closed, or they would hold the
# lock forever (munged does not close inherited descriptors).

# munged: private key and socket; --force tolerates e.g. a stale socket.
rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
munged --force \
  --socket="$MUNGE_SOCKET" \
  --key-file="$KEYS/munge.key" \
  --pid-file="$RUN/munged.pid" \
  --log-file="$LOGD/munged.log" \
  --seed-file="$RUN/munge/munged.seed" 9<&- \
  || { show_logs "$LOGD/munged.log"; die "munged failed to start"; }
wait_for "munged socket" 10 test -S "$MUNGE_SOCKET" \
  || { show_logs "$LOGD/munged.log"; die "munged did not create $MUNGE_SOCKET"; }

# Accounting variant: mariadb, then slurmdbd, then the cluster's records in
# it, all before slurmctld (which registers with slurmdbd when it starts).
start_accounting() {
  local db_pid
  # A datadir without the marker was interrupted while being created.
  if [ ! -f "$DB_DATA/.hpcdk-initialised" ]; then
    rm -rf "$DB_DATA"
    mkdir -p "$DB_DATA"
    mariadb-install-db --no-defaults --user=root --datadir="$DB_DATA" \
      --auth-root-authentication-method=socket --skip-test-db --skip-name-resolve \
      >"$LOGD/mariadb-install.log" 2>&1 9<&- \
      || { show_logs "$LOGD/mariadb-install.log"; die "mariadb-install-db failed ($DB_DATA)"; }
    touch "$DB_DATA/.hpcdk-initialised"
  fi
  # Private server: no my.cnf (--no-defaults), loopback TCP and its own socket.
  rm -f "$DB_SOCKET" "$RUN/mariadbd.pid"
  setsid mariadbd --no-defaults --user=root --datadir="$DB_DATA" \
    --socket="$DB_SOCKET" --port="$DB_PORT" --bind-address=127.0.0.1 \
    --pid-file="$RUN/mariadbd.pid" --log-error="$LOGD/mariadb.log" \
    --skip-name-resolve --innodb-buffer-pool-size=128M --innodb-log-file-size=64M \
    --innodb-lock-wait-timeout=900 </dev/null >/dev/null 2>&1 9<&- &
  db_pid=$!
  db_up() {
    db_sql -e 'SELECT 1' >/dev/null 2>&1 && return 0
    [ "$(cat "/proc/$db_pid/comm" 2>/dev/null)" = mariadbd ] || return 2
    return 1
  }
  wait_for "mariadb on 127.0.0.1:$DB_PORT" 60 db_up \
    || { show_logs "$LOGD/mariadb.log"; die "mariadb did not start (is port $DB_PORT free? set HPCDK_MARIADB_PORT)"; }
  db_sql <<EOF || die "could not create the slurm database user"
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
GRANT ALL PRIVILEGES ON $DB_NAME.* TO 'slurm'@'127.0.0.1';
EOF

  # slurmdbd reads slurmdbd.conf from the folder of $SLURM_CONF.
  slurmdbd 9<&- || { show_logs "$LOGD/slurmdbd.log"; die "slurmdbd failed to start"; }
  dbd_up() {
    timeout 5 sacctmgr -n -P show cluster format=Cluster >/dev/null 2>&1 && return 0
    if [ -s "$RUN/slurmdbd.pid" ] && ! pid_alive "$RUN/slurmdbd.pid" slurmdbd; then return 2; fi
    return 1
  }
  # The first start creates the tables.
  wait_for "slurmdbd on 127.0.0.1:$DBD_PORT" 60 dbd_up \
    || { show_logs "$LOGD/slurmdbd.log" "$LOGD/mariadb.log"; die "slurmdbd does not answer (sacctmgr show cluster)"; }

  # Cluster, account and user (root, who runs the jobs) with it as default
  # account, each added once; the missing ones in one sacctmgr run.
  local assocs users cmds=""
  assocs="$(sacctmgr -n -P show assoc format=Cluster,Account,User)" || die "sacctmgr show assoc failed"
  users="$(sacctmgr -n -P show user format=User,DefaultAccount)" || die "sacctmgr show user failed"
  grep -q '^hpcdk|' <<<"$assocs" || cmds+="add cluster hpcdk"$'\n'
  grep -qx 'hpcdk|hpcdk|' <<<"$assocs" \
    || cmds+="add account hpcdk Cluster=hpcdk Description=hpcdk-tests Organization=hpcdk"$'\n'
  if ! grep -qx 'hpcdk|hpcdk|root' <<<"$assocs"; then
    cmds+="add user root Account=hpcdk Cluster=hpcdk DefaultAccount=hpcdk"$'\n'
  elif ! grep -qx 'root|hpcdk' <<<"$users"; then
    cmds+="modify user where name=root set DefaultAccount=hpcdk"$'\n'
  fi
  [ -n "$cmds" ] || return 0
  # sacctmgr reads one command per line from stdin; -i commits each at once.
  # Its exit status then says little (it is 1 after a clean run): the result
  # is checked instead.
  sacctmgr -i <<<"${cmds%$'\n'}" >"$LOGD/sacctmgr.log" 2>&1 || true
  if ! sacctmgr -n -P show assoc format=Cluster,Account,User | grep -qx 'hpcdk|hpcdk|root' \
     || ! sacctmgr -n -P show user format=User,DefaultAccount | grep -qx 'root|hpcdk'; then
    cat "$LOGD/sacctmgr.log" >&2
    die "sacctmgr did not register cluster/account/user hpcdk/hpcdk/root"
  fi
}
if [ "$ACCOUNTING" = slurmdbd ]; then start_accounting; fi

slurmctld -f "$SLURM_CONF_FILE" 9<&- \
  || { show_logs "$LOGD/slurmctld.log"; die "slurmctld failed to start"; }
# slurmd registers with slurmctld; give the controller a moment to listen.
ctld_up() {
  scontrol ping 2>/dev/null | grep -q 'is UP' && return 0
  # Started daemons write their pid file; a pid file of a dead one = failure.
  if [ -s "$RUN/slurmctld.pid" ] && ! pid_alive "$RUN/slurmctld.pid" slurmctld; then return 2; fi
  return 1
}
wait_for "slurmctld" 20 ctld_up \
  || { show_logs "$LOGD/slurmctld.log"; die "slurmctld does not answer (scontrol ping)"; }
slurmd -f "$SLURM_CONF_FILE" -N "$NODE" 9<&- \
  || { show_logs "$LOGD/slurmd.log"; die "slurmd failed to start"; }

# sshd refuses to start without its privilege-separation directory.
mkdir -p /run/sshd
chmod 0755 /run/sshd
/usr/sbin/sshd -t -f "$ETC/sshd_config" || die "sshd config test failed ($ETC/sshd_config)"
SSHD_STARTED=$SECONDS
/usr/sbin/sshd -f "$ETC/sshd_config" -E "$LOGD/sshd.log" 9<&- \
  || { show_logs "$LOGD/sshd.log"; die "sshd failed to start on 127.0.0.1:$SSH_PORT"; }

node_idle() {
  [ "$(node_state)" = "idle" ] && return 0
  pid_alive "$RUN/slurmctld.pid" slurmctld || return 2
  if [ -s "$RUN/slurmd.pid" ] && ! pid_alive "$RUN/slurmd.pid" slurmd; then return 2; fi
  return 1
}
if ! wait_for "node $NODE to be idle" "$WAIT_SECONDS" node_idle; then
  log "node state: '$(node_state)'"
  sinfo -N -l >&2 2>&1 || true
  show_logs "$LOGD/slurmctld.log" "$LOGD/slurmd.log"
  die "slurm did not come up (node $NODE not idle within ${WAIT_SECONDS}s)"
fi

# sshd forks before binding; no live listener (pid file) after a few seconds
# means it gave up, e.g. "Address already in use".
sshd_up() {
  ssh_ok && return 0
  if [ $((SECONDS - SSHD_STARTED)) -ge 3 ] && ! pid_alive "$RUN/sshd.pid" sshd; then return 2; fi
  return 1
}
if ! wait_for "sshd on 127.0.0.1:$SSH_PORT" 20 sshd_up; then
  ssh -F "$SSH_CONFIG" -o ConnectTimeout=3 "$ALIAS" true </dev/null || true
  show_logs "$LOGD/sshd.log"
  log "is port $SSH_PORT free? (set HPCDK_SSH_PORT to use another)"
  die "sshd does not accept connections on 127.0.0.1:$SSH_PORT"
fi

if [ "$ACCOUNTING" = slurmdbd ] && ! wait_for "sacct" 30 sacct_ok; then
  sacct -n -X -S now >&2 2>&1 || true
  show_logs "$LOGD/slurmdbd.log" "$LOGD/slurmctld.log"
  die "sacct does not work"
fi

echo "$SCRIPT_SUM" >"$DIR/.up-sha256"
final_line
