#!/usr/bin/env bash
# flat-bug/eval-r on target graham
# Rendered by hpcdk; edit the stack, not this file.
set -euo pipefail
export HPCDK_STACK_DIR="${HPCDK_STACK_DIR:-${SLURM_SUBMIT_DIR:-$PWD}}"

set +u
# shellcheck source=/dev/null
source /cvmfs/soft.computecanada.ca/config/profile/bash.sh
set -u
module load gcc r/4.4.0
lib_dir="${HPCDK_STACK_DIR}/envs/eval-r"
local_repo="${HOME}/R/cran"

if ! command -v Rscript >/dev/null 2>&1; then
  echo 'hpcdk: Rscript is not on PATH on target graham; name an R module in modules, e.g. r/4.3.1' >&2
  exit 1
fi
r_version=$(Rscript --vanilla -e 'cat(as.character(getRversion()))')
if [ ! -f "$local_repo/src/contrib/PACKAGES" ]; then
  echo "hpcdk: the local repository $local_repo has no src/contrib/PACKAGES index (make one with tools::write_PACKAGES(dir, type = 'source'))" >&2
  exit 1
fi

# HPCDK_DESCRIBE=1: say how this target would build, build nothing (plan runs this).
if [ -n "${HPCDK_DESCRIBE:-}" ]; then
  echo "hpcdk: R $r_version, packages from the local repository $local_repo"
  exit 0
fi

mkdir -p "$lib_dir"
export R_LIBS_USER="$lib_dir" R_LIBS="$lib_dir"
echo "hpcdk: installing 5 pinned R packages into $lib_dir with R $r_version from the local repository $local_repo"
Rscript --vanilla "${HPCDK_STACK_DIR}/files/eval-r/install.R" "$lib_dir" "${HPCDK_STACK_DIR}/files/eval-r/packages.txt" --local-repo "$local_repo"
