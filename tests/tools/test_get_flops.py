"""tools/get_flops.py: torch's flop count on the meta device, FLOPs and MACs both stated."""
import re

import pytest
import torch

from after_training_helpers import SMOKE, error_line, load_tool
from seglab.apis.benchmark import count_flops
from seglab.config import Config
from seglab.models import build_segmentor
from train_helpers import ROOT, run_tool


def _cpu_reference(height, width):
    cfg = Config.fromfile(SMOKE)
    model = build_segmentor(cfg.model).eval()
    return (count_flops(model, torch.zeros(1, 3, height, width)),
            sum(p.numel() for p in model.parameters()))


def test_prints_flops_macs_and_params_as_counted_on_real_tensors(tmp_path):
    result = run_tool("get_flops.py", SMOKE, "--shape", "64", "32", cwd=tmp_path)
    out = result.stdout
    assert "Input shape: (3, 64, 32)" in out
    gflops = float(re.search(r"Flops: ([\d.]+) GFLOPs", out).group(1))
    gmacs = float(re.search(r"MACs: ([\d.]+) GMACs", out).group(1))
    params = float(re.search(r"Params: ([\d.]+) M", out).group(1))
    flops, num_params = _cpu_reference(64, 32)
    assert gflops == pytest.approx(round(flops / 1e9, 3))
    assert gmacs == pytest.approx(round(flops / 2e9, 3))
    assert params == pytest.approx(round(num_params / 1e6, 3))


def test_meta_count_equals_cpu_count_and_scales_with_pixels():
    tool = load_tool("get_flops.py")
    small = tool.get_flops(Config.fromfile(SMOKE), tool.input_shape_of([32]))
    assert small == tool.get_flops(Config.fromfile(SMOKE), (3, 32, 32), device="cpu")
    flops, params = _cpu_reference(32, 32)
    assert small == dict(flops=flops, macs=flops // 2, params=params)
    # Every counted op (convolutions) works per output pixel; the strides divide 64 and 32.
    tall = tool.get_flops(Config.fromfile(SMOKE), tool.input_shape_of([64, 32]))
    assert tall["flops"] == 2 * small["flops"] > 0
    # 2048x1024 costs nothing on the meta device (the MMSeg default shape).
    big = tool.get_flops(Config.fromfile(SMOKE), tool.input_shape_of([2048, 1024]))
    assert big["flops"] == 2048 * small["flops"]


@pytest.mark.parametrize("shape, message", [(["1", "2", "3"], "give H W or one size"),
                                            (["0", "8"], "sizes must be >= 1")])
def test_bad_shape_is_one_error_line(shape, message, capsys):
    from seglab.apis.cli import run_tool as run_main

    assert run_main(load_tool("get_flops.py").main, [str(SMOKE), "--shape", *shape]) == 2
    assert message in error_line(capsys)


def test_segformer_b0_matches_the_published_count():
    """The SegFormer paper gives SegFormer-B0 on ADE20K at 512x512 as 8.4 "GFLOPs" (counted as
    MACs, as mmcv does) and 3.8 M parameters: torch's count halved gives the same number."""
    tool = load_tool("get_flops.py")
    cfg = Config.fromfile(ROOT / "configs/segformer/segformer_mit-b0_512x512_160k_ade20k.py")
    result = tool.get_flops(cfg, tool.input_shape_of([512]))
    assert round(result["macs"] / 1e9, 1) == 8.4
    assert round(result["params"] / 1e6, 1) == 3.8
