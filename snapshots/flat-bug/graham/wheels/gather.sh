#!/usr/bin/env bash
# flat-bug/wheels on target graham: gathers wheels with pip.
# Rendered by hpcdk; edit the stack, not this file.
set -euo pipefail
export HPCDK_STACK_DIR="${HPCDK_STACK_DIR:-${SLURM_SUBMIT_DIR:-$PWD}}"

set +u
# shellcheck source=/dev/null
source /cvmfs/soft.computecanada.ca/config/profile/bash.sh
set -u
module load python/3.11.5 opencv/4.10.0 gcc scipy-stack/2024a r/4.4.0
wheel_dir="${HOME}/flat-bug/dist"
pip_options=(--disable-pip-version-check --no-input --no-build-isolation)
mkdir -p "$wheel_dir"
python3.11 -m pip wheel "${pip_options[@]}" --no-deps --wheel-dir "$wheel_dir" "${HOME}/flat-bug"
python3.11 -m pip download "${pip_options[@]}" --dest "$wheel_dir" "${HOME}/flat-bug"
echo "hpcdk: the wheelhouse at $wheel_dir holds $(find "$wheel_dir" -maxdepth 1 -name '*.whl' | wc -l) wheels"
