"""benchmarks/models.py --families: the table's rows, parameter and multiply-add counts."""
import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from seglab.config import Config
from seglab.models import build_segmentor

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("seglab_benchmarks_models",
                                                  ROOT / "benchmarks/models.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


class HandMade(nn.Module):
    """A strided conv, a depthwise conv, a 1x1 conv and an attention-style matrix product."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.pw = nn.Conv2d(8, 4, 1)

    def encode_decode(self, img, img_metas):
        x = self.pw(torch.relu(self.dw(self.conv(img))))  # (1, 4, 8, 8)
        tokens = x.flatten(2).transpose(1, 2)  # (1, 64, 4)
        attn = tokens @ tokens.transpose(1, 2)  # (1, 64, 64)
        return x + attn.mean(-1).view(1, 1, 8, 8)


def test_multiply_adds_of_a_hand_made_model(bench):
    out_pixels = 8 * 8
    expected = (out_pixels * 8 * 3 * 3 * 3  # conv: every output value takes 3 x 3 x 3 products
                + out_pixels * 8 * 3 * 3  # depthwise: one input channel per output channel
                + out_pixels * 4 * 8  # 1x1 conv
                + 64 * 64 * 4)  # tokens @ tokens^T
    assert bench.count_macs(HandMade(), torch.randn(1, 3, 16, 16)) == expected == 36864
    # the meta device (no compute) gives the same count
    with torch.device("meta"):
        model = HandMade()
    assert bench.count_macs(model, torch.zeros(1, 3, 16, 16, device="meta")) == expected


@pytest.mark.filterwarnings("ignore::UserWarning")  # SyncBN on one process, 0.x loss defaults
def test_families_table_has_the_rows_and_the_parameter_counts(bench, capsys):
    rows = bench.main(["--families", "--family", "fcn", "--family", "bisenetv2", "--size", "64",
                       "--repeat", "2", "--warmup", "0", "--threads", "1"])
    out = capsys.readouterr().out
    assert [r.family for r in rows] == ["fcn", "bisenetv2"]  # FCN-R18-D8 first, the baseline
    assert torch.__version__ in out and "CPU: " in out and "1x3x64x64" in out
    for row in rows:
        cfg = Config.fromfile(ROOT / "configs" / row.family / row.config)
        model = build_segmentor(cfg.model)
        assert row.params == sum(p.numel() for p in model.parameters())
        assert row.macs == bench.count_macs(model.eval(), torch.zeros(1, 3, 64, 64))
        assert row.seconds > 0 and row.note == ""
        line = next(line for line in out.splitlines() if line.startswith(f"| {row.family} "))
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[:4] == [row.family, row.config, f"{row.params / 1e6:.2f}",
                             f"{row.macs / 1e9:.1f}"]
    assert rows[0].config == "fcn_r18-d8_512x1024_80k_cityscapes.py"
    assert rows[1].config.startswith("bisenetv2_fcn")


def test_max_gflops_leaves_a_model_untimed_and_says_why(bench, capsys):
    (row,) = bench.main(["--families", "--family", "fcn", "--size", "64", "--max-gflops", "0.1"])
    assert row.seconds is None and row.macs > 0.1e9 and "--max-gflops 0.1" in row.note
    assert row.note in capsys.readouterr().out


def test_every_family_folder_gets_one_existing_config(bench):
    families = bench.family_configs()
    folders = sorted(p.name for p in (ROOT / "configs").iterdir()
                     if p.is_dir() and p.name not in ("_base_", "demo", "1.x"))
    assert sorted(f for f, _ in families) == folders
    assert all(path.exists() and path.parent.name == family for family, path in families)
    realtime = [f for f, _ in families][:len(bench.REALTIME)]
    assert realtime[0] == "fcn" and {"bisenetv2", "stdc", "fastscnn"} <= set(realtime)
    # every name in the table is a file (a renamed config would silently fall back otherwise)
    assert all((ROOT / "configs" / f / n).exists() for f, n in bench.REPRESENTATIVE.items())


def test_unknown_family_and_syncbn(bench):
    with pytest.raises(SystemExit, match="--family fcnn: no such folder"):
        bench.family_configs(only=["fcnn"])
    cfg = dict(a=dict(type="SyncBN", requires_grad=True), b=[dict(norm_cfg=dict(type="SyncBN"))])
    assert bench.syncbn_to_bn(cfg) == dict(a=dict(type="BN", requires_grad=True),
                                           b=[dict(norm_cfg=dict(type="BN"))])
    assert cfg["a"]["type"] == "SyncBN"  # a copy: the config is left alone
