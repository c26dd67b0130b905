#!/usr/bin/env bash
# The GPU check: one prepared script (about 5 minutes on one GPU) that prints one summary table.
#
#   benchmarks/gpu_check.sh                       # on a CUDA machine
#   GPU_CHECK_DEVICE=cpu benchmarks/gpu_check.sh  # dry run: the same steps, tiny, on the CPU
#
# Steps (each fails soft: a broken step gives a FAIL row with the end of its log, the others
# still run; a step that cannot apply gives a SKIP row saying why):
#   env            torch, CUDA, the visible GPUs (nvidia-smi)
#   data           a synthetic VOC-layout set (tools/misc/make_synthetic_voc.py)
#   train_amp      tools/train.py --amp (float16 autocast + loss scaler on CUDA; bf16 or fp32
#                  on a CPU), 4 iterations, checkpoints at 2 and 4
#   resume_exact   tools/train.py --resume-from iter_2.pth to iteration 4: the weights equal
#                  the uninterrupted run's bit for bit
#   dist_train     tools/dist_train.sh over the visible GPUs (NCCL; 2 gloo processes on a CPU)
#   dist_test      tools/dist_test.sh on its checkpoint, --eval mIoU
#   whole_batched  tools/test.py --batch-size 4, whole mode
#   slide_batched  tools/test.py --batch-size 4, slide mode (crops in batches)
#   bench_fp32/fp16/bf16  tools/benchmark.py, FCN R50-D8 (random weights): fps and peak memory
#                  (torch.cuda.max_memory_allocated on CUDA)
#   mmseg_r50      MMSegmentation 1.2.2 beside it (benchmarks/mmseg_side_by_side.py, FCN R50
#                  whole) when its virtualenv is there (MMSEG_VENV; made by --setup, needs PyPI)
#
# Environment: GPU_CHECK_DEVICE (cuda | cpu, default cuda), PYTHON (default .venv/bin/python,
# else python3), GPU_CHECK_WORK (work folder, default a temp dir, kept), MMSEG_VENV (default
# /work/mmseg-venv), STEP_TIMEOUT (seconds per step, default 240).
# Exit status: 0 when no step failed.
set -uo pipefail

# record NAME STATUS SECONDS NOTE: one row of the summary (tabs and newlines in NOTE flattened).
record() {
    local note=${4//$'\t'/ }
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${note//$'\n'/ }" >>"$RESULTS"
}

# step NAME COMMAND...: run it (log in $WORK/NAME.log, STEP_TIMEOUT), record PASS or FAIL.
# The note of a PASS is the last line starting with "NOTE: " in the log (if any); of a FAIL, the
# last non-empty line of the log.
step() {
    local name=$1 start status note
    shift
    start=$(date +%s)
    # A fresh bash runs it (the step functions and settings are exported) so timeout applies.
    timeout "$STEP_TIMEOUT" bash -c '"$@"' "$name" "$@" >"$WORK/$name.log" 2>&1
    status=$?
    if [ "$status" -eq 0 ]; then
        note=$(grep '^NOTE: ' "$WORK/$name.log" | tail -n 1 | cut -c7-)
        record "$name" PASS "$(($(date +%s) - start))" "$note"
    else
        [ "$status" -eq 124 ] && note="timed out after ${STEP_TIMEOUT}s" || note="exit $status"
        note="$note: $(grep -v '^\s*$' "$WORK/$name.log" | tail -n 1 | cut -c1-160)"
        record "$name" FAIL "$(($(date +%s) - start))" "$note"
    fi
    echo "[$name] $(tail -n 1 "$RESULTS" | cut -f2)" >&2
}

# skip NAME REASON...
skip() {
    local name=$1
    shift
    record "$name" SKIP 0 "$*"
    echo "[$name] SKIP" >&2
}

# print_summary FILE: the results as one markdown table.
print_summary() {
    local name status secs note
    echo "| step | result | s | note |"
    echo "|---|---|---|---|"
    while IFS=$'\t' read -r name status secs note; do
        echo "| $name | $status | $secs | ${note:-} |"
    done <"$1"
}


# Sourced with GPU_CHECK_LIB=1 (the tests): only the functions above, nothing runs.
if [ -n "${GPU_CHECK_LIB:-}" ]; then
    return 0 2>/dev/null || exit 0
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
DEVICE=${GPU_CHECK_DEVICE:-cuda}
python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=python3
WORK=${GPU_CHECK_WORK:-$(mktemp -d -t seglab_gpu_check.XXXXXX)}
MMSEG_VENV=${MMSEG_VENV:-/work/mmseg-venv}
STEP_TIMEOUT=${STEP_TIMEOUT:-240}
mkdir -p "$WORK"
RESULTS="$WORK/results.tsv"
: >"$RESULTS"

case "$DEVICE" in
    cuda)
        NPROC=$("$python" -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
        SIZE=256; CROP=128; STRIDE=96; R50_SIZE=1024; R50_SCALE="(2048,1024)"; BENCH_IMAGES=50
        ITERS=4
        export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4} ;;
    cpu)
        NPROC=2; SIZE=32; CROP=24; STRIDE=16; R50_SIZE=64; R50_SCALE="(64,64)"; BENCH_IMAGES=2
        ITERS=4
        export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} ;;
    *)
        echo "error: GPU_CHECK_DEVICE=$DEVICE; use cuda or cpu" >&2
        exit 2 ;;
