"""Every config under configs/ resolves to a complete 0.x config and builds its model.

Keyed on the configs tree, not on a list: a config file added for a new family is checked here
without a test of its own. The model is built on the meta device (no memory, no download), which
still runs the segmentor's build-time checks (heads' ``in_channels`` / ``in_index`` against the
backbone or neck outputs) and every module's constructor; the optimizer is built too, so the
paramwise rules a config names (layer decay, custom keys) meet the model's real parameter names.
Per-family tests (``test_<family>_configs.py``) check the values MMSegmentation's files hold.
"""
import warnings
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.engine import build_optimizer
from seglab.models import build_segmentor

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "configs").rglob("*.py")
                 if "_base_" not in p.parts)
TOP_LEVEL = ("model", "data", "optimizer", "lr_config", "runner", "log_config", "evaluation",
             "checkpoint_config")


def test_the_tree_has_configs_to_check():
    assert len(CONFIGS) > 100


@pytest.mark.parametrize("path", CONFIGS)
def test_config_resolves_and_builds(path):
    cfg = Config.fromfile(ROOT / path)
    # MMSeg's CGNet configs give the schedule length as the legacy total_iters, not a runner.
    missing = [key for key in TOP_LEVEL if key not in cfg
               and not (key == "runner" and "total_iters" in cfg)]
    assert not missing, f"{path} has no {missing}"
    text = cfg.pretty_text
    assert "_delete_" not in text and "_base_ =" not in text and "'_base_'" not in text
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")  # deprecation notes of 0.x names the configs use
        model = build_segmentor(cfg.model)
        optimizer = build_optimizer(model, cfg.optimizer)
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    grouped = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert trainable <= grouped, f"{path}: trainable parameters left out of the optimizer"
