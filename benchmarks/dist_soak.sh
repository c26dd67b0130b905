#!/usr/bin/env bash
# Repeat a real 2-process CPU job N times and count the runs that did not exit 0.
#
#   benchmarks/dist_soak.sh [N] [--tests | --exit | --exit-plain]
#
# Default: each run is tools/dist_train.sh (tiny FCN with SyncBN, 4 iterations, evaluation at the
# end) followed by tools/dist_test.sh on its checkpoint (--eval mIoU, --out); a run passes only
# when both exit 0. --tests: each run is the distributed test suite (pytest -n 2
# tests/distributed). --exit / --exit-plain: each run is benchmarks/dist_exit_worker.py under
# torchrun pinned to one core, ending as the tools do / with a plain sys.exit (the abort at exit
# that finish_process fixes, made frequent). Prints one block per failed run (the end of its log)
# and, last, "N passed, M failed". Exit status: 0 when none failed.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
mode=${2:-jobs}
python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=python3
work=$(mktemp -d -t seglab_soak.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

if [ "$mode" = "jobs" ]; then
    "$python" - "$work" <<'PY' || exit 1
import os, sys
from seglab.datasets import make_synthetic_voc
root = sys.argv[1]
data_root = make_synthetic_voc(root + "/voc", num_train=8, num_val=3, size=32, seed=1)
with open(root + "/soak.py", "w") as f:
    base = os.path.abspath('configs/demo/fcn_tiny_synthetic_voc_smoke.py')
    f.write(f"""_base_ = {base!r}
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(backbone=dict(norm_cfg=norm_cfg), decode_head=dict(norm_cfg=norm_cfg),
             auxiliary_head=dict(norm_cfg=norm_cfg))
data_root = {data_root!r}
data = dict(train=dict(data_root=data_root), val=dict(data_root=data_root),
            test=dict(data_root=data_root))
find_unused_parameters = True
""")
PY
fi

passed=0
failed=0
for i in $(seq 1 "$runs"); do
    log="$work/run_$i.log"
    if [ "$mode" = "--tests" ]; then
        "$python" -m pytest -q -n 2 -p no:cacheprovider tests/distributed >"$log" 2>&1
        status=$?
    elif [ "$mode" = "--exit" ] || [ "$mode" = "--exit-plain" ]; then
        SEGLAB_EXIT=$([ "$mode" = "--exit-plain" ] && echo plain || echo seglab) \
        PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" taskset -c 0 \
            "$python" -m torch.distributed.run --standalone --nproc_per_node 2 \
            benchmarks/dist_exit_worker.py >"$log" 2>&1
        status=$?
    else
        rm -rf "$work/wd"
        PORT=0 PYTHON="$python" tools/dist_train.sh "$work/soak.py" 2 \
            --work-dir "$work/wd" --seed 0 >"$log" 2>&1
        status=$?
        if [ $status -eq 0 ]; then
            PORT=0 PYTHON="$python" tools/dist_test.sh "$work/soak.py" \
                "$work/wd/latest.pth" 2 --eval mIoU --out "$work/wd/results.pkl" >>"$log" 2>&1
            status=$?
        fi
    fi
    if [ $status -eq 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "run $i: exit status $status; the last lines of its log:"
        tail -n 25 "$log" | sed 's/^/    /'
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
