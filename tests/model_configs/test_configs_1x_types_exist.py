"""Every ``type=`` a 1.x config under configs/1.x/ names is one seglab runs, or the config is in the
manifest ``configs_1x_missing.py`` with exactly the types it lacks.

Each file (``_base_`` ones too, loaded on their own) is resolved with seglab's Config and every
dict with a string ``type`` is collected, wherever it sits: model, dataloaders and their datasets,
pipelines (``TestTimeAug``'s lists of lists too), evaluators, optimizer wrapper, schedulers, loops,
hooks, visualizer. A type is known when a seglab registry or layer table holds it, or when the 1.x
converter (``seglab.config.v1x``) maps it onto seglab's runtime. The transforms of the pipelines
are also checked against their constructors' keys (a registered transform must take the 1.x
arguments the config gives it). The manifest can only shrink: a listed config that now has every
type fails here. ``python tests/model_configs/test_configs_1x_types_exist.py`` prints the manifest
seglab's registries give today.
"""
from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import Iterator, List, Mapping, Tuple

import pytest

import seglab.datasets  # noqa: F401  (registers datasets and transforms)
import seglab.engine  # noqa: F401  (optimizers, schedulers, hooks, runners)
import seglab.models  # noqa: F401
from seglab import registry
from seglab.config import Config
from seglab.errors import RegistryError
from seglab.models.backbones import unet
from seglab.models.decode_heads import knet_head
from seglab.models.layers import activation, conv, norm, weight_init

from configs_1x_missing import MISSING, WHY  # the manifest beside this file

ROOT = Path(__file__).resolve().parents[2]

TREE = ROOT / "configs" / "1.x"
CONFIGS = sorted(p.relative_to(ROOT).as_posix() for p in TREE.rglob("*.py"))

# The 1.x types the converter maps onto seglab's runtime (data_preprocessor, samplers, evaluators,
# optimizer wrappers, loops, hooks, visualizer, TTA model), used until seglab.config.v1x exposes
# its own set as MAPPED_TYPES.
CONVERTER_TYPES_UNTIL_V1X = frozenset({
    "SegDataPreProcessor", "DefaultSampler", "InfiniteSampler", "IoUMetric", "CityscapesMetric",
    "OptimWrapper", "AmpOptimWrapper", "IterBasedTrainLoop", "EpochBasedTrainLoop", "ValLoop",
    "TestLoop", "IterTimerHook", "LoggerHook", "ParamSchedulerHook", "CheckpointHook",
    "DistSamplerSeedHook", "SegVisualizationHook", "SegLocalVisualizer", "LocalVisBackend",
    "SegTTAModel", "PolyLR", "LinearLR", "ConstantLR", "MultiStepLR", "CosineAnnealingLR"})


def converter_types() -> frozenset:
    try:
        v1x = importlib.import_module("seglab.config.v1x")
    except ImportError:
        return CONVERTER_TYPES_UNTIL_V1X
    return frozenset(getattr(v1x, "MAPPED_TYPES", CONVERTER_TYPES_UNTIL_V1X))


def known_types() -> frozenset:
    """Every type name seglab builds: the registries, the layer tables, the converter's types."""
    registries = [obj for obj in vars(registry).values() if isinstance(obj, registry.Registry)]
    registries += [knet_head.TRANSFORMER_LAYERS, knet_head.KERNEL_UPDATE_HEADS]
    names = {name for reg in registries for name in reg}
    names |= set(activation.ACTIVATIONS) | set(conv.CONV_LAYERS) | set(norm._NORM_LAYERS)
    names |= set(weight_init._INITIALIZERS) | {"Pretrained"} | set(unet.UPSAMPLE_LAYERS)
    return frozenset(names | converter_types())


KNOWN = known_types()


