"""configs/ holds MMSegmentation v0.30.0's configs: every file, by name and byte for byte.

``mmseg_v0.30.0_configs.txt`` lists the sha256 and path of every ``.py`` under the v0.30.0 wheel's
``mmseg/.mim/configs`` (its header says how it was made): 644 leaf configs and 76 ``_base_`` files.
Here: each listed file is in seglab's tree (a family still being added is listed in PENDING with
the issue that brings it), nothing else is there but seglab's own demo configs, and each file is
MMSeg's bytes, except the few edits in EDITED, each checked to be exactly that edit. That every
config also builds its model is tests/model_configs/test_configs_build.py.
"""
import hashlib
import re
import warnings
from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.errors import ConfigError
from seglab.models import build_segmentor

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
LIST = Path(__file__).with_name("mmseg_v0.30.0_configs.txt")


def _read_list():
    sha = {}
    for line in LIST.read_text().splitlines():
        if line.startswith("#"):
            continue
        digest, path = line.split("  ", 1)
        assert re.fullmatch(r"[0-9a-f]{64}", digest), f"{LIST.name}: bad line {line!r}"
        sha[path] = digest
    return sha


MMSEG = _read_list()
LEAVES = [p for p in MMSEG if not p.startswith("_base_/")]
# configs/1.x/ holds MMSeg 1.x configs (tests/model_configs/test_configs_1x_tree.py), not 0.x ones
TREE = sorted(p.relative_to(CONFIGS).as_posix() for p in CONFIGS.rglob("*.py")
              if not p.is_relative_to(CONFIGS / "1.x"))

# v0.30.0 families not (all) in the tree yet, each with the issue that brings it: remove an
# entry when its family is complete (a test below says so).
PENDING: dict = {}  # e.g. {"knet/": "issue 12 (K-Net heads)"}
# seglab's own configs (tiny runs on generated data), not MMSeg's
OWN = ("demo/", "_base_/datasets/synthetic_voc.py")

PRETRAINED_NOTE = re.compile(r"# seglab: pretrained=None added;.*?\n(?=model = dict\()", re.S)


def _undo_pretrained_none(text):
    """The LoveDA files MMSeg cannot build: a note and ``pretrained=None`` added to the model."""
    text, notes = PRETRAINED_NOTE.subn("", text)
    text, lines = re.subn(r"(model = dict\(\n)    pretrained=None,\n", r"\1", text)
    assert notes == lines == 1, "expected one '# seglab: ...' note and one pretrained=None line"
    return text


def _undo_copyright(text):
    line = "# Copyright (c) OpenMMLab. All rights reserved.\n"
    assert text.startswith(line)
    return text[len(line):]


def _undo_cudnn_benchmark(text):
    tail = "\n\ncudnn_benchmark = False\n"
    assert text.endswith(tail)
    return text[:-len(tail)] + "\n"


# Files that differ from v0.30.0, why, and how to get MMSeg's bytes back. LoveDA: MMSeg
# v0.30.0 inherits the base's model.pretrained next to the file's backbone.init_cfg and refuses
# to build them ('init_cfg and pretrained cannot be setting at the same time').
LOVEDA = ["hrnet/fcn_hr18s_512x512_80k_loveda.py", "hrnet/fcn_hr48_512x512_80k_loveda.py",
          "pspnet/pspnet_r18-d8_512x512_80k_loveda.py",
          "pspnet/pspnet_r101-d8_512x512_80k_loveda.py",
          "deeplabv3plus/deeplabv3plus_r18-d8_512x512_80k_loveda.py",
          "deeplabv3plus/deeplabv3plus_r101-d8_512x512_80k_loveda.py"]
EDITED = {path: ("pretrained=None next to init_cfg (MMSeg cannot build it)",
                 _undo_pretrained_none) for path in LOVEDA}
# a leading copyright comment, no values changed
EDITED.update({f"resnest/{head}_s101-d8_{data}.py": ("copyright comment", _undo_copyright)
               for head in ("fcn", "pspnet", "deeplabv3", "deeplabv3plus")
               for data in ("512x1024_80k_cityscapes", "512x512_160k_ade20k")})
# a value v0.30.0's files do not set (they inherit default_runtime's cudnn_benchmark = True)
EDITED.update({f"mobilenet_v3/lraspp_m-v3s-d8{scratch}_512x1024_320k_cityscapes.py": (
    "cudnn_benchmark = False appended", _undo_cudnn_benchmark) for scratch in ("", "_scratch")})


def _sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def _pending(path):
    return next((prefix for prefix in PENDING if path.startswith(prefix)), None)


def test_the_list_is_mmseg_v0_30_0s():
    assert len(LEAVES) == 644 and len(MMSEG) - len(LEAVES) == 76
    assert LEAVES == sorted(LEAVES)
    # spot checks against the wheel's names
    for path in ("fcn/fcn_r50-d8_512x1024_40k_cityscapes.py", "knet/"
                 "knet_s3_upernet_swin-l_8x2_640x640_adamw_80k_ade20k.py",
                 "deeplabv3plus/deeplabv3plus_r101_512x512_C-CM+C-WO-NatOcc-SOT.py",
                 "_base_/datasets/occlude_face.py", "_base_/default_runtime.py"):
        assert path in MMSEG


def test_every_mmseg_config_is_in_the_tree():
    missing = [p for p in MMSEG if p not in TREE and not _pending(p)]
    assert not missing, (f"{len(missing)} MMSegmentation v0.30.0 configs are not under configs/ "
                         f"(copy them unchanged from the v0.30.0 wheel): {missing[:20]}")


def test_pending_families_are_still_incomplete():
    complete = [f"configs/{prefix} ({issue})" for prefix, issue in PENDING.items()
                if all(p in TREE for p in MMSEG if p.startswith(prefix))]
    assert not complete, f"remove from PENDING in {Path(__file__).name}: {complete}"


def test_the_tree_holds_nothing_but_mmseg_and_seglab_demo_configs():
    extra = [p for p in TREE if p not in MMSEG and not p.startswith(OWN)]
    assert not extra, (f"configs/ files that are not MMSegmentation v0.30.0's: {extra}; "
                       f"seglab's own configs go to configs/demo/")
    assert any(p.startswith("demo/") for p in TREE)


@pytest.mark.parametrize("path", [p for p in TREE if p in MMSEG])
def test_a_config_is_mmseg_s_file(path):
    text = (CONFIGS / path).read_bytes().decode()  # no newline translation: the bytes
    if path in EDITED:
        why, undo = EDITED[path]
        assert _sha(text) != MMSEG[path], f"{path} equals MMSeg's file: drop it from EDITED"
        assert _sha(undo(text)) == MMSEG[path], f"{path} differs by more than: {why}"
    else:
        assert _sha(text) == MMSEG[path], (
            f"configs/{path} differs from MMSegmentation v0.30.0's file; configs are MMSeg's "
            "data: copy it unchanged from the v0.30.0 wheel, or list the edit and why in EDITED")


def test_edited_files_are_mmseg_files():
    assert set(EDITED) <= set(MMSEG)


@pytest.mark.parametrize("path", [p for p in LOVEDA if p.startswith(("pspnet", "deeplabv3plus"))])
def test_loveda_resnet_configs_are_what_mmseg_rejects(path):
    """With the R-50 base's pretrained back (MMSeg's resolved model) the build is refused, as in
    MMSeg; seglab's file builds and keeps the init_cfg checkpoint of its depth."""
    cfg = Config.fromfile(CONFIGS / path)
    depth = cfg.model.backbone.depth
    assert depth in (18, 101) and cfg.model.pretrained is None
    assert cfg.model.backbone.init_cfg.to_dict() == {
        "type": "Pretrained", "checkpoint": f"open-mmlab://resnet{depth}_v1c"}
    base = Config.fromfile(CONFIGS / path.replace(f"r{depth}-d8", "r50-d8"))
    assert base.model.pretrained == "open-mmlab://resnet50_v1c"
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        model = build_segmentor(cfg.model)
        assert len(model.backbone.layer3) == {18: 2, 101: 23}[depth]
        cfg.model.pretrained = base.model.pretrained
        with pytest.raises(ConfigError, match="either pretrained or init_cfg, not both"):
            build_segmentor(cfg.model)
