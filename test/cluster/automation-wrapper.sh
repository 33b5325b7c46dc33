#!/bin/bash
# An automation node's forced command, as MFA clusters (DRAC's robot nodes)
# set one up in authorized_keys:
#
#   restrict,from="127.0.0.1",command="/bin/bash .../automation-wrapper.sh LOG" ssh-ed25519 AAAA…
#
# The command line the client sent ($SSH_ORIGINAL_COMMAND) must start with
# an allowed prefix; it is then run unquoted, word-split, as those wrappers do:
# no quoting, no &&, no $(…), no pipes, and no bash. Every command received
# is logged to LOG (the first argument), refusals marked, for tests to check.
log="${1:?usage: automation-wrapper.sh LOG}"
cmd="${SSH_ORIGINAL_COMMAND:-}"
printf '%s\n' "$cmd" >>"$log"
case "$cmd" in
  ls | "ls "* | cat | "cat "* | echo | "echo "* | "mv "* | "cp "* | "rm "* | "mkdir "*) ;;
  python* | git*) ;;
  "tar "* | "gzip "* | "zip "*) ;;
  "rsync "* | "scp "* | sftp-server | */sftp-server) ;;
  squeue* | scancel* | sbatch* | scontrol*) ;;
  *)
    printf 'REFUSED %s\n' "$cmd" >>"$log"
    echo "automation node: command not allowed: $cmd" >&2
    exit 1
    ;;
esac
# shellcheck disable=SC2086 # word splitting is what the real wrappers do
exec $cmd
