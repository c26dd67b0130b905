#!/usr/bin/env bash
# Distributed testing with torchrun: each process tests its shard, rank 0 gathers the results.
#
#   tools/dist_test.sh CONFIG CHECKPOINT GPUS [tools/test.py arguments]
#
# Environment (MMSegmentation 0.x names):
#   NNODES       number of nodes (default 1); NODE_RANK: this node's rank (default 0)
#   MASTER_ADDR  address of node 0 (default 127.0.0.1)
#   PORT         port on node 0 (default: MASTER_PORT, else 29500); one per concurrent job;
#                PORT=0 on one node: torchrun binds a free port itself
#   PYTHON       the interpreter (default: python)
# Multi-node, e.g. 2 nodes with 4 GPUs each:
#   node 0: NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 PORT=29500 tools/dist_test.sh CONFIG CKPT 4
#   node 1: NNODES=2 NODE_RANK=1 MASTER_ADDR=10.0.0.1 PORT=29500 tools/dist_test.sh CONFIG CKPT 4
set -euo pipefail

if [ "$#" -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT GPUS [test.py arguments]" >&2
    exit 2
fi
USER_CMD="$0 $*"
source "$(dirname "$0")/dist_common.sh"
run_torchrun "$3" test.py "$1" "$2" --launcher pytorch "${@:4}"
