#!/usr/bin/env bash
# Distributed training on a SLURM cluster: srun starts one task per GPU, tools/train.py joins them
# with --launcher slurm (rank, world size and master address come from SLURM_* variables).
#
#   [GPUS=8] tools/slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [tools/train.py arguments]
#
# Environment (MMSegmentation 0.x names):
#   GPUS (default 4), GPUS_PER_NODE (default 4), CPUS_PER_TASK (default 5),
#   SRUN_ARGS (extra srun options), MASTER_PORT (default 29500; one per concurrent job),
#   PYTHON (default: python)
# WORK_DIR, when given as the 4th argument, becomes --work-dir WORK_DIR.
set -euo pipefail
set -x

if [ "$#" -lt 3 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG [WORK_DIR] [train.py arguments]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
shift 3
WORK_DIR_ARGS=()
if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then  # a 4th argument that is not an option
    WORK_DIR_ARGS=(--work-dir "$1")
    shift
fi
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
    "$PYTHON" -u "$TOOLS_DIR/train.py" "$CONFIG" ${WORK_DIR_ARGS[@]+"${WORK_DIR_ARGS[@]}"} --launcher slurm "$@"
