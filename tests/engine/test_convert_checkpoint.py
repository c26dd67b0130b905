"""convert_checkpoint: a trusted file with pickled objects becomes one that loads safely."""
import sys
import types

import numpy as np
import torch

from seglab.engine import convert_checkpoint, load_checkpoint


def _pickle_with_foreign_class(path, state_dict):
    # A class living in a module that is not installed here (like mmcv.Config in 0.x checkpoints).
    fake = types.ModuleType("fake_mmcv_config")

    class Config:
        def __init__(self):
            self.text = "model = dict()"

    Config.__module__ = "fake_mmcv_config"
    Config.__qualname__ = "Config"
    fake.Config = Config
    sys.modules["fake_mmcv_config"] = fake
    try:
        torch.save({"meta": {"config": Config(), "PALETTE": np.array([[1, 2, 3]]), "iter": 4},
                    "state_dict": state_dict, "optimizer": {"state": {}, "param_groups": []}}, path)
    finally:
        del sys.modules["fake_mmcv_config"]


def test_convert_keeps_weights_and_plain_meta(tmp_path, toys):
    torch.manual_seed(0)
    model = toys["TinySegmentor"]()
    _pickle_with_foreign_class(tmp_path / "old.pth", model.state_dict())
    out = convert_checkpoint(tmp_path / "old.pth", tmp_path / "new.pth")
    raw = torch.load(tmp_path / "new.pth", weights_only=True)
    assert raw["meta"]["PALETTE"] == [[1, 2, 3]] and raw["meta"]["iter"] == 4
    assert "fake_mmcv_config.Config" in raw["meta"]["config"]
    assert set(raw) == {"meta", "state_dict", "optimizer"} and set(out) == set(raw)
    other = toys["TinySegmentor"]()
    load_checkpoint(other, tmp_path / "new.pth", strict=True)
    assert torch.equal(other.conv.weight, model.conv.weight)
