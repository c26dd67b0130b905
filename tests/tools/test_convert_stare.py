"""tools/convert_datasets/stare.py on tiny tars of gzipped PPMs laid out as STARE's."""
from __future__ import annotations

import gzip

import numpy as np
from convert_testlib import encode, files, leftovers, load_converter, make_tar, read, rgb, run


def _mask(seed):
    # Channels differ on purpose: MMSeg thresholds channel 0 of mmcv's BGR read, i.e. blue.
    return np.random.default_rng(seed).integers(0, 2, (6, 8, 3), dtype=np.uint8) * 255


def _tars(tmp_path, n=20):
    images = make_tar(tmp_path / "stare-images.tar", {
        f"im{i:04d}.ppm.gz": gzip.compress(encode(rgb(i), "PPM")) for i in range(1, n + 1)})
    labels = [make_tar(tmp_path / f"labels-{tag}.tar", {
        f"im{i:04d}.{tag}.ppm.gz": gzip.compress(encode(_mask(i + k), "PPM"))
        for i in range(1, n + 1)}) for k, tag in enumerate(("ah", "vk"))]
    return [images] + labels


def test_stare_converts_and_loads(tmp_path):
    from seglab.datasets import STAREDataset

    out = tmp_path / "STARE"
    assert run(load_converter("stare"), *_tars(tmp_path), "-o", out) == 0
    got = files(out)
    assert got[:2] == ["annotations/training/im0001.ah.png", "annotations/training/im0001.vk.png"]
    assert len([f for f in got if f.startswith("images/training/")]) == 10
    assert "images/validation/im0011.png" in got and "annotations/validation/im0020.vk.png" in got
    assert len(got) == 60
    np.testing.assert_array_equal(read(out / "images/validation/im0015.png"), rgb(15))
    np.testing.assert_array_equal(read(out / "annotations/training/im0003.vk.png"),
                                  _mask(4)[..., 2] // 128)
    ds = STAREDataset(pipeline=[], img_dir=str(out / "images/training"),
                      ann_dir=str(out / "annotations/training"))
    assert len(ds) == 10 and ds.img_infos[0]["ann"]["seg_map"] == "im0001.ah.png"
    np.testing.assert_array_equal(ds.get_gt_seg_map_by_idx(1), _mask(2)[..., 2] // 128)


def test_stare_refuses_bad_tar_and_bad_gz(tmp_path, capsys):
    tool = load_converter("stare")
    tars = _tars(tmp_path)
    (tmp_path / "broken.tar").write_bytes(b"nope")
    out = tmp_path / "STARE"
    assert run(tool, tars[0], tmp_path / "broken.tar", tars[2], "-o", out) == 2
    assert "is not a readable tar archive" in capsys.readouterr().err
    bad = make_tar(tmp_path / "bad.tar", {"im0001.ah.ppm.gz": b"not gzip"})
    assert run(tool, tars[0], bad, tars[2], "-o", out) == 2
    assert "is not a readable .gz file" in capsys.readouterr().err
    assert not out.exists() and leftovers(tmp_path) == []
