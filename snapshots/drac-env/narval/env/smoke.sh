#!/usr/bin/env bash
# drac-env/env on target narval
# Rendered by hpcdk; edit the stack, not this file.
set -euo pipefail
export HPCDK_STACK_DIR="${HPCDK_STACK_DIR:-${SLURM_SUBMIT_DIR:-$PWD}}"
env_dir="${HPCDK_STACK_DIR}/envs/env"
"$env_dir/bin/python" - <<'PY'
import numpy, torch, requests
print("numpy", getattr(numpy, "__version__", "unknown"))
print("torch", getattr(torch, "__version__", "unknown"))
print("requests", getattr(requests, "__version__", "unknown"))
PY
echo 'hpcdk: smoke check of env passed (imported numpy, torch, requests)'
