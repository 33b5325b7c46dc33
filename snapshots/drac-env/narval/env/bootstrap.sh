#!/usr/bin/env bash
# drac-env/env on target narval
# Rendered by hpcdk; edit the stack, not this file.
set -euo pipefail
export HPCDK_STACK_DIR="${HPCDK_STACK_DIR:-${SLURM_SUBMIT_DIR:-$PWD}}"

set +u
# shellcheck source=/dev/null
source /cvmfs/soft.computecanada.ca/config/profile/bash.sh
set -u
module load python/3.11.5
env_dir="${HPCDK_STACK_DIR}/envs/env"
pip_options=(--disable-pip-version-check --no-input --extra-index-url https://index.example.invalid/simple --find-links /cvmfs/soft.computecanada.ca/custom/python/wheelhouse/gentoo2023/x86-64-v3 --find-links /cvmfs/soft.computecanada.ca/custom/python/wheelhouse/gentoo2023/generic --find-links /cvmfs/soft.computecanada.ca/custom/python/wheelhouse/generic)

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
echo 'hpcdk: installed 5 pinned requirements (requirements.txt) and their dependencies'
echo "hpcdk: the Python environment at $env_dir is ready ($("$env_dir/bin/python" -m pip freeze | wc -l) packages)"
