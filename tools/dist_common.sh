# Shared by dist_train.sh and dist_test.sh (sourced, not run): the MMSegmentation 0.x environment
# variables, a port check on node 0, and the torchrun command line.
#
#   run_torchrun GPUS TOOL [TOOL arguments]   (uses $USER_CMD in the busy-port message)
#
# PORT=0 (one node only): torchrun's standalone rendezvous binds a free port itself, so several
# jobs on one machine never race for a port picked in advance.

run_torchrun() {
    local gpus=$1 tool=$2
    shift 2
    local nnodes=${NNODES:-1}
    local node_rank=${NODE_RANK:-0}
    local port=${PORT:-${MASTER_PORT:-29500}}
    local master_addr=${MASTER_ADDR:-"127.0.0.1"}
    local python=${PYTHON:-python}
    local tools_dir
    tools_dir=$(dirname "${BASH_SOURCE[0]}")

    case "$port" in
        ''|*[!0-9]*) echo "error: PORT=$port is not a port number; set PORT to a free port, e.g. PORT=29501" >&2
                     exit 2 ;;
    esac
    if [ "$port" = "0" ]; then
        if [ "$nnodes" != "1" ]; then
            echo "error: PORT=0 (any free port) works on one node only; the $nnodes nodes of a job meet at MASTER_ADDR:PORT, so set PORT to the same free port on every node, e.g. PORT=29501" >&2
            exit 2
        fi
        PYTHONPATH="$tools_dir/..${PYTHONPATH:+:$PYTHONPATH}" \
        exec "$python" -m torch.distributed.run \
            --standalone \
            --nproc_per_node="$gpus" \
            "$tools_dir/$tool" \
            "$@"
    fi
    # Node 0 hosts the rendezvous on the port: fail now, with the fix, rather than inside torchrun.
    if [ "$node_rank" = "0" ]; then
        if ! "$python" -c "
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(('', int(sys.argv[1])))
except OSError:
    sys.exit(1)
" "$port"; then
            echo "error: port $port is in use on this machine (another job?); set PORT=<a free port>, e.g. PORT=$((port + 1)) $USER_CMD" >&2
            exit 1
        fi
    fi

    PYTHONPATH="$tools_dir/..${PYTHONPATH:+:$PYTHONPATH}" \
    exec "$python" -m torch.distributed.run \
        --nnodes="$nnodes" \
        --node_rank="$node_rank" \
        --master_addr="$master_addr" \
        --nproc_per_node="$gpus" \
        --master_port="$port" \
        "$tools_dir/$tool" \
        "$@"
}
