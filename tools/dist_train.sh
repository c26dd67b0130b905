#!/usr/bin/env bash
# Distributed training with torchrun: one process per GPU (or per CPU process with gloo).
#
#   tools/dist_train.sh CONFIG GPUS [tools/train.py arguments]
#
# Environment (MMSegmentation 0.x names):
#   NNODES       number of nodes (default 1); NODE_RANK: this node's rank (default 0)
#   MASTER_ADDR  address of node 0 (default 127.0.0.1)
#   PORT         port on node 0 (default: MASTER_PORT, else 29500); one per concurrent job
#   PYTHON       the interpreter (default: python)
# Multi-node, e.g. 2 nodes with 4 GPUs each:
#   node 0: NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 PORT=29500 tools/dist_train.sh CONFIG 4
#   node 1: NNODES=2 NODE_RANK=1 MASTER_ADDR=10.0.0.1 PORT=29500 tools/dist_train.sh CONFIG 4
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: $0 CONFIG GPUS [train.py arguments]" >&2
    exit 2
fi
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-${MASTER_PORT:-29500}}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}
TOOLS_DIR=$(dirname "$0")

case "$PORT" in
    ''|*[!0-9]*) echo "error: PORT=$PORT is not a port number; set PORT to a free port, e.g. PORT=29501" >&2
                 exit 2 ;;
esac
# Node 0 hosts the rendezvous on PORT: fail now, with the fix, rather than inside torchrun.
if [ "$NODE_RANK" = "0" ]; then
    if ! "$PYTHON" -c "
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(('', int(sys.argv[1])))
except OSError:
    sys.exit(1)
" "$PORT"; then
        echo "error: port $PORT is in use on this machine (another training job?); set PORT=<a free port>, e.g. PORT=$((PORT + 1)) $0 $*" >&2
        exit 1
    fi
fi

PYTHONPATH="$TOOLS_DIR/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$TOOLS_DIR/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
