# Sourced by bash (BASH_ENV, set for one key in authorized_keys) in that key's
# SSH sessions: counts the scripts hpcdk's session shell runs, one line each in
# scripts.count beside this file. A session runs several scripts, so sshd's
# count of sessions is not a count of round trips; this is, on the server.
if [ "$0" = hpcdk-session ]; then
  hpcdk_count_file="$(dirname -- "${BASH_SOURCE[0]}")/scripts.count"
  # Once per script's subshell: a trap the script sets (EXIT) runs with the same BASH_COMMAND.
  hpcdk_count() {
    if [ "$BASH_SUBSHELL" = 1 ] && [ "$BASH_COMMAND" = 'eval "$hpcdk_s"' ] && [ -z "${hpcdk_counted:-}" ]; then
      hpcdk_counted=1
      echo script >>"$hpcdk_count_file"
    fi
    return 0
  }
  set -T
  trap hpcdk_count DEBUG
fi
