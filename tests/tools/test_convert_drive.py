"""tools/convert_datasets/drive.py on tiny zips laid out as DRIVE's training.zip / test.zip."""
from __future__ import annotations

import numpy as np
from convert_testlib import encode, files, leftovers, load_converter, make_zip, read, rgb, run


def _vessels(seed):
    mask = np.random.default_rng(seed).integers(0, 2, (6, 8), dtype=np.uint8) * 255
    mask[0, 0], mask[0, 1] = 127, 128  # not clean 0/255: thresholded at 128
    return mask


def test_drive_converts_to_mmseg_layout_and_loads(tmp_path):
    from seglab.datasets import DRIVEDataset

    tool = load_converter("drive")
    train = make_zip(tmp_path / "training.zip", {
        **{f"training/images/{n}_training.tif": encode(rgb(n), "TIFF") for n in (21, 22)},
        **{f"training/1st_manual/{n}_manual1.gif": encode(_vessels(n), "GIF")
           for n in (21, 22)}})
    test = make_zip(tmp_path / "test.zip", {
        "test/images/01_test.tif": encode(rgb(1), "TIFF"),
        "test/1st_manual/01_manual1.gif": encode(_vessels(1), "GIF"),
        "test/2nd_manual/01_manual2.gif": encode(_vessels(2), "GIF")})
    out = tmp_path / "DRIVE"
    assert run(tool, train, test, "-o", out) == 0
    assert files(out) == ["annotations/training/21_manual1.png", "annotations/training/"
                          "22_manual1.png", "annotations/validation/01_manual1.png",
                          "annotations/validation/01_manual2.png", "images/training/21.png",
                          "images/training/22.png", "images/validation/01.png"]
    np.testing.assert_array_equal(read(out / "images/training/22.png"), rgb(22))
    np.testing.assert_array_equal(read(out / "annotations/validation/01_manual2.png"),
                                  _vessels(2) // 128)
    assert read(out / "annotations/training/21_manual1.png")[0, :2].tolist() == [0, 1]
    ds = DRIVEDataset(pipeline=[], img_dir=str(out / "images/training"),
                      ann_dir=str(out / "annotations/training"))
    assert [i["filename"] for i in ds.img_infos] == ["21.png", "22.png"]
    np.testing.assert_array_equal(ds.get_gt_seg_map_by_idx(0), _vessels(21) // 128)


def test_drive_refuses_bad_archives_and_leaves_nothing(tmp_path, capsys):
    tool = load_converter("drive")
    train = make_zip(tmp_path / "training.zip", {
        "training/images/21_training.tif": encode(rgb(0), "TIFF"),
        "training/1st_manual/21_manual1.gif": encode(_vessels(0), "GIF")})
    (tmp_path / "test.zip").write_bytes(b"not a zip")
    out = tmp_path / "DRIVE"
    assert run(tool, train, tmp_path / "test.zip", "-o", out) == 2
    assert "is not a readable zip archive" in capsys.readouterr().err
    assert not out.exists() and leftovers(tmp_path) == []
    wrong = make_zip(tmp_path / "wrong.zip", {"images/21_training.tif": encode(rgb(0), "TIFF")})
    assert run(tool, wrong, train, "-o", out) == 2
    assert "training/images/" in capsys.readouterr().err
    assert not out.exists()
