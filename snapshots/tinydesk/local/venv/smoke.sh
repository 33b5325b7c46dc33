#!/usr/bin/env bash
# tinydesk/venv on target local
# Rendered by hpcdk; edit the stack, not this file.
set -euo pipefail
export HPCDK_STACK_DIR="${HPCDK_STACK_DIR:-${SLURM_SUBMIT_DIR:-$PWD}}"
env_dir="${HOME}/work/tinydesk_v4/venv"
"$env_dir/bin/python" - <<'PY'
import torch, torchvision, torchaudio, numpy, matplotlib, lightning
print("torch", getattr(torch, "__version__", "unknown"))
print("torchvision", getattr(torchvision, "__version__", "unknown"))
print("torchaudio", getattr(torchaudio, "__version__", "unknown"))
PY
echo 'hpcdk: smoke check of venv passed (imported torch, torchvision, torchaudio, numpy, matplotlib, lightning)'
