#!/usr/bin/env bash
# Distributed testing on a SLURM cluster: srun starts one task per GPU, tools/test.py joins them
# with --launcher slurm and rank 0 gathers the results.
#
#   [GPUS=8] tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py arguments]
#
# Environment (MMSegmentation 0.x names):
#   GPUS (default 4), GPUS_PER_NODE (default 4), CPUS_PER_TASK (default 5),
#   SRUN_ARGS (extra srun options), MASTER_PORT (default 29500; one per concurrent job),
#   PYTHON (default: python)
set -euo pipefail
set -x

if [ "$#" -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG CHECKPOINT [test.py arguments]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
shift 4
GPUS=${GPUS:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-4}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PYTHON=${PYTHON:-python}
TOOLS_DIR=$(dirname "$0")

# SRUN_ARGS is split into words on purpose (several srun options in one variable).
# shellcheck disable=SC2086
PYTHONPATH="$TOOLS_DIR/..${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PYTHON" -u "$TOOLS_DIR/test.py" "$CONFIG" "$CHECKPOINT" --launcher slurm "$@"
