"""Slide-mode ONNX: seglab's one-window graph + the loop around ONNX Runtime, vs MMSeg 0.x's
graph with the window loop traced in (same process, same weights, same image).

Usage:
    python benchmarks/onnx_slide.py [--config CONFIG] [--shape H W] [--repeat 5] [--threads N]

Default case: configs/fcn/fcn_r18-d8_512x1024_80k_cityscapes.py in slide mode (512x1024 windows,
stride 341x683, as benchmarks/fast_paths.py) with random weights on one 1024x2048 image: 9
windows. Both graphs are exported
with seglab's exporter settings; the traced-loop one is what MMSeg 0.x's tool writes (a fixed
image size, its windows unrolled). Printed per variant: export time, file size, ONNX node
count, the median ONNX Runtime time for the image (windows one at a time in seglab's loop, as
MMSeg's slide_inference sends them) and the max abs logit difference to PyTorch's
slide_inference.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from seglab.apis import onnx_export as ox  # noqa: E402
from seglab.config import Config  # noqa: E402
from seglab.models import build_segmentor  # noqa: E402
from seglab.models.segmentors.inference import slide_windows  # noqa: E402

DEFAULT = "configs/fcn/fcn_r18-d8_512x1024_80k_cityscapes.py"


class TracedLoop(nn.Module):
    """MMSeg 0.x's slide graph: the whole sliding-window average, traced at one image size."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        metas = [dict(img_shape=tuple(img.shape[2:]), ori_shape=tuple(img.shape[2:]))]
        return self.model.slide_inference(img, metas, rescale=False)


def _median_seconds(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=DEFAULT)
    parser.add_argument("--shape", type=int, nargs=2, default=[1024, 2048])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    import onnx

    cfg = Config.fromfile(args.config)
    cfg.model.pretrained = None
    cfg.model.backbone.norm_cfg = cfg.model.decode_head.norm_cfg = dict(type="BN")
    cfg.model.pop("auxiliary_head", None)
    cfg.model.test_cfg = dict(mode="slide", crop_size=(512, 1024), stride=(341, 683))
    model = build_segmentor(cfg.model).eval()
    model.cfg = cfg
    img = torch.randn(1, 3, *args.shape)
    metas = [dict(img_shape=tuple(args.shape), ori_shape=tuple(args.shape))]
    with torch.no_grad():
        reference = model.slide_inference(img, metas, rescale=False)
    windows = len(list(slide_windows(*args.shape, **{
        k: v for k, v in model._slide_options().items() if k != "batch_size"})))
    tmp = tempfile.mkdtemp()
    rows = []

    window_file = osp.join(tmp, "window.onnx")
    start = time.perf_counter()
    ox.export_onnx(model, window_file, (1, 3, *args.shape))
    export_s = time.perf_counter() - start
    twin = ox.ONNXRuntimeSegmentor(window_file, cfg.model)
    with torch.no_grad():
        got = twin.slide_inference(img, metas, rescale=False)
    run_s = _median_seconds(lambda: twin.slide_inference(img, metas, rescale=False), args.repeat)
    rows.append(("window graph + loop (seglab)", export_s, window_file, run_s, got))

    loop_file = osp.join(tmp, "loop.onnx")
    start = time.perf_counter()
    with torch.no_grad(), ox.export_symbolics(ox.DEFAULT_OPSET):
        torch.onnx.export(TracedLoop(model).eval(), (img,), loop_file, input_names=["input"],
                          output_names=["output"], opset_version=ox.DEFAULT_OPSET, dynamo=False)
    export_s = time.perf_counter() - start
    session = ox.ort_session(loop_file)
    got = ox.run_session(session, img)
    run_s = _median_seconds(lambda: ox.run_session(session, img), args.repeat)
    rows.append(("traced loop (MMSeg 0.x)", export_s, loop_file, run_s, got))

    print(f"{args.config}, one {args.shape[0]}x{args.shape[1]} image, {windows} windows, "
          f"{torch.get_num_threads()} threads")
    print(f"{'variant':32s} {'export s':>9s} {'MB':>7s} {'nodes':>6s} {'ORT s':>7s} "
          f"{'max diff':>9s}")
    for name, export_s, path, run_s, got in rows:
        nodes = len(onnx.load(path, load_external_data=False).graph.node)
        print(f"{name:32s} {export_s:9.2f} {os.path.getsize(path) / 2**20:7.1f} {nodes:6d} "
              f"{run_s:7.2f} {float((got - reference).abs().max()):9.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
