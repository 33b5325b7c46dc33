#!/usr/bin/env bash
# flat-bug/env on target graham
# Rendered by hpcdk; edit the stack, not this file.
set -euo pipefail
export HPCDK_STACK_DIR="${HPCDK_STACK_DIR:-${SLURM_SUBMIT_DIR:-$PWD}}"

set +u
# shellcheck source=/dev/null
source /cvmfs/soft.computecanada.ca/config/profile/bash.sh
set -u
module load python/3.11.5 opencv/4.10.0 gcc scipy-stack/2024a r/4.4.0
env_dir="${SLURM_TMPDIR}/env"
pip_options=(--disable-pip-version-check --no-input --no-index --find-links "${HOME}/flat-bug/dist")

if [ -x "$env_dir/bin/python" ]; then
  echo "hpcdk: updating the Python environment at $env_dir"
else
  echo "hpcdk: creating the Python environment at $env_dir"
  mkdir -p "$(dirname "$env_dir")"
  virtualenv --no-download --python python3.11 "$env_dir"
fi
report="$env_dir/hpcdk-install-report.json"
"$env_dir/bin/python" -m pip install "${pip_options[@]}" --report "$report" --requirement "${HPCDK_STACK_DIR}/files/env/requirements.txt"
"$env_dir/bin/python" "${HPCDK_STACK_DIR}/files/env/env-info.py" record "$report"
echo 'hpcdk: installed 1 pinned requirement (requirements.txt) and their dependencies'
echo "hpcdk: the Python environment at $env_dir is ready ($("$env_dir/bin/python" -m pip freeze | wc -l) packages)"
