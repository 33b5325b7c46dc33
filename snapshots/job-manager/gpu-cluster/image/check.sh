#!/usr/bin/env bash
# job-manager/image on target gpu-cluster
# Rendered by hpcdk; edit the stack, not this file.
# The smoke test, inside the built .sif.
set -euo pipefail
export HPCDK_STACK_DIR="${HPCDK_STACK_DIR:-${SLURM_SUBMIT_DIR:-$PWD}}"
hpcdk_sif="${HPCDK_STACK_DIR}/images/image/ha2101aa566a396a7.sif"
hpcdk_record="${HPCDK_STACK_DIR}/images/image/ha2101aa566a396a7.built-with"
hpcdk_runner=$(head -n 1 "$hpcdk_record")
case "$hpcdk_runner" in
  apptainer | singularity)
    echo "hpcdk: smoke test in $hpcdk_sif"
    "$hpcdk_runner" exec "$hpcdk_sif" /bin/sh -c 'set -e
python -c "import numpy, torch; print(torch.__version__)"'
    ;;
  *) echo "hpcdk: the smoke test ran as the last step of the $hpcdk_runner build" ;;
esac
