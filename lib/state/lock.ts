/**
 * The stack's mutex on a target, held by apply, gc and force-unlock while
 * they change a stack. It is a symbolic link whose target text is its owner
 * line, so the lock and its owner come into being in one atomic step
 * (`symlink(2)` fails when the name exists, on local disks and on NFS
 * alike): there is never a lock without an owner for another apply to take
 * as stale.
 *
 * The owner line: `<user>@<machine> op=<operation> host=<target host> pid=<pid> since=<epoch> token=<token>`.
 *
 * A lock is stale only by its owner's own facts: its process is gone from
 * this very host, or it is older than the lease. Taking the lock, fresh or
 * over a stale one, happens inside a gate (a second symlink held for a few
 * milliseconds), so a taker that has judged a lock stale removes exactly
 * that lock: no other taker can put a new lock in its place meanwhile.
 * Without the gate, a holder that released and exited between another's
 * read and its removal would look dead, and the lock of whoever came next
 * would be removed. Release removes the lock only while it is this
 * process's own. A gate left by a taker killed inside it is removed when
 * that process is gone from this host, or after GATE_TTL_SECONDS.
 */
import { hostname, userInfo } from 'node:os';
import { quote } from '../shell/index.js';
import { LEGACY_LOCK_DIR, LOCK_FILE, LOCK_GATE_FILE, STATE_DIR } from './layout.js';

/** The lock's path relative to the stack folder (a symlink, see above). */
const LOCK_PATH = LOCK_FILE;

/** How long a lock whose holder cannot be checked (another login node) is honoured. */
export const LOCK_TTL_SECONDS = 2 * 60 * 60;

/** How long a gate (held for milliseconds while a lock is taken) is honoured before it is taken for a crashed taker's. */
export const GATE_TTL_SECONDS = 30;

/** Exit code of a script that found the lock held (after printing `@@locked <owner>`). */
export const LOCKED_EXIT_CODE = 3;

/** Who is applying, as the lock records it: `<user>@<machine> op=<operation>`, with no character a shell or the owner line treats specially. */
export function lockOwner(operation: string): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers): keep "unknown".
  }
  return `${user}@${hostname()} op=${operation}`.replace(/[^A-Za-z0-9_.@=: -]+/g, '_');
}

/** One field of an owner line (`pid`, `host`, `since`, `op`, `token`). */
export function ownerField(owner: string, name: string): string | undefined {
  return new RegExp(`(?:^| )${name}=(\\S+)`).exec(owner)?.[1];
}

/** `root@laptop op=apply host=login1 pid=42 since=1795406294` as `root@laptop (apply, pid 42 on login1, since 2026-11-23 03:58:14 UTC)`. */
export function describeLockOwner(owner: string): string {
  const who = /^(\S+)/.exec(owner)?.[1] ?? 'unknown';
  const since = Number(ownerField(owner, 'since'));
  const details = [
    ownerField(owner, 'op'),
    ownerField(owner, 'pid') && ownerField(owner, 'host')
      ? `pid ${ownerField(owner, 'pid')} on ${ownerField(owner, 'host')}`
      : undefined,
    Number.isFinite(since) && since > 0
      ? `since ${new Date(since * 1000)
          .toISOString()
          .replace('T', ' ')
          .replace(/\.\d+Z$/, ' UTC')}`
      : undefined,
  ].filter(Boolean);
  return details.length > 0 ? `${who} (${details.join(', ')})` : owner;
}

/** Bash that prints the lock's owner line (or an hpcdk 0.1 lock folder's), or nothing when the stack is not locked (`$D` is the stack folder). */
export const READ_LOCK_OWNER = `readlink "$D/${LOCK_PATH}" 2>/dev/null || cat "$D/${LEGACY_LOCK_DIR}/owner" 2>/dev/null || true`;

/**
 * Bash functions of the lock protocol, for `$D` the stack folder:
 * `hpcdk_lock_take <owner>` (0 taken, 1 held: `hpcdk_lock_holder` says by
 * whom), `hpcdk_lock_release` (only a lock, or gate, this process holds).
 */
