"""Parts of the MMSeg model-zoo fixtures (shared/data/mmseg-zoo) for per-module tests."""
from __future__ import annotations

from pathlib import Path
from typing import Dict

import pytest
import torch

from shared_data import SHARED

ZOO = Path(f"{SHARED}/data/mmseg-zoo")


def zoo_state(name: str, prefix: str) -> Dict[str, torch.Tensor]:
    """The fixture's state_dict entries under ``prefix`` (e.g. ``'backbone.'``), prefix removed;
    skips the test when the fixtures are not available."""
    path = ZOO / f"{name}.state_dict.pth"
    if not path.is_file():
        pytest.skip("MMSeg zoo fixtures not available")
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def zoo_feats(name: str) -> dict:
    """The fixture's ``<name>.feats.pt`` (backbone / neck / head outputs in eval mode)."""
    return torch.load(ZOO / f"{name}.feats.pt", map_location="cpu", weights_only=True)


def zoo_inputs(name: str) -> Dict[str, torch.Tensor]:
    """The fixture's own inputs (``<name>.inputs.pt``) or the shared ``inputs.pt``."""
    own = ZOO / f"{name}.inputs.pt"
    path = own if own.is_file() else ZOO / "inputs.pt"
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_matches_fixture(module: torch.nn.Module, name: str, part: str = "backbone") -> None:
    """Load the fixture's ``part`` weights strictly into ``module`` and compare its eval-mode
    outputs with ``feats.pt[part]`` (a neck runs on the fixture's backbone outputs)."""
    module.load_state_dict(zoo_state(name, f"{part}."), strict=True)
    feats = zoo_feats(name)
    inputs = zoo_inputs(name)["x"] if part == "backbone" else feats["backbone"]
    with torch.no_grad():
        outs = module.eval()(inputs)
    assert len(outs) == len(feats[part])
    for ours, ref in zip(outs, feats[part]):
        torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