def _types(value, found: set) -> set:
    if isinstance(value, Mapping):
        if isinstance(value.get("type"), str):
            found.add(value["type"])
        for item in value.values():
            _types(item, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _types(item, found)
    return found


def _is_known(name: str) -> bool:
    # a scope (mmseg.X, mmpretrain.ConvNeXt) is the registry's business: the bare name is looked up
    return name in KNOWN or name.rpartition(".")[2] in KNOWN


def _pipelines(cfg: Mapping) -> Iterator[Tuple[str, list]]:
    """(where, pipeline) of every dataset of the dataloaders (wrappers too) and of tta_pipeline."""
    def datasets(ds, where):
        if isinstance(ds, (list, tuple)):
            for i, d in enumerate(ds):
                yield from datasets(d, f"{where}[{i}]")
        elif isinstance(ds, Mapping):
            if "pipeline" in ds:
                yield f"{where}.pipeline", ds["pipeline"]
            for key in ("dataset", "datasets"):
                if key in ds:
                    yield from datasets(ds[key], f"{where}.{key}")
    for split in ("train", "val", "test"):
        loader = cfg.get(f"{split}_dataloader")
        if isinstance(loader, Mapping):
            yield from datasets(loader.get("dataset"), f"{split}_dataloader.dataset")
    if "tta_pipeline" in cfg:
        yield "tta_pipeline", cfg["tta_pipeline"]


def _steps(pipeline, where: str) -> Iterator[Tuple[str, Mapping]]:
    for i, step in enumerate(pipeline or []):
        if isinstance(step, (list, tuple)):  # TestTimeAug's transforms: a list of lists
            yield from _steps(step, f"{where}[{i}]")
        elif isinstance(step, Mapping):
            yield f"{where}[{i}]", step
            if isinstance(step.get("transforms"), (list, tuple)) and step.get("type") != "Albu":
                yield from _steps(step["transforms"], f"{where}[{i}].transforms")


def key_problems(cfg: Mapping) -> List[str]:
    """Keys a registered transform's constructor refuses, with where they are."""
    problems = []
    for where, pipeline in _pipelines(cfg):
        for at, step in _steps(pipeline, where):
            cls = registry.TRANSFORMS.get(step.get("type", ""))
            if cls is None:
                continue
            try:
                registry.check_keys(cls, [k for k in step if k != "type"], at)
            except RegistryError as err:
                problems.append(str(err))
    return problems


@functools.lru_cache(maxsize=None)
def _load(path: str) -> dict:
    return Config.fromfile(ROOT / path).to_dict()


def missing_types(path: str) -> List[str]:
    return sorted(t for t in _types(_load(path), set()) if not _is_known(t))


def current_manifest() -> dict:
    return {path: found for path in CONFIGS if (found := missing_types(path))}


@pytest.fixture(scope="module")
def manifest():
    return current_manifest()


def test_the_walk_reads_the_whole_tree():
    assert len([p for p in CONFIGS if "/_base_/" not in p and "/demo/" not in p]) == 654
    assert len([p for p in CONFIGS if "/_base_/" in p]) == 88


def test_the_manifest_lists_exactly_the_missing_types(manifest):
    unlisted = {p: t for p, t in manifest.items() if MISSING.get(p) != t}
    assert not unlisted, (
        "1.x configs naming types seglab neither registers nor converts (or listed with other "
        "types): add the type to seglab or set the entry in tests/model_configs/"
        f"configs_1x_missing.py: {unlisted}")
    complete = sorted(set(MISSING) - set(manifest))
    assert not complete, (f"these configs now have every type: remove them from "
                          f"configs_1x_missing.py: {complete}")


def test_every_missing_type_says_why():
    listed = {t for types in MISSING.values() for t in types}
    assert listed <= set(WHY), f"WHY in configs_1x_missing.py lacks: {sorted(listed - set(WHY))}"
    assert not set(WHY) - listed, f"WHY names types no config lacks: {sorted(set(WHY) - listed)}"


def test_seglab_families_run_their_1x_pipelines(manifest):
    """Most of the tree needs nothing more: the manifest holds the few 1.x-only extras."""
    assert len(MISSING) < 40
    for name in ("fcn/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py",
                 "segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py",
                 "deeplabv3plus/deeplabv3plus_r50-d8_4xb2-80k_cityscapes-512x1024.py",
                 "_base_/datasets/cityscapes.py", "_base_/datasets/ade20k.py"):
        assert f"configs/1.x/{name}" not in manifest, name


def test_registered_transforms_take_the_1x_arguments():
    problems = {}
    for path in CONFIGS:
        found = key_problems(_load(path))
        if found:
            problems[path] = found
    assert not problems, "\n".join(f"{p}: {'; '.join(f)}" for p, f in list(problems.items())[:20])


def test_the_walk_finds_nested_types_and_bad_keys(tmp_path):
    path = tmp_path / "bad.py"
    tta = [dict(type="LoadImageFromFile"),
           dict(type="TestTimeAug", transforms=[[dict(type="Resize", scael=(8, 8))],
                                                [dict(type="NoSuchFlip")]])]
    path.write_text(
        f"tta_pipeline = {tta!r}\n"
        "train_dataloader = dict(dataset=dict(type='RepeatDataset', times=2, dataset=dict("
        "type='ADE20KDataset', pipeline=[dict(type='RandomFlip', prbo=0.5)])))\n"
        "model = dict(type='EncoderDecoder', backbone=dict(type='NoSuchNet'))\n")
    cfg = Config.fromfile(path).to_dict()
    assert sorted(t for t in _types(cfg, set()) if not _is_known(t)) == ["NoSuchFlip",
                                                                         "NoSuchNet"]
    problems = " ".join(key_problems(cfg))
    assert "train_dataloader.dataset.dataset.pipeline[0]" in problems and "'prbo'" in problems
    assert "tta_pipeline[1].transforms[0][0]" in problems and "'scael'" in problems


if __name__ == "__main__":
    import pprint
    pprint.pprint(current_manifest(), width=100)
