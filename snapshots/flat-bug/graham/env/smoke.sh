#!/usr/bin/env bash
# flat-bug/env on target graham
# Rendered by hpcdk; edit the stack, not this file.
set -euo pipefail
export HPCDK_STACK_DIR="${HPCDK_STACK_DIR:-${SLURM_SUBMIT_DIR:-$PWD}}"
env_dir="${SLURM_TMPDIR}/env"
"$env_dir/bin/python" - <<'PY'
import flat_bug
PY
echo 'hpcdk: smoke check of env passed (imported flat_bug)'
