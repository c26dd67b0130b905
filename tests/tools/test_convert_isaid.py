"""tools/convert_datasets/isaid.py on tiny zips laid out as the iSAID release."""
from __future__ import annotations

import numpy as np
from convert_testlib import encode, files, leftovers, load_converter, make_zip, read, rgb, run


def _labels(seed, h, w):
    return np.random.default_rng(seed).integers(0, 16, (h, w), dtype=np.uint8)


def _dataset(root, size=(10, 12)):
    tool = load_converter("isaid")
    colours = np.array(tool.ISAID_PALETTE, np.uint8)
    for k, mode in enumerate(("train", "val")):
        make_zip(root / mode / "images" / "part1.zip",
                 {f"images/P000{k}.png": encode(rgb(k, *size))})
        make_zip(root / mode / "Semantic_masks" / "images.zip", {
            f"images/P000{k}_instance_color_RGB.png": encode(colours[_labels(k, *size)])})
    make_zip(root / "test" / "images" / "part1.zip", {"images/P0009.png": encode(rgb(9))})
    return tool


def test_isaid_slides_patches_and_loads(tmp_path):
    from seglab.datasets import iSAIDDataset

    tool = _dataset(tmp_path / "raw")
    out = tmp_path / "iSAID"
    assert run(tool, tmp_path / "raw", "-o", out, "--patch_width", 8, "--patch_height", 6,
               "--overlap_area", 2) == 0
    # x in range(0, 12, 6) -> 0, 6 -> [0:8], [4:12]; y in range(0, 10, 4) -> [0:6], [4:10].
    boxes = ["0_6_0_8", "4_10_0_8", "0_6_4_12", "4_10_4_12"]
    assert files(out) == sorted(
        [f"ann_dir/train/P0000_{b}_instance_color_RGB.png" for b in boxes] +
        [f"ann_dir/val/P0001_{b}_instance_color_RGB.png" for b in boxes] +
        [f"img_dir/train/P0000_{b}.png" for b in boxes] +
        [f"img_dir/val/P0001_{b}.png" for b in boxes] + ["img_dir/test/P0009.png"])
    np.testing.assert_array_equal(read(out / "img_dir/val/P0001_4_10_4_12.png"),
                                  rgb(1, 10, 12)[4:10, 4:12])
    ds = iSAIDDataset(pipeline=[], img_dir=str(out / "img_dir/train"),
                      ann_dir=str(out / "ann_dir/train"))
    assert ds.img_infos[0]["ann"]["seg_map"] == "P0000_0_6_0_8_instance_color_RGB.png"
    np.testing.assert_array_equal(ds.get_gt_seg_map_by_idx(0), _labels(0, 10, 12)[0:6, 0:8])


def test_isaid_pads_small_images_labels_with_255(tmp_path):
    tool = _dataset(tmp_path / "raw", size=(4, 5))
    out = tmp_path / "iSAID"
    assert run(tool, tmp_path / "raw", "-o", out, "--patch_width", 6, "--patch_height", 6,
               "--overlap_area", 2) == 0
    label = read(out / "ann_dir/train/P0000_0_6_0_6_instance_color_RGB.png")
    np.testing.assert_array_equal(label[:4, :5], _labels(0, 4, 5))
    assert (label[4:] == 255).all() and (label[:, 5] == 255).all()
    image = read(out / "img_dir/train/P0000_0_6_0_6.png")
    assert image.shape == (6, 6, 3) and (image[4:] == 0).all()


def test_isaid_refuses_missing_parts(tmp_path, capsys):
    tool = _dataset(tmp_path / "raw")
    out = tmp_path / "iSAID"
    assert run(tool, tmp_path / "raw", "-o", out, "--overlap_area", 900) == 2
    assert "--overlap_area (900)" in capsys.readouterr().err
    (tmp_path / "raw" / "val" / "Semantic_masks" / "images.zip").unlink()
    assert run(tool, tmp_path / "raw", "-o", out) == 2
    assert "no .zip files in" in capsys.readouterr().err
    assert not out.exists() and leftovers(tmp_path) == []
