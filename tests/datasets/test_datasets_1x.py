"""MMSegmentation 1.x dataset classes seglab adds: names, class counts, a few class names and
palette entries written out by hand from MMSeg 1.2.2's ``mmseg/datasets/*.py``, fixed suffixes,
and 1.x's reduce_zero_label hand-over from the dataset to ``LoadAnnotations()``."""
import cv2
import numpy as np
import pytest

from seglab.datasets import CityscapesDataset, CustomDataset
from seglab.errors import RegistryError
from seglab.registry import DATASETS, build_from_cfg

# name: (class count, first class, last class, first palette colour, img_suffix)
EXPECTED = {
    "MapillaryDataset_v1": (66, "Bird", "Unlabeled", [165, 42, 42], ".jpg"),
    "MapillaryDataset_v2": (124, "Bird", "Unlabeled", [165, 42, 42], ".jpg"),
    "BDD100KDataset": (19, "road", "bicycle", [128, 64, 128], ".jpg"),
    "REFUGEDataset": (3, "background", "Optic Disc", [120, 120, 120], ".png"),
    "SynapseDataset": (9, "background", "stomach", [0, 0, 0], ".jpg"),
    "LIPDataset": (20, "Background", "Right-shoe", [0, 0, 0], ".jpg"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_1x_dataset_metainfo(name):
    cls = DATASETS.get(name)
    count, first, last, colour, suffix = EXPECTED[name]
    assert issubclass(cls, CustomDataset) and DATASETS.get("BaseSegDataset") in cls.__mro__
    assert len(cls.CLASSES) == len(cls.PALETTE) == count
    assert (cls.CLASSES[0], cls.CLASSES[-1], list(cls.PALETTE[0])) == (first, last, colour)
    assert len(set(cls.CLASSES)) == count
    assert (cls.FIXED.get("img_suffix") or cls.DEFAULTS.get("img_suffix", ".jpg")) == suffix


def test_spot_values():
    v1 = DATASETS.get("MapillaryDataset_v1")
    assert v1.CLASSES[13] == "Road" and list(v1.PALETTE[13]) == [128, 64, 128]
    v2 = DATASETS.get("MapillaryDataset_v2")
    assert v2.CLASSES[42] == "Lane Marking - Arrow (Split Left or Straight)"
    assert list(v2.PALETTE[-1]) == [0, 0, 0]
    assert DATASETS.get("REFUGEDataset").CLASSES[1] == " Optic Cup"  # 1.x's leading space
    lip = DATASETS.get("LIPDataset")
    assert lip.CLASSES[14:16] == ("Left-arm", "Right-arm")
    assert DATASETS.get("BDD100KDataset").CLASSES == CityscapesDataset.CLASSES


def _tiny(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "ann").mkdir()
    cv2.imwrite(str(tmp_path / "img/a.png"), np.full((4, 6, 3), 9, np.uint8))
    cv2.imwrite(str(tmp_path / "ann/a.png"), np.array([[0, 1, 2, 2, 255, 1]] * 4, np.uint8))
    return dict(img_dir=str(tmp_path / "img"), ann_dir=str(tmp_path / "ann"),
                pipeline=[dict(type="LoadImageFromFile"), dict(type="LoadAnnotations"),
                          dict(type="PackSegInputs")])


def test_refuge_fixes_suffixes_and_reduce_zero_label(tmp_path):
    cfg = dict(type="REFUGEDataset", **_tiny(tmp_path))
    ds = build_from_cfg(cfg, DATASETS)
    assert (ds.img_suffix, ds.seg_map_suffix, ds.reduce_zero_label) == (".png", ".png", False)
    assert ds[0]["gt_semantic_seg"][0, 0].tolist() == [0, 1, 2, 2, 255, 1]
    with pytest.raises(RegistryError, match="img_suffix"):
        build_from_cfg(dict(cfg, img_suffix=".jpg"), DATASETS)


def test_base_seg_dataset_hands_reduce_zero_label_to_load_annotations(tmp_path):
    cfg = dict(type="BaseSegDataset", img_suffix=".png", classes=("a", "b", "c"),
               reduce_zero_label=True, **_tiny(tmp_path))
    sample = build_from_cfg(cfg, DATASETS)[0]
    assert sample["gt_semantic_seg"][0, 0].tolist() == [255, 0, 1, 1, 255, 0]
    assert sample["img_metas"]["reduce_zero_label"] is True
    plain = build_from_cfg(dict(cfg, reduce_zero_label=False), DATASETS)[0]
    assert plain["gt_semantic_seg"][0, 0].tolist() == [0, 1, 2, 2, 255, 1]


def test_1x_order_reduce_zero_label_then_label_map(tmp_path):
    """1.x reduces first, then maps the kept classes (its label_map is over the reduced ids):
    file id 2 is reduced id 1, Synapse's 'aorta'; file id 6 is 'liver'."""
    cfg = _tiny(tmp_path)
    cv2.imwrite(cfg["ann_dir"] + "/a.png", np.array([[0, 1, 2, 6, 255, 7]] * 4, np.uint8))
    ds = build_from_cfg(dict(type="SynapseDataset", img_suffix=".png", reduce_zero_label=True,
                             classes=("aorta", "liver"), **cfg), DATASETS)
    assert ds.label_map == {i: {1: 0, 5: 1}.get(i, 255) for i in range(9)}
    assert ds[0]["gt_semantic_seg"][0, 0].tolist() == [255, 255, 0, 1, 255, 255]


def test_dataset_check_reads_the_1x_flag(tmp_path):
    from seglab.datasets.dataset_check import label_settings

    cfg = dict(img_suffix=".png", classes=("a", "b", "c"), **_tiny(tmp_path))
    one = build_from_cfg(dict(type="BaseSegDataset", reduce_zero_label=True, **cfg), DATASETS)
    zero = build_from_cfg(dict(type="CustomDataset", reduce_zero_label=True, **cfg), DATASETS)
    # 1.x: LoadAnnotations() follows the dataset; 0.x: its own default, False
    assert label_settings(one)[0] is True and label_settings(zero)[0] is False
