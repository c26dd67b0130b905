"""LoadImageFromFile / LoadAnnotations: decoding, label maps, label transforms and file errors."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seglab.datasets.transforms import LoadAnnotations, LoadImageFromFile
from seglab.datasets.transforms.loading import reduce_zero_label
from seglab.errors import ConfigError, DatasetError, RegistryError
from seglab.registry import TRANSFORMS, build_from_cfg
from shared_data import SHARED

DATA = Path(f"{SHARED}/data/mmseg-testdata/tests/data")
needs_data = pytest.mark.skipif(not DATA.exists(), reason="mmseg test data not available")


def _img_results(prefix, name):
    return dict(img_prefix=str(prefix), img_info=dict(filename=name), seg_fields=[])


def _seg_results(prefix, name, **extra):
    return dict(seg_prefix=str(prefix) if prefix is not None else None,
                ann_info=dict(seg_map=name), seg_fields=[], **extra)


@needs_data
def test_load_color_jpg_bgr_uint8_with_meta():
    results = LoadImageFromFile()(_img_results(DATA, "color.jpg"))
    img = results["img"]
    assert img.shape == (288, 512, 3) and img.dtype == np.uint8
    rgb = np.array(Image.open(DATA / "color.jpg"))
    # cv2 and Pillow JPEG decoders may differ by a level or two; channel order must be BGR.
    assert np.abs(img[..., ::-1].astype(int) - rgb).mean() < 2
    assert results["filename"] == str(DATA / "color.jpg")
    assert results["ori_filename"] == "color.jpg"
    assert results["img_shape"] == results["ori_shape"] == results["pad_shape"] == (288, 512, 3)
    assert results["scale_factor"] == 1.0
    cfg = results["img_norm_cfg"]
    assert cfg["mean"].tolist() == [0, 0, 0] and cfg["std"].tolist() == [1, 1, 1]
    assert cfg["to_rgb"] is False


@needs_data
def test_load_options_grayscale_float32_and_pillow():
    gray = LoadImageFromFile(color_type="grayscale")(_img_results(DATA, "gray.jpg"))["img"]
    assert gray.shape == (288, 512)
    res = LoadImageFromFile(to_float32=True)(_img_results(DATA, "color.jpg"))
    assert res["img"].dtype == np.float32
    assert res["img_norm_cfg"]["mean"].shape == (3,)
    pil = LoadImageFromFile(imdecode_backend="pillow")(_img_results(DATA, "color.jpg"))["img"]
    np.testing.assert_array_equal(pil[..., ::-1], np.array(Image.open(DATA / "color.jpg")))
    none_prefix = dict(img_prefix=None, img_info=dict(filename=str(DATA / "gray.jpg")))
    assert LoadImageFromFile()(none_prefix)["img"].shape == (288, 512, 3)


@needs_data
def test_palette_png_gives_raw_indices():
    seg = LoadAnnotations()(_seg_results(DATA, "seg.png"))
    assert seg["gt_semantic_seg"].dtype == np.uint8
    assert set(np.unique(seg["gt_semantic_seg"])) == {0, 1}
    assert seg["seg_fields"] == ["gt_semantic_seg"]
    gt = LoadAnnotations()(_seg_results(DATA / "pseudo_dataset/gts", "00003_gt.png"))
    assert set(np.unique(gt["gt_semantic_seg"])) == {0, 3}


@needs_data
def test_palette_png_with_cv2_backend_is_refused():
    with pytest.raises(DatasetError, match="seg.png.*colour image"):
        LoadAnnotations(imdecode_backend="cv2")(_seg_results(DATA, "seg.png"))


@needs_data
def test_16bit_label_map_is_kept():
    name = "frankfurt_000000_000294_gtFine_instanceIds.png"
    seg = LoadAnnotations()(_seg_results(DATA / "pseudo_cityscapes_dataset/gtFine", name))
    raw = np.array(Image.open(DATA / "pseudo_cityscapes_dataset/gtFine" / name))
    assert raw.max() > 255  # the fixture really needs 16 bits
    assert seg["gt_semantic_seg"].dtype == np.uint16
    np.testing.assert_array_equal(seg["gt_semantic_seg"], raw)


def _write_png(path, array):
    Image.fromarray(array).save(path)
    return path


def test_reduce_zero_label_mapping(tmp_path):
    _write_png(tmp_path / "l.png", np.array([[0, 1, 2], [254, 255, 7]], np.uint8))
    seg = LoadAnnotations(reduce_zero_label=True)(_seg_results(tmp_path, "l.png"))
    assert seg["gt_semantic_seg"].tolist() == [[255, 0, 1], [253, 255, 6]]
    assert reduce_zero_label(np.array([0, 1, 255], np.uint16)).tolist() == [255, 0, 255]


def test_label_map_applied_on_a_copy_before_reduce_zero_label(tmp_path):
    _write_png(tmp_path / "l.png", np.array([[1, 2, 3, 0]], np.uint8))
    # 1->2 and 2->3 must not chain (1 -> 3); then reduce_zero_label shifts everything.
    res = LoadAnnotations()(_seg_results(tmp_path, "l.png", label_map={1: 2, 2: 3, 3: -1}))
    assert res["gt_semantic_seg"].tolist() == [[2, 3, 255, 0]]
    res = LoadAnnotations(reduce_zero_label=True)(
        _seg_results(tmp_path, "l.png", label_map={1: 2, 2: 3}))
    assert res["gt_semantic_seg"].tolist() == [[1, 2, 2, 255]]


def test_missing_empty_and_corrupt_files_name_the_file(tmp_path):
    with pytest.raises(DatasetError, match=r"image file not found: .*nope\.jpg"):
        LoadImageFromFile()(_img_results(tmp_path, "nope.jpg"))
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"empty\.png is empty"):
        LoadImageFromFile()(_img_results(tmp_path, "empty.png"))
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    for backend in ("cv2", "pillow"):
        with pytest.raises(DatasetError, match=r"cannot decode image file .*bad\.jpg"):
            LoadImageFromFile(imdecode_backend=backend)(_img_results(tmp_path, "bad.jpg"))
    with pytest.raises(DatasetError, match=r"cannot decode label file .*bad\.jpg"):
        LoadAnnotations()(_seg_results(tmp_path, "bad.jpg"))
    with pytest.raises(DatasetError, match=r"label file not found: .*gone\.png"):
        LoadAnnotations()(_seg_results(tmp_path, "gone.png"))
    with pytest.raises(DatasetError, match="cannot read"):
        LoadImageFromFile()(_img_results(tmp_path.parent, tmp_path.name))  # a directory


def test_rgb_label_map_is_refused(tmp_path):
    _write_png(tmp_path / "rgb.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DatasetError, match="rgb.png"):
        LoadAnnotations()(_seg_results(tmp_path, "rgb.png"))


def test_constructor_arguments_are_checked():
    with pytest.raises(RegistryError, match="color_typ"):
        build_from_cfg(dict(type="LoadImageFromFile", color_typ="color"), TRANSFORMS)
    with pytest.raises(ConfigError, match="disk"):
        LoadImageFromFile(file_client_args=dict(backend="petrel"))
    assert LoadAnnotations(file_client_args=dict(backend="disk")).imdecode_backend == "pillow"
    with pytest.raises(ConfigError, match="turbojpeg"):
        LoadImageFromFile(imdecode_backend="turbojpeg")
    with pytest.raises(ConfigError, match="colour"):
        LoadImageFromFile(color_type="colour")
