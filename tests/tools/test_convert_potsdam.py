"""tools/convert_datasets/potsdam.py on tiny zips laid out as 2_Ortho_RGB.zip and
5_Labels_all_noBoundary.zip, and the clip boxes against MMSeg's formula."""
from __future__ import annotations

import numpy as np
from convert_testlib import ISPRS_COLOURS as COLOURS
from convert_testlib import encode, files
from convert_testlib import isprs_labels as _labels
from convert_testlib import leftovers, load_converter, make_zip, read, rgb, run


def test_clip_boxes_follow_mmseg():
    common = load_converter("_convert_common")
    # MMSeg: rows/cols from the stride, boxes every clip_size, pushed back inside the image.
    assert common.clip_boxes(10, 12, 4, 2) == [
        (0, 0, 4, 4), (4, 0, 8, 4), (8, 0, 12, 4), (0, 4, 4, 8), (4, 4, 8, 8), (8, 4, 12, 8),
        (0, 6, 4, 10), (4, 6, 8, 10), (8, 6, 12, 10)]
    assert common.clip_boxes(512, 512, 512, 256) == [(0, 0, 512, 512)]
    assert len(common.clip_boxes(6000, 6000, 512, 256)) == 12 * 12


def test_potsdam_clips_maps_colours_and_loads(tmp_path):
    from seglab.datasets import PotsdamDataset

    raw = tmp_path / "raw"
    make_zip(raw / "2_Ortho_RGB.zip", {
        f"2_Ortho_RGB/top_potsdam_{t}_RGB.tif": encode(rgb(k, 10, 12), "TIFF")
        for k, t in enumerate(("2_10", "2_13"))})
    make_zip(raw / "5_Labels_all_noBoundary.zip", {
        f"top_potsdam_{t}_label_noBoundary.tif": encode(COLOURS[_labels(k)], "TIFF")
        for k, t in enumerate(("2_10", "2_13"))})
    out = tmp_path / "potsdam"
    tool = load_converter("potsdam")
    assert run(tool, raw, "-o", out, "--clip_size", 8, "--stride_size", 4) == 0
    boxes = ["0_0_8_8", "4_0_12_8", "0_2_8_10", "4_2_12_10"]
    assert files(out) == sorted([f"ann_dir/train/2_10_{b}.png" for b in boxes] +
                                [f"ann_dir/val/2_13_{b}.png" for b in boxes] +
                                [f"img_dir/train/2_10_{b}.png" for b in boxes] +
                                [f"img_dir/val/2_13_{b}.png" for b in boxes])
    np.testing.assert_array_equal(read(out / "img_dir/val/2_13_4_2_12_10.png"),
                                  rgb(1, 10, 12)[2:10, 4:12])
    np.testing.assert_array_equal(read(out / "ann_dir/train/2_10_4_0_12_8.png"),
                                  _labels(0)[0:8, 4:12])
    ds = PotsdamDataset(pipeline=[], img_dir=str(out / "img_dir/train"),
                        ann_dir=str(out / "ann_dir/train"))
    assert len(ds) == 4
    expected = _labels(0)[0:8, 0:8].astype(np.int64) - 1  # reduce_zero_label
    expected[expected < 0] = 255
    np.testing.assert_array_equal(ds.get_gt_seg_map_by_idx(0), expected)


def test_potsdam_refuses_bad_names_and_empty_folders(tmp_path, capsys):
    tool = load_converter("potsdam")
    (tmp_path / "empty").mkdir()
    assert run(tool, tmp_path / "empty", "-o", tmp_path / "out") == 2
    assert "no .zip files in" in capsys.readouterr().err
    make_zip(tmp_path / "raw" / "x.zip", {"top_potsdam_2_10_RGB.tif": encode(rgb(0), "TIFF"),
                                         "photo.tif": encode(rgb(1), "TIFF")})
    assert run(tool, tmp_path / "raw", "-o", tmp_path / "out", "--clip_size", 4) == 2
    assert "'photo.tif' is not a Potsdam tile name" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []
