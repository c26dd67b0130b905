"""Our _base_ model files against what real MMSegmentation produced (shared parity fixtures).

The fixtures' README says each `<m>.model.json` is the MMSeg base model dict with `pretrained=None`,
every norm_cfg set to BN and the listed overrides merged in (new keys appended), and that
`<m>.py.txt` is the same dict as a 0.x config file which mmengine loads back exactly.
"""
import json
import shutil
from pathlib import Path

import pytest

from seglab.config import Config
from shared_data import SHARED

PARITY = Path(f"{SHARED}/data/mmseg-parity")
CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "_base_" / "models"
pytestmark = pytest.mark.skipif(not PARITY.is_dir(), reason="parity fixtures not available")

# The overrides of the fixtures' README table, written as --options.
OVERRIDES = {
    "fcn": ("fcn_r50-d8.py", {
        "model.backbone.depth": 18, "model.backbone.stem_channels": 16,
        "model.backbone.base_channels": 8, "model.decode_head.in_channels": 64,
        "model.decode_head.channels": 16, "model.decode_head.num_classes": 5,
        "model.auxiliary_head.in_channels": 32, "model.auxiliary_head.channels": 8,
        "model.auxiliary_head.num_classes": 5}),
    "pspnet": ("pspnet_r50-d8.py", {}),
    "deeplabv3": ("deeplabv3_r50-d8.py", {}),
    "deeplabv3plus": ("deeplabv3plus_r50-d8.py", {"model.decode_head.c1_in_channels": 32,
                                                  "model.decode_head.c1_channels": 6}),
    "upernet": ("upernet_r50.py", {"model.decode_head.in_channels": [32, 64, 128, 256]}),
}
R50_TINY = {
    "model.backbone.stem_channels": 16, "model.backbone.base_channels": 8,
    "model.decode_head.in_channels": 256, "model.decode_head.channels": 16,
    "model.decode_head.num_classes": 5, "model.auxiliary_head.in_channels": 128,
    "model.auxiliary_head.channels": 8, "model.auxiliary_head.num_classes": 5,
}


def as_json(value):
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("name", sorted(OVERRIDES))
def test_base_model_file_matches_mmseg(name):
    base_file, overrides = OVERRIDES[name]
    if name != "fcn":
        overrides = {**R50_TINY, **overrides}
    cfg = Config.fromfile(CONFIGS / base_file)
    options = {"model.pretrained": None}
    for head in ("backbone", "decode_head", "auxiliary_head"):
        options[f"model.{head}.norm_cfg"] = {"_delete_": True, "type": "BN", "requires_grad": True}
    cfg.merge_from_dict({**options, **overrides})
    expected = json.loads((PARITY / f"{name}_tiny.model.json").read_text())
    got = as_json(cfg.model.to_dict())
    assert got == expected
    assert list(got["backbone"]) == list(expected["backbone"])  # key order too
    assert list(got["decode_head"]) == list(expected["decode_head"])


@pytest.mark.parametrize("name", sorted(OVERRIDES))
def test_mmseg_written_config_loads_unchanged(name, tmp_path):
    path = tmp_path / f"{name}_tiny.py"
    shutil.copy(PARITY / f"{name}_tiny.py.txt", path)
    cfg = Config.fromfile(path)
    expected = json.loads((PARITY / f"{name}_tiny.model.json").read_text())
    assert as_json(cfg.model.to_dict()) == expected
    assert isinstance(cfg.model.backbone.out_indices, tuple)
    assert cfg.norm_cfg.to_dict() == {"type": "BN", "requires_grad": True}
