"""tools/convert_datasets/vaihingen.py on tiny zips laid out as the ISPRS Vaihingen ones."""
from __future__ import annotations

import numpy as np
from convert_testlib import encode, files, leftovers, load_converter, make_zip, read, rgb, run
from convert_testlib import ISPRS_COLOURS as COLOURS
from convert_testlib import isprs_labels as _labels


def test_vaihingen_reads_top_and_eroded_labels_and_loads(tmp_path):
    from seglab.datasets import ISPRSDataset

    raw = tmp_path / "raw"
    areas = ("area1", "area2", "area9")
    make_zip(raw / "ISPRS_semantic_labeling_Vaihingen.zip", {
        **{f"top/top_mosaic_09cm_{a}.tif": encode(rgb(k, 8, 8), "TIFF")
           for k, a in enumerate(areas[:2])},
        "gts_for_participants/top_mosaic_09cm_area1.tif": encode(rgb(9, 8, 8), "TIFF")})
    make_zip(raw / "ISPRS_semantic_labeling_Vaihingen_ground_truth_eroded_COMPLETE.zip", {
        f"top_mosaic_09cm_{a}_noBoundary.tif": encode(COLOURS[_labels(k, 8, 8)], "TIFF")
        for k, a in enumerate(areas)})
    out = tmp_path / "vaihingen"
    assert run(load_converter("vaihingen"), raw, "-o", out, "--clip_size", 8) == 0
    assert files(out) == ["ann_dir/train/area1_0_0_8_8.png", "ann_dir/val/area2_0_0_8_8.png",
                          "img_dir/train/area1_0_0_8_8.png", "img_dir/val/area2_0_0_8_8.png"]
    np.testing.assert_array_equal(read(out / "img_dir/train/area1_0_0_8_8.png"), rgb(0, 8, 8))
    np.testing.assert_array_equal(read(out / "ann_dir/val/area2_0_0_8_8.png"), _labels(1, 8, 8))
    ds = ISPRSDataset(pipeline=[], img_dir=str(out / "img_dir/val"),
                      ann_dir=str(out / "ann_dir/val"))
    expected = _labels(1, 8, 8).astype(np.int64) - 1
    expected[expected < 0] = 255
    np.testing.assert_array_equal(ds.get_gt_seg_map_by_idx(0), expected)


def test_vaihingen_refuses_bad_clip_size_and_zip(tmp_path, capsys):
    tool = load_converter("vaihingen")
    make_zip(tmp_path / "raw" / "ISPRS_semantic_labeling_Vaihingen.zip", {
        "top/top_mosaic_09cm_area1.tif": encode(rgb(0, 8, 8), "TIFF")})
    assert run(tool, tmp_path / "raw", "-o", tmp_path / "out", "--clip_size", 0) == 2
    assert "--clip_size (0)" in capsys.readouterr().err
    (tmp_path / "raw" / "broken.zip").write_bytes(b"PK")
    assert run(tool, tmp_path / "raw", "-o", tmp_path / "out", "--clip_size", 4) == 2
    assert "broken.zip' is not a readable zip archive" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []
