"""configs/1.x/ holds MMSegmentation v1.2.2's configs of seglab's families: every file, by name and
byte for byte.

``mmseg_v1.2.2_configs.txt`` lists the sha256 and path of each ``.py`` copied from the v1.2.2
wheel's ``mmseg/.mim/configs`` (its header says how it was made and which families were left out):
the whole ``_base_`` tree and the method folders of the families seglab has. Here: each listed file
is in configs/1.x/ with MMSeg's bytes, nothing else is there but seglab's own 1.x demo configs, and
the README names the families left out. That the 0.x walkers skip configs/1.x is
test_configs_build.py / test_configs_complete.py / test_configs_types_exist.py; which 1.x types
seglab runs is test_configs_1x_types_exist.py.
"""
import hashlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TREE_DIR = ROOT / "configs" / "1.x"
LIST = Path(__file__).with_name("mmseg_v1.2.2_configs.txt")
# seglab's own 1.x configs (tiny runs on generated data) and the README
OWN = ("demo/", "README.md")


def _read_list():
    sha, left_out = {}, None
    for line in LIST.read_text().splitlines():
        if line.startswith("# left out"):
            left_out = line.split(":", 1)[1].split()
        if line.startswith("#"):
            continue
        digest, path = line.split("  ", 1)
        assert re.fullmatch(r"[0-9a-f]{64}", digest), f"{LIST.name}: bad line {line!r}"
        sha[path] = digest
    assert left_out, f"{LIST.name}: no '# left out ...:' header line"
    return sha, left_out


MMSEG, LEFT_OUT = _read_list()
LEAVES = [p for p in MMSEG if not p.startswith("_base_/")]
TREE = sorted(p.relative_to(TREE_DIR).as_posix() for p in TREE_DIR.rglob("*") if p.is_file()
              and "__pycache__" not in p.parts)
FAMILIES = sorted({p.split("/")[0] for p in LEAVES})


def test_the_list_is_mmseg_v1_2_2s():
    assert len(LEAVES) == 654 and len(MMSEG) - len(LEAVES) == 88
    assert list(MMSEG) == sorted(MMSEG)
    # spot checks against the wheel's names: 1.x spells the GPUs x batch and the crop size
    for path in ("fcn/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py",
                 "segnext/segnext_mscan-t_1xb16-adamw-160k_ade20k-512x512.py",
                 "pidnet/pidnet-s_2xb6-120k_1024x1024-cityscapes.py",
                 "ddrnet/ddrnet_23-slim_in1k-pre_2xb6-120k_cityscapes-1024x1024.py",
                 "_base_/datasets/mapillary_v2.py", "_base_/models/vpd_sd.py",
                 "_base_/default_runtime.py"):
        assert path in MMSEG, path
    assert {"segnext", "pidnet", "ddrnet", "fcn", "segformer", "swin", "knet"} <= set(FAMILIES)
    assert not set(LEFT_OUT) & set(FAMILIES)


def test_every_family_of_the_0x_tree_has_its_1x_folder():
    zero_x = {p.name for p in (ROOT / "configs").iterdir()
              if p.is_dir() and p.name not in ("_base_", "demo", "1.x")}
    assert zero_x <= set(FAMILIES), f"0.x families without 1.x configs: {zero_x - set(FAMILIES)}"


def test_every_listed_config_is_in_the_tree():
    missing = [p for p in MMSEG if p not in TREE]
    assert not missing, (f"{len(missing)} MMSegmentation v1.2.2 configs are not under configs/1.x/ "
                         f"(copy them unchanged from the v1.2.2 wheel): {missing[:20]}")


def test_the_tree_holds_nothing_but_mmseg_and_seglab_demo_configs():
    extra = [p for p in TREE if p not in MMSEG and not p.startswith(OWN)]
    assert not extra, (f"configs/1.x/ files that are not MMSegmentation v1.2.2's: {extra}; "
                       f"seglab's own 1.x configs go to configs/1.x/demo/")


def test_the_readme_names_the_families_left_out():
    readme = (TREE_DIR / "README.md").read_text()
    (line,) = [ln for ln in readme.splitlines() if ln.startswith("Left out")]
    assert re.findall(r"[\w.-]+(?=[,.])", line.split(":", 1)[1]) == LEFT_OUT
    assert not [f for f in LEFT_OUT if (TREE_DIR / f).exists()]


@pytest.mark.parametrize("path", [p for p in MMSEG if p in TREE])
def test_a_config_is_mmseg_s_file(path):
    data = (TREE_DIR / path).read_bytes()  # the bytes, no newline translation
    assert hashlib.sha256(data).hexdigest() == MMSEG[path], (
        f"configs/1.x/{path} differs from MMSegmentation v1.2.2's file; configs are MMSeg's "
        "data: copy it unchanged from the v1.2.2 wheel")
