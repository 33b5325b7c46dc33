#!/usr/bin/env bash
# tinydesk/venv on target local
# Rendered by hpcdk; edit the stack, not this file.
set -euo pipefail
export HPCDK_STACK_DIR="${HPCDK_STACK_DIR:-${SLURM_SUBMIT_DIR:-$PWD}}"

set +u
# shellcheck source=/dev/null
source "${HOME}/miniconda3/etc/profile.d/conda.sh"
set -u
prefix="${HOME}/work/tinydesk_v4/venv"
environment_file="${HPCDK_STACK_DIR}/files/venv/environment.yml"
if ! command -v conda >/dev/null 2>&1; then
  echo 'hpcdk: conda is not on PATH on target local; name its conda.sh in the profile'\''s shellInit' >&2
  exit 1
fi

if [ -d "$prefix/conda-meta" ]; then
  echo "hpcdk: updating the conda environment at $prefix"
  conda env update --prefix "$prefix" --file "$environment_file" --prune
else
  echo "hpcdk: creating the conda environment at $prefix"
  conda env create --prefix "$prefix" --file "$environment_file"
fi
"$prefix/bin/python" -m pip install --disable-pip-version-check --no-input --no-deps --requirement "${HPCDK_STACK_DIR}/files/venv/requirements-pip.txt"
echo 'hpcdk: installed 1 pip-only package without dependencies (requirements-pip.txt)'
echo "hpcdk: the conda environment at $prefix is ready"
