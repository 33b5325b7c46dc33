#!/usr/bin/env bash
# job-manager/image on target gpu-cluster
# Rendered by hpcdk; edit the stack, not this file.
# Prints what apply built; recorded as the image's actual state.
set -euo pipefail
export HPCDK_STACK_DIR="${HPCDK_STACK_DIR:-${SLURM_SUBMIT_DIR:-$PWD}}"
hpcdk_image=localhost/hpcdk-job-manager-image:ha2101aa566a396a7
hpcdk_sif="${HPCDK_STACK_DIR}/images/image/ha2101aa566a396a7.sif"
hpcdk_record="${HPCDK_STACK_DIR}/images/image/ha2101aa566a396a7.built-with"
hpcdk_runner=$(head -n 1 "$hpcdk_record")
echo "built-with: $(sed -n 2p "$hpcdk_record")"
case "$hpcdk_runner" in
  podman)
    echo "image: $hpcdk_image"
    echo "id: sha256:$(podman image inspect --format '{{.Id}}' "$hpcdk_image")"
    echo "digest: $(podman image inspect --format '{{.Digest}}' "$hpcdk_image")"
    ;;
  docker)
    echo "image: $hpcdk_image"
    echo "id: $(docker image inspect --format '{{.Id}}' "$hpcdk_image")"
    ;;
  *)
    echo "sif: ${hpcdk_sif#"$HPCDK_STACK_DIR"/}"
    echo "sha256: $(sha256sum "$hpcdk_sif" | cut -d " " -f 1)"
    ;;
esac
