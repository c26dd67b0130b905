"""Every config under configs/ names only dataset and pipeline types that seglab registers, with
keys their constructors accept (the registry's key check, without touching the disk).

Keyed on the tree: the data section of each config is walked (train / val / test, dataset
wrappers, lists of datasets, and the transforms nested in ``MultiScaleFlipAug``). With the
MMSegmentation v0.30.0 tree in configs/ this covers all of its 644 leaf configs.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator, List, Mapping, Optional, Tuple

import pytest

import seglab.datasets  # noqa: F401  (registers the datasets and transforms)
from seglab.config import Config
from seglab.errors import RegistryError
from seglab.registry import DATASETS, TRANSFORMS, check_keys

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "configs").rglob("*.py")
                 if "_base_" not in p.parts and not p.is_relative_to(ROOT / "configs/1.x"))
SPLITS = ("train", "val", "test")
WRAPPERS = {"RepeatDataset": ("dataset",), "ConcatDataset": ("datasets",)}


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _transforms(pipeline, where: str) -> Iterator[Tuple[str, Mapping]]:
    for i, step in enumerate(_as_list(pipeline or [])):
        yield f"{where}[{i}]", step
        if isinstance(step, Mapping) and "transforms" in step:
            yield from _transforms(step["transforms"], f"{where}[{i}].transforms")


def _datasets(cfg, where: str) -> Iterator[Tuple[str, Mapping]]:
    for i, ds in enumerate(_as_list(cfg)):
        at = where if not isinstance(cfg, (list, tuple)) else f"{where}[{i}]"
        yield at, ds
        for key in WRAPPERS.get(ds.get("type"), ()):
            yield from _datasets(ds[key], f"{at}.{key}")


def _problem(registry, cfg: Mapping, where: str, seen: set, skip=()) -> List[str]:
    cls = registry.get(cfg.get("type")) if isinstance(cfg.get("type"), str) else None
    seen.add(cfg.get("type"))
    if cls is None:
        return [f"{where}: {registry.name} type {cfg.get('type')!r} is not registered"]
    try:
        check_keys(cls, [k for k in cfg if k != "type" and k not in skip], where)
    except RegistryError as e:
        return [str(e)]
    return []


def config_problems(path: Path, seen: Optional[set] = None) -> List[str]:
    """Unregistered dataset / transform types and refused keys of one config file; the type
    names met are added to ``seen``."""
    seen = set() if seen is None else seen
    data = Config.fromfile(path).data
    problems = []
    for split in SPLITS:
        if split not in data:
            continue
        for where, ds in _datasets(data[split], f"data.{split}"):
            wrapped = WRAPPERS.get(ds.get("type"), ())
            problems += _problem(DATASETS, ds, where, seen, skip=wrapped)
            for at, step in _transforms(ds.get("pipeline"), f"{where}.pipeline"):
                problems += _problem(TRANSFORMS, step, at, seen)
    return problems


def test_the_tree_holds_mmsegs_leaf_configs():
    listed = (ROOT / "tests/model_configs/mmseg_v0.30.0_configs.txt").read_text().splitlines()
    leaves = [line.split()[1] for line in listed
              if line and not line.startswith("#") and not line.split()[1].startswith("_base_/")]
    assert len(leaves) == 644
    assert not set(f"configs/{p}" for p in leaves) - set(CONFIGS)


def test_every_config_names_registered_dataset_and_pipeline_types():
    seen: set = set()
    problems = {path: found for path in CONFIGS
                if (found := config_problems(ROOT / path, seen))}
    assert not problems, "\n".join(f"{p}: {'; '.join(f)}" for p, f in problems.items())
    # the walk reached every dataset family of MMSeg's tree and the nested test transforms
    assert {"ADE20KDataset", "CityscapesDataset", "PascalVOCDataset", "PascalContextDataset",
            "PascalContextDataset59", "COCOStuffDataset", "DRIVEDataset", "HRFDataset",
            "STAREDataset", "ChaseDB1Dataset", "LoveDADataset", "PotsdamDataset", "ISPRSDataset",
            "iSAIDDataset", "FaceOccludedDataset", "DarkZurichDataset", "NightDrivingDataset",
            "RepeatDataset", "MultiScaleFlipAug", "ImageToTensor", "ResizeToMultiple",
            "RandomRotate"} <= seen


_AUG = dict(type="MultiScaleFlipAug", img_scale=(8, 8), transforms=[dict(type="Resise")])
_REPEATED = dict(type="RepeatDataset", times=2, dataset=dict(
    type="PotsdamDataset", img_dir="x", pipeline=[dict(type="LoadImageFromFile"), _AUG]))
_FLIP = dict(type="RandomFlip", prob=0.5, directoin="vertical")


@pytest.mark.parametrize("data, message", [
    (dict(train=dict(type="LoveDADatset", pipeline=[])), "'LoveDADatset' is not registered"),
    (dict(test=_REPEATED), r"data.test.dataset.pipeline\[1\].transforms\[0\]: .*'Resise'"),
    (dict(val=[dict(type="iSAIDDataset", img_dir="x", pipeline=[], img_suffix=".jpg")]),
     r"data.val\[0\].*'img_suffix'"),
    (dict(val=dict(type="CityscapesDataset", img_dir="x", pipeline=[_FLIP])), "'directoin'"),
])
def test_the_walk_finds_bad_types_and_keys(data, message, tmp_path):
    path = tmp_path / "bad.py"
    path.write_text(f"data = {data!r}\n")
    problems = "; ".join(config_problems(path))
    assert re.search(message, problems), problems
