"""Named datasets declare DEFAULTS / FIXED / REQUIRED: the generated constructors' signatures,
the registry's key check on them, and MMSegmentation's per-class constructor defaults."""
from __future__ import annotations

import inspect

import pytest

from seglab.datasets import (ADE20KDataset, CityscapesDataset, COCOStuffDataset, CustomDataset,
                             DarkZurichDataset, FaceOccludedDataset, PascalContextDataset,
                             PascalContextDataset59, PascalVOCDataset, iSAIDDataset)
from seglab.datasets.declared_defaults import declare_constructor
from seglab.errors import DatasetError, RegistryError
from seglab.registry import DATASETS, accepted_keys

CUSTOM_KEYS = tuple(accepted_keys(CustomDataset))


def _params(cls):
    return inspect.signature(cls.__init__).parameters


def test_no_named_dataset_writes_its_own_constructor():
    for name in DATASETS:
        cls = DATASETS.get(name)
        if isinstance(cls, type) and issubclass(cls, CustomDataset) and cls is not CustomDataset:
            assert "__init__" not in vars(cls) or getattr(
                vars(cls)["__init__"], "_seglab_declared_init", False), name


@pytest.mark.parametrize("cls, fixed, defaults, required", [
    (ADE20KDataset, {"img_suffix", "seg_map_suffix"}, {"reduce_zero_label": True}, ()),
    (CityscapesDataset, set(), {"img_suffix": "_leftImg8bit.png",
                                "seg_map_suffix": "_gtFine_labelTrainIds.png"}, ()),
    (PascalVOCDataset, {"img_suffix", "seg_map_suffix"}, {}, ("split",)),
    (PascalContextDataset, {"img_suffix", "seg_map_suffix", "reduce_zero_label"}, {},
     ("split",)),
    (COCOStuffDataset, {"img_suffix", "seg_map_suffix"}, {"reduce_zero_label": False}, ()),
    (iSAIDDataset, {"img_suffix", "seg_map_suffix", "ignore_index"}, {}, ()),
    (DarkZurichDataset, {"img_suffix", "seg_map_suffix"}, {}, ()),
])
def test_signature_lists_exactly_the_accepted_keys(cls, fixed, defaults, required):
    params = _params(cls)
    assert set(params) - {"self"} == set(CUSTOM_KEYS) - fixed
    assert tuple(accepted_keys(cls)) == tuple(params)[1:]
    for key, value in defaults.items():
        assert params[key].default == value
    for key in required:
        assert params[key].default is inspect.Parameter.empty
    # the required keys lead, as in MMSeg's ``__init__(self, split, **kwargs)``
    assert tuple(params)[1:1 + len(required)] == required


def test_registry_names_the_accepted_keys_for_a_fixed_key():
    with pytest.raises(RegistryError, match=r"img_suffix.*Accepted keys: pipeline, img_dir"):
        DATASETS.build(dict(type="LoveDADataset", img_dir="x", pipeline=[], img_suffix=".jpg"))


def test_direct_call_with_a_fixed_key_names_it_and_what_is_accepted():
    with pytest.raises(TypeError, match=r"DarkZurichDataset: .*seg_map_suffix.*Accepted keys: "
                                        r"pipeline, img_dir.*are fixed"):
        DarkZurichDataset(pipeline=[], img_dir="x", seg_map_suffix=".png")


def test_required_key_missing_or_none(tmp_path):
    with pytest.raises(DatasetError, match="FaceOccludedDataset needs split="):
        DATASETS.build(dict(type="FaceOccludedDataset", pipeline=[], img_dir=str(tmp_path)))
    with pytest.raises(TypeError, match="FaceOccludedDataset: missing a required argument: "
                                        "'img_dir'. Accepted keys: split, pipeline, img_dir"):
        FaceOccludedDataset(split="s.txt", pipeline=[])
    with pytest.raises(DatasetError, match="PascalContextDataset59 needs split="):
        PascalContextDataset59(split=None, pipeline=[], img_dir=str(tmp_path))


def test_declarations_merge_down_the_hierarchy():
    assert DarkZurichDataset.FIXED == {"img_suffix": "_rgb_anon.png",
                                       "seg_map_suffix": "_gt_labelTrainIds.png"}
    assert DarkZurichDataset.DEFAULTS == {}  # Cityscapes' defaults are now fixed values
    assert PascalContextDataset59.FIXED["reduce_zero_label"] is True
    assert PascalContextDataset59.REQUIRED == ("split",)
    assert PascalContextDataset59.FIXED["img_suffix"] == ".jpg"


def test_a_declared_key_that_is_no_argument_fails_at_class_creation():
    with pytest.raises(TypeError, match=r"\['img_sufix'\] are not arguments"):
        type("Typo", (CustomDataset,), {"FIXED": {"img_sufix": ".png"}})


def test_hand_written_constructor_is_kept_and_its_subclass_targets_it(tmp_path):
    calls = []

    class Hand(CustomDataset):
        FIXED = dict(img_suffix=".png")

        def __init__(self, pipeline, img_dir, img_suffix=".jpg", note="n"):  # noqa: D107
            calls.append((img_suffix, note))

    declare_constructor(Hand)  # idempotent for a class with its own __init__
    assert "note" in _params(Hand) and "img_suffix" in _params(Hand)

    class Child(Hand):
        DEFAULTS = dict(note="child")

    Child(pipeline=[], img_dir=str(tmp_path))
    assert calls == [(".png", "child")] and "img_suffix" not in _params(Child)
