#!/usr/bin/env bash
# flat-bug/fb-yolo: stage $HOME/scratch/fb_data/fb_yolo.zip to node-local disk
# shellcheck disable=SC2016 # single-quoted values are literals on purpose
set -euo pipefail
src="${HOME}/scratch/fb_data/fb_yolo.zip"
dest="${HPCDK_SCRATCH}/fb_yolo"
[ -e "$src" ] || { echo "hpcdk: dataset source $src does not exist on $(hostname)" >&2; exit 1; }
mkdir -p "$dest"
unzip -q -o "$src" -d "$dest"
echo "hpcdk: staged $src to $dest on $(hostname) ($(du -sh "$dest" | cut -f1))"
