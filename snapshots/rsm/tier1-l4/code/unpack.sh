#!/usr/bin/env bash
# rsm/code: unpack the code bundle
# shellcheck disable=SC2016 # single-quoted values are literals on purpose
set -euo pipefail
archive="${HPCDK_STACK_DIR}/bundles/code/incoming.tar.gz"
dest="${HPCDK_STACK_DIR}/bundles/code/60e5002939f6b60d"
if [ -f "$dest/.hpcdk-commit" ]; then
  echo "hpcdk: $dest is already unpacked (commit $(cat "$dest/.hpcdk-commit"))"
  exit 0
fi
rm -rf "$dest.partial"
mkdir -p "$dest.partial"
tar -xzf "$archive" -C "$dest.partial"
cp "${HPCDK_STACK_DIR}/bundles/code/incoming.commit" "$dest.partial/.hpcdk-commit"
mv "$dest.partial" "$dest"
rm -f "$archive"
echo "hpcdk: unpacked commit $(cat "$dest/.hpcdk-commit") into $dest"
