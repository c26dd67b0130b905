"""tools/convert_datasets/loveda.py on tiny Train/Val/Test zips laid out as LoveDA's."""
from __future__ import annotations

import numpy as np
from convert_testlib import encode, files, leftovers, load_converter, make_zip, read, rgb, run


def _mask(seed):
    return np.random.default_rng(seed).integers(0, 8, (6, 8), dtype=np.uint8)


def _zips(root, parts=("Train", "Val", "Test")):
    n = 0
    for part in parts:
        members = {}
        for location in ("Rural", "Urban"):
            n += 1
            members[f"{part}/{location}/images_png/{n}.png"] = encode(rgb(n))
            if part != "Test":
                members[f"{part}/{location}/masks_png/{n}.png"] = encode(_mask(n))
        make_zip(root / f"{part}.zip", members)


def test_loveda_moves_files_unchanged_and_loads(tmp_path):
    from seglab.datasets import LoveDADataset

    _zips(tmp_path / "raw")
    out = tmp_path / "loveDA"
    assert run(load_converter("loveda"), tmp_path / "raw", "-o", out) == 0
    assert files(out) == ["ann_dir/train/1.png", "ann_dir/train/2.png", "ann_dir/val/3.png",
                          "ann_dir/val/4.png", "img_dir/test/5.png", "img_dir/test/6.png",
                          "img_dir/train/1.png", "img_dir/train/2.png", "img_dir/val/3.png",
                          "img_dir/val/4.png"]
    np.testing.assert_array_equal(read(out / "ann_dir/val/4.png"), _mask(4))
    ds = LoveDADataset(pipeline=[], img_dir=str(out / "img_dir/val"),
                       ann_dir=str(out / "ann_dir/val"))
    assert [i["filename"] for i in ds.img_infos] == ["3.png", "4.png"]
    expected = _mask(3).astype(np.int64) - 1  # reduce_zero_label: 0 (no-data) -> 255
    expected[expected < 0] = 255
    np.testing.assert_array_equal(ds.get_gt_seg_map_by_idx(0), expected)


def test_loveda_refuses_missing_zips(tmp_path, capsys):
    _zips(tmp_path / "raw", parts=("Train", "Val"))
    out = tmp_path / "loveDA"
    assert run(load_converter("loveda"), tmp_path / "raw", "-o", out) == 2
    assert "Test.zip not in" in capsys.readouterr().err
    make_zip(tmp_path / "raw" / "Test.zip", {"Test/Rural/other/1.png": encode(rgb(0))})
    assert run(load_converter("loveda"), tmp_path / "raw", "-o", out) == 2
    assert "Test/Rural/images_png/" in capsys.readouterr().err
    assert not out.exists() and leftovers(tmp_path) == []