esac

env_info() {
    "$python" - "$DEVICE" <<'PY'
import sys, torch
dev = sys.argv[1]
if dev == "cuda" and not torch.cuda.is_available():
    sys.exit("torch.cuda.is_available() is False (torch %s, CUDA %s)"
             % (torch.__version__, torch.version.cuda))
names = (["cpu"] if dev != "cuda" else
         [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])
print("NOTE: torch %s, CUDA %s, %d x %s, bf16 %s" % (
    torch.__version__, torch.version.cuda, len(names), names[0] if names else "-",
    torch.cuda.is_bf16_supported() if dev == "cuda" else "n/a"))
PY
    local status=$?
    if command -v nvidia-smi >/dev/null; then nvidia-smi -L; fi
    return "$status"
}

make_data() {
    "$python" tools/misc/make_synthetic_voc.py "$WORK/voc" --num-train 8 --num-val 4 \
        --size "$SIZE" --seed 0 &&
    "$python" tools/misc/make_synthetic_voc.py "$WORK/voc_r50" --num-train 0 --num-val 2 \
        --size "$R50_SIZE" --seed 1 &&
    cat >"$WORK/tiny.py" <<EOF
_base_ = '$ROOT/configs/demo/fcn_tiny_synthetic_voc_smoke.py'
data_root = '$WORK/voc'
data = dict(samples_per_gpu=2, train=dict(data_root=data_root), val=dict(data_root=data_root),
            test=dict(data_root=data_root))
runner = dict(type='IterBasedRunner', max_iters=$ITERS)
find_unused_parameters = True
EOF
    echo "NOTE: 8 + 4 images of $SIZE px, R50 set 2 of $R50_SIZE px"
}

TRAIN_ARGS="--device $DEVICE --seed 0 --deterministic --no-validate"

resume_exact() {
    "$python" tools/train.py "$WORK/tiny.py" --work-dir "$WORK/resumed" \
        --resume-from "$WORK/train/iter_2.pth" --amp $TRAIN_ARGS &&
    "$python" - "$WORK/train/iter_$ITERS.pth" "$WORK/resumed/iter_$ITERS.pth" <<'PY'
import sys, torch
a, b = (torch.load(p, map_location="cpu", weights_only=False)["state_dict"] for p in sys.argv[1:])
if a.keys() != b.keys():
    sys.exit("the resumed checkpoint has other keys: %s" % sorted(set(a) ^ set(b))[:5])
bad = [k for k in a if not torch.equal(a[k], b[k])]
if bad:
    diff = max((a[k].double() - b[k].double()).abs().max().item() for k in bad)
    sys.exit("resumed weights differ from the uninterrupted run in %d tensors (max abs %.3g, "
             "e.g. %s); on CUDA, atomic adds (bilinear upsampling backward) can differ run to "
             "run even with --deterministic" % (len(bad), diff, bad[0]))
print("NOTE: %d tensors equal bit for bit after resuming from iteration 2" % len(a))
PY
}

dist_train() {
    PORT=0 PYTHON="$python" tools/dist_train.sh "$WORK/tiny.py" "$NPROC" \
        --work-dir "$WORK/dist" --seed 0 --no-validate &&
    echo "NOTE: $NPROC processes ($([ "$DEVICE" = cuda ] && echo NCCL || echo gloo))"
}

