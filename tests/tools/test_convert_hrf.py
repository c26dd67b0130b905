"""tools/convert_datasets/hrf.py on six tiny zips laid out as HRF's (15 files each)."""
from __future__ import annotations

import numpy as np
from convert_testlib import encode, files, leftovers, load_converter, make_zip, read, rgb, run

PARTS = (("healthy", "h"), ("glaucoma", "g"), ("diabetic_retinopathy", "dr"))


def _mask(seed):
    return np.random.default_rng(seed).integers(0, 2, (6, 8), dtype=np.uint8) * 255


def _zips(tmp_path, n=15):
    paths = []
    for part, tag in PARTS:
        paths.append(make_zip(tmp_path / f"{part}.zip", {
            f"{i:02d}_{tag}.jpg": encode(rgb(i), "JPEG") for i in range(1, n + 1)}))
        paths.append(make_zip(tmp_path / f"{part}_manualsegm.zip", {
            f"{i:02d}_{tag}.tif": encode(_mask(i), "TIFF") for i in range(1, n + 1)}))
    return paths


def test_hrf_splits_5_and_10_per_archive_and_loads(tmp_path):
    from seglab.datasets import HRFDataset

    out = tmp_path / "HRF"
    assert run(load_converter("hrf"), *_zips(tmp_path), "-o", out) == 0
    got = files(out)
    train = sorted(f"{i:02d}_{t}.png" for _, t in PARTS for i in range(1, 6))
    val = sorted(f"{i:02d}_{t}.png" for _, t in PARTS for i in range(6, 16))
    assert got == sorted([f"annotations/training/{n}" for n in train] +
                         [f"annotations/validation/{n}" for n in val] +
                         [f"images/training/{n}" for n in train] +
                         [f"images/validation/{n}" for n in val])
    np.testing.assert_array_equal(read(out / "annotations/validation/07_g.png"), _mask(7) // 128)
    assert read(out / "images/training/01_h.png").shape == (6, 8, 3)
    ds = HRFDataset(pipeline=[], img_dir=str(out / "images/validation"),
                    ann_dir=str(out / "annotations/validation"))
    assert len(ds) == 30
    assert set(np.unique(ds.get_gt_seg_map_by_idx(0))) <= {0, 1}


def test_hrf_refuses_an_incomplete_archive(tmp_path, capsys):
    paths = _zips(tmp_path)
    paths[3] = make_zip(tmp_path / "short.zip", {"01_g.tif": encode(_mask(0), "TIFF")})
    out = tmp_path / "HRF"
    assert run(load_converter("hrf"), *paths, "-o", out) == 2
    assert "holds 1 files, expected 15" in capsys.readouterr().err
    assert not out.exists() and leftovers(tmp_path) == []
