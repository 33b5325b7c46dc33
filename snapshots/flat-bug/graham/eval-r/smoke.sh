#!/usr/bin/env bash
# flat-bug/eval-r on target graham
# Rendered by hpcdk; edit the stack, not this file.
set -euo pipefail
export HPCDK_STACK_DIR="${HPCDK_STACK_DIR:-${SLURM_SUBMIT_DIR:-$PWD}}"

set +u
# shellcheck source=/dev/null
source /cvmfs/soft.computecanada.ca/config/profile/bash.sh
set -u
module load gcc r/4.4.0
lib_dir="${HPCDK_STACK_DIR}/envs/eval-r"
export R_LIBS_USER="$lib_dir" R_LIBS="$lib_dir"
Rscript --vanilla -e 'for (p in c("data.table", "ggplot2", "magrittr", "optparse", "scales")) { suppressPackageStartupMessages(library(p, character.only = TRUE)); cat(p, as.character(packageVersion(p)), "\n") }'
echo 'hpcdk: smoke check of eval-r passed (loaded data.table, ggplot2, magrittr, optparse, scales)'