dist_test() {
    PORT=0 PYTHON="$python" tools/dist_test.sh "$WORK/tiny.py" "$WORK/dist/latest.pth" \
        "$NPROC" --eval mIoU --work-dir "$WORK/dist_test" &&
    local miou
    miou=$(grep -ho '"mIoU": [0-9.]*' "$WORK/dist_test"/*.json | tail -n 1)
    echo "NOTE: $NPROC processes, $miou"
}

test_batched() {  # MODE [--options ...]
    local mode=$1
    shift
    "$python" tools/test.py "$WORK/tiny.py" "$WORK/train/latest.pth" --eval mIoU \
        --batch-size 4 --device "$DEVICE" --work-dir "$WORK/test_$mode" "$@" &&
    echo "NOTE: $mode, batch 4, $(grep -ho '"mIoU": [0-9.]*' "$WORK/test_$mode"/*.json | tail -n 1)"
}

r50_weights() {
    [ -f "$WORK/r50.pth" ] && return 0
    "$python" - "$WORK/r50.pth" <<'PY'
import sys, torch
from seglab.config import Config
from seglab.models import build_segmentor
cfg = Config.fromfile("configs/fcn/fcn_r50-d8_512x1024_40k_cityscapes.py")
cfg.model.pretrained = None
torch.manual_seed(0)
model = build_segmentor(cfg.model)
model.init_weights()
torch.save(dict(state_dict=model.state_dict(), meta={}), sys.argv[1])
PY
}

bench() {  # PRECISION
    local precision=$1
    r50_weights || return 1
    "$python" tools/benchmark.py configs/fcn/fcn_r50-d8_512x1024_40k_cityscapes.py \
        "$WORK/r50.pth" --device "$DEVICE" --precision "$precision" --num-images "$BENCH_IMAGES" \
        --num-warmup 2 --work-dir "$WORK/bench_$precision" --options \
        "data.test.type=SyntheticVOCDataset" "data.test.data_root=$WORK/voc_r50" \
        "data.test.img_dir=JPEGImages" "data.test.ann_dir=SegmentationClass" \
        "data.test.split=ImageSets/Segmentation/val.txt" "data.workers_per_gpu=2" \
        "data.test.pipeline.1.img_scale=$R50_SCALE" \
        "model.backbone.norm_cfg.type=BN" "model.decode_head.norm_cfg.type=BN" \
        "model.auxiliary_head.norm_cfg.type=BN" &&
    "$python" - "$WORK/bench_$precision" <<'PY'
import glob, json, sys
r = json.load(open(sorted(glob.glob(sys.argv[1] + "/fps_*.json"))[-1]))
print("NOTE: %s img/s, peak %s MiB (%s), %s" % (r["average_fps"], r["peak_memory_mb"],
      r["peak_memory_kind"], r["device_name"]))
PY
}

mmseg_r50() {
    "$python" benchmarks/mmseg_side_by_side.py --venv "$MMSEG_VENV" --rows fcn_r50_whole \
        --runs 1 --warmup 1 --iters 2 --device "$DEVICE" --work-dir "$WORK/side_by_side" \
        --out "$WORK/side_by_side.md" &&
    echo "NOTE: $(grep 'FCN R50-D8 whole' "$WORK/side_by_side.md" | head -n 1 | tr '|' ' ')"
}

export ROOT DEVICE python WORK MMSEG_VENV NPROC SIZE R50_SIZE R50_SCALE BENCH_IMAGES ITERS \
    TRAIN_ARGS
export -f env_info make_data resume_exact dist_train dist_test test_batched r50_weights bench \
    mmseg_r50

step env env_info
step data make_data
step train_amp "$python" tools/train.py "$WORK/tiny.py" --work-dir "$WORK/train" --amp \
    $TRAIN_ARGS
step resume_exact resume_exact
if [ "$NPROC" -ge 1 ]; then
    step dist_train dist_train
    step dist_test dist_test
else
    skip dist_train "no visible GPU"
    skip dist_test "no visible GPU"
fi
step whole_batched test_batched whole
step slide_batched test_batched slide --options model.test_cfg.mode=slide \
    "model.test_cfg.crop_size=($CROP,$CROP)" "model.test_cfg.stride=($STRIDE,$STRIDE)"
for precision in fp32 fp16 bf16; do
    step "bench_$precision" bench "$precision"
done
if [ -x "$MMSEG_VENV/bin/python" ]; then
    step mmseg_r50 mmseg_r50
else
    skip mmseg_r50 "no MMSeg virtualenv at $MMSEG_VENV" \
        "(benchmarks/mmseg_side_by_side.py --setup needs PyPI)"
fi

echo
echo "GPU check on $DEVICE ($(date -u '+%Y-%m-%d %H:%M UTC')), logs in $WORK"
print_summary "$RESULTS"
! grep -q $'\tFAIL\t' "$RESULTS"
