#!/usr/bin/env bash
# job-manager/image on target gpu-cluster
# Rendered by hpcdk; edit the stack, not this file.
set -euo pipefail
export HPCDK_STACK_DIR="${HPCDK_STACK_DIR:-${SLURM_SUBMIT_DIR:-$PWD}}"
hpcdk_image=localhost/hpcdk-job-manager-image:ha2101aa566a396a7
hpcdk_sif="${HPCDK_STACK_DIR}/images/image/ha2101aa566a396a7.sif"
hpcdk_record="${HPCDK_STACK_DIR}/images/image/ha2101aa566a396a7.built-with"
# HPCDK_DESCRIBE=1: say which build path this target allows, build nothing (plan runs this).
if [ -z "${HPCDK_DESCRIBE:-}" ]; then
  cd -- "${HPCDK_STACK_DIR}/files/image"
  mkdir -p -- "$(dirname -- "$hpcdk_sif")" "$(dirname -- "$hpcdk_record")"
fi
hpcdk_have() { command -v "$1" >/dev/null 2>&1; }
# docker may be only a client: it counts when its daemon answers.
hpcdk_have_docker() { hpcdk_have docker && docker info >/dev/null 2>&1; }
hpcdk_built_with() {
  if [ -n "${HPCDK_DESCRIBE:-}" ]; then echo "$2"; exit 0; fi
  printf '%s\n%s\n' "$1" "$2" > "$hpcdk_record.tmp"
  echo "hpcdk: building $hpcdk_image: $2"
}
hpcdk_apptainer=$(command -v apptainer || true)
hpcdk_apptainer_name=$(basename -- "${hpcdk_apptainer:-none}")
if [ -z "$hpcdk_apptainer" ]; then
  echo 'hpcdk: apptainer is not on this target (the profile'\''s containerRuntime is apptainer)' >&2
  exit 1
fi
# Where podman or docker exists, build the Dockerfile and convert; otherwise build the .def directly.
if hpcdk_have podman; then
  hpcdk_built_with "$hpcdk_apptainer_name" 'podman build from Dockerfile, then apptainer build from docker-archive'
  podman build -f Dockerfile -t "$hpcdk_image" .
  podman save --format docker-archive -o "$hpcdk_sif.tar" "$hpcdk_image"
  "$hpcdk_apptainer" build --force "$hpcdk_sif.tmp" "docker-archive://$hpcdk_sif.tar"
  rm -f -- "$hpcdk_sif.tar"
  mv -f -- "$hpcdk_sif.tmp" "$hpcdk_sif"
elif hpcdk_have_docker; then
  hpcdk_built_with "$hpcdk_apptainer_name" 'docker build from Dockerfile, then apptainer build from docker-daemon'
  docker build -f Dockerfile -t "$hpcdk_image" .
  "$hpcdk_apptainer" build --force "$hpcdk_sif.tmp" "docker-daemon://$hpcdk_image"
  mv -f -- "$hpcdk_sif.tmp" "$hpcdk_sif"
else
  hpcdk_built_with "$hpcdk_apptainer_name" 'apptainer build from image.def'
  "$hpcdk_apptainer" build --force "$hpcdk_sif.tmp" image.def
  mv -f -- "$hpcdk_sif.tmp" "$hpcdk_sif"
fi
mv -f -- "$hpcdk_record.tmp" "$hpcdk_record"
echo "hpcdk: built $hpcdk_image ($(head -n 1 "$hpcdk_record"))"
