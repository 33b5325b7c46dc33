#!/usr/bin/env bash
# rsm/pg19: stage $HOME/data/pg19.tar.gz to node-local disk
# shellcheck disable=SC2016 # single-quoted values are literals on purpose
set -euo pipefail
src="${HOME}/data/pg19.tar.gz"
dest="${HPCDK_SCRATCH}/data/pg19"
[ -e "$src" ] || { echo "hpcdk: dataset source $src does not exist on $(hostname)" >&2; exit 1; }
mkdir -p "$dest"
tar -xf "$src" -C "$dest"
echo "hpcdk: staged $src to $dest on $(hostname) ($(du -sh "$dest" | cut -f1))"
