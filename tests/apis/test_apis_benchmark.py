"""benchmark_segmentor: what is timed, FLOPs, memory, cycling a small test set."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from apis_helpers import NUM_CLASSES, OracleSegmentor
from seglab.apis.benchmark import benchmark_segmentor, count_flops, device_name
from seglab.apis.cli import build_test_loader


class OneConv(nn.Module):
    """A 3->4 1x1 convolution segmentor: 2 * 3 * 4 FLOPs per pixel."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1, bias=False)
        self.calls = 0

    def forward_dummy(self, img):
        return self.conv(img)

    def forward(self, img, img_metas, return_loss=False, rescale=True):
        self.calls += 1
        img = img[0] if isinstance(img, list) else img
        return list(self.forward_dummy(img).argmax(1).numpy())


def test_count_flops_of_one_conv():
    assert count_flops(OneConv(), torch.zeros(1, 3, 8, 10)) == 2 * 3 * 4 * 8 * 10


def test_benchmark_counts_warmup_and_cycles_the_dataset(cfg):
    _, loader = build_test_loader(cfg, batch_size=1)
    model = OneConv()
    lines = []
    stats = benchmark_segmentor(model, loader, num_images=7, num_warmup=2, log_interval=3,
                                device="cpu", log=lines.append)
    assert model.calls == 9  # 2 warm-up + 7 timed, over a test set of 5 images
    assert lines[0].startswith("Done image [3  / 7], fps: ") and len(lines) == 2
    assert stats["num_images"] == 7 and stats["fps"] > 0
    assert stats["mean_time_ms"] == pytest.approx(1000.0 / stats["fps"])
    h, w = stats["flops_input_shape"][2:]
    assert stats["gflops"] == pytest.approx(2 * 3 * 4 * h * w / 1e9)
    assert stats["peak_memory_kind"] == "cpu_peak_rss" and stats["peak_memory_mb"] > 10
    assert stats["torch_version"] == torch.__version__
    assert stats["device"] == "cpu" and stats["device_name"] == device_name(torch.device("cpu"))


def test_benchmark_times_the_forward_not_the_data_loading(cfg, monkeypatch):
    """A fake clock: loading an image takes 100 s, a forward 1 s; the mean must be 1 s."""
    import types

    import seglab.apis.benchmark as benchmark_module

    clock = [0.0]
    monkeypatch.setattr(benchmark_module, "time",
                        types.SimpleNamespace(perf_counter=lambda: clock[0]))
    _, loader = build_test_loader(cfg, batch_size=1)
    dataset = loader.dataset
    original = type(dataset).__getitem__

    def slow_getitem(self, idx):
        clock[0] += 100.0
        return original(self, idx)

    class OneSecond(OracleSegmentor):
        def forward(self, *args, **kwargs):
            clock[0] += 1.0
            return super().forward(*args, **kwargs)

    monkeypatch.setattr(type(dataset), "__getitem__", slow_getitem)
    stats = benchmark_segmentor(OneSecond(dataset, NUM_CLASSES), loader, num_images=3,
                                num_warmup=1, log_interval=0, count_flops_once=False)
    assert stats["mean_time_ms"] == 1000.0 and stats["fps"] == 1.0
    assert stats["gflops"] is None


def test_benchmark_argument_checks(cfg):
    _, loader = build_test_loader(cfg, batch_size=1)
    with pytest.raises(ValueError, match="num_images"):
        benchmark_segmentor(OneConv(), loader, num_images=0)
    assert isinstance(device_name(torch.device("cpu")), str) and device_name(
        torch.device("cpu"))
    assert np.isfinite(benchmark_segmentor(OneConv(), loader, num_images=1, num_warmup=0,
                                           log_interval=0)["fps"])
