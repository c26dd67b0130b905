#!/usr/bin/env bash
# Distributed training with torchrun: one process per GPU (or per CPU process with gloo).
#
#   tools/dist_train.sh CONFIG GPUS [tools/train.py arguments]
#
# Environment (MMSegmentation 0.x names):
#   NNODES       number of nodes (default 1); NODE_RANK: this node's rank (default 0)
#   MASTER_ADDR  address of node 0 (default 127.0.0.1)
#   PORT         port on node 0 (default: MASTER_PORT, else 29500); one per concurrent job;
#                PORT=0 on one node: torchrun binds a free port itself
#   PYTHON       the interpreter (default: python)
# Multi-node, e.g. 2 nodes with 4 GPUs each:
#   node 0: NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 PORT=29500 tools/dist_train.sh CONFIG 4
#   node 1: NNODES=2 NODE_RANK=1 MASTER_ADDR=10.0.0.1 PORT=29500 tools/dist_train.sh CONFIG 4
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: $0 CONFIG GPUS [train.py arguments]" >&2
    exit 2
fi
USER_CMD="$0 $*"
source "$(dirname "$0")/dist_common.sh"
run_torchrun "$2" train.py "$1" --launcher pytorch "${@:3}"