export const LOCK_FUNCTIONS = `hpcdk_lock="$D/${LOCK_PATH}"
hpcdk_lock_gate="$D/${LOCK_GATE_FILE}"
hpcdk_lock_token="$HOSTNAME.$$.$RANDOM$RANDOM"
hpcdk_lock_mine=
hpcdk_lock_gate_mine=
hpcdk_lock_holder=
hpcdk_lock_field() { sed -n "s/.* $1=\\\\([^ ]*\\\\).*/\\\\1/p" <<<" $2"; }
hpcdk_lock_age() { local since; since=$(hpcdk_lock_field since "$1"); echo $(( \${EPOCHSECONDS:-$(date +%s)} - \${since:-0} )); }
hpcdk_lock_gone() {
  local pid host
  pid=$(hpcdk_lock_field pid "$1")
  host=$(hpcdk_lock_field host "$1")
  [ "$host" = "$HOSTNAME" ] && [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null
}
hpcdk_lock_stale() {
  hpcdk_lock_gone "$1" && return 0
  [ -n "$(hpcdk_lock_field since "$1")" ] && [ "$(hpcdk_lock_age "$1")" -gt ${LOCK_TTL_SECONDS} ]
}
hpcdk_lock_enter_gate() {
  local gate tries=0
  hpcdk_lock_gate_mine="gate host=$HOSTNAME pid=$$ since=\${EPOCHSECONDS:-$(date +%s)} token=$hpcdk_lock_token"
  until ln -sn "$hpcdk_lock_gate_mine" "$hpcdk_lock_gate" 2>/dev/null; do
    gate=$(readlink "$hpcdk_lock_gate" 2>/dev/null) || continue
    # A gate whose taker died in it: removed only while it is still that gate.
    if hpcdk_lock_gone "$gate" || [ "$(hpcdk_lock_age "$gate")" -gt ${GATE_TTL_SECONDS} ]; then
      [ "$(readlink "$hpcdk_lock_gate" 2>/dev/null)" = "$gate" ] && rm -f "$hpcdk_lock_gate"
      continue
    fi
    tries=$((tries + 1))
    if [ "$tries" -gt 400 ]; then hpcdk_lock_gate_mine=; return 1; fi
    sleep 0.05
  done
}
hpcdk_lock_leave_gate() {
  [ -n "$hpcdk_lock_gate_mine" ] || return 0
  if [ "$(readlink "$hpcdk_lock_gate" 2>/dev/null)" = "$hpcdk_lock_gate_mine" ]; then rm -f "$hpcdk_lock_gate"; fi
  hpcdk_lock_gate_mine=
}
hpcdk_lock_take() {
  local owner
  owner="$1 host=$HOSTNAME pid=$$ since=\${EPOCHSECONDS:-$(date +%s)} token=$hpcdk_lock_token"
  if ! hpcdk_lock_enter_gate; then
    hpcdk_lock_holder=$(readlink "$hpcdk_lock" 2>/dev/null) || hpcdk_lock_holder="unknown (another apply is taking the lock)"
    return 1
  fi
  if ! ln -sn "$owner" "$hpcdk_lock" 2>/dev/null; then
    # Inside the gate the lock can only disappear (its holder releases it), never be replaced.
    hpcdk_lock_holder=$(readlink "$hpcdk_lock" 2>/dev/null) || hpcdk_lock_holder=
    if [ -n "$hpcdk_lock_holder" ] && hpcdk_lock_stale "$hpcdk_lock_holder"; then
      echo "@@note taking over a stale lock ($hpcdk_lock_holder)"
      rm -f "$hpcdk_lock"
    fi
    if ! ln -sn "$owner" "$hpcdk_lock" 2>/dev/null; then
      hpcdk_lock_holder=$(readlink "$hpcdk_lock" 2>/dev/null) || hpcdk_lock_holder=
      # Gone between the link and the read: its holder released it, and inside the gate nobody else can take it.
      if [ -n "$hpcdk_lock_holder" ] || ! ln -sn "$owner" "$hpcdk_lock" 2>/dev/null; then
        [ -n "$hpcdk_lock_holder" ] || hpcdk_lock_holder=unknown
        hpcdk_lock_leave_gate
        return 1
      fi
    fi
  fi
  hpcdk_lock_mine=$owner
  # A lock folder from hpcdk 0.1 is honoured while its holder may be alive.
  if [ -d "$D/${LEGACY_LOCK_DIR}" ]; then
    hpcdk_lock_holder=$(cat "$D/${LEGACY_LOCK_DIR}/owner" 2>/dev/null) || hpcdk_lock_holder=
    if [ -n "$hpcdk_lock_holder" ] && ! hpcdk_lock_stale "$hpcdk_lock_holder"; then
      hpcdk_lock_release
      return 1
    fi
    [ -z "$hpcdk_lock_holder" ] || echo "@@note taking over a stale lock ($hpcdk_lock_holder)"
    rm -rf "$D/${LEGACY_LOCK_DIR}"
  fi
  hpcdk_lock_leave_gate
}
hpcdk_lock_release() {
  hpcdk_lock_leave_gate
  [ -n "$hpcdk_lock_mine" ] || return 0
  if [ "$(readlink "$hpcdk_lock" 2>/dev/null)" = "$hpcdk_lock_mine" ]; then rm -f "$hpcdk_lock"; fi
  hpcdk_lock_mine=
}`;

/**
 * A script's opening that takes the lock for `operation` or prints
 * `@@locked <owner>` and exits 3; the EXIT trap releases it. A client that
 * goes away (killed, network lost) closes the script's stdout, so the next
 * progress line raises SIGPIPE: every such end exits through the EXIT trap.
 */
export function takeLockLines(operation: string): string {
  return `${LOCK_FUNCTIONS}
mkdir -p "$D/${STATE_DIR}"
trap 'hpcdk_lock_release' EXIT
if ! hpcdk_lock_take ${quote(lockOwner(operation))}; then
  echo "@@locked $hpcdk_lock_holder"
  exit ${LOCKED_EXIT_CODE}
fi
trap 'exit 141' PIPE
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM`;
}

/** Bash that removes the lock whoever holds it (force-unlock), printing its owner line first. */
export const FORCE_UNLOCK = `rm -f "$D/${LOCK_GATE_FILE}"
if [ -L "$D/${LOCK_PATH}" ]; then readlink "$D/${LOCK_PATH}" || echo unknown; rm -f "$D/${LOCK_PATH}"; fi
if [ -d "$D/${LEGACY_LOCK_DIR}" ]; then cat "$D/${LEGACY_LOCK_DIR}/owner" 2>/dev/null || echo unknown; rm -rf "$D/${LEGACY_LOCK_DIR}"; fi`;
