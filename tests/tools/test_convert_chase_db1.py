"""tools/convert_datasets/chase_db1.py on a tiny zip laid out as CHASEDB1.zip (84 files)."""
from __future__ import annotations

import numpy as np
from convert_testlib import encode, files, leftovers, load_converter, make_zip, read, rgb, run

NAMES = [f"Image_{i:02d}{side}" for i in range(1, 15) for side in "LR"]


def _mask(seed):
    return np.random.default_rng(seed).integers(0, 2, (6, 8), dtype=np.uint8) * 255


def _members(names=NAMES):
    members = {}
    for k, name in enumerate(names):
        members[f"{name}.jpg"] = encode(rgb(k), "JPEG")
        members[f"{name}_1stHO.png"] = encode(_mask(k))
        members[f"{name}_2ndHO.png"] = encode(_mask(k + 100))
    return members


def test_chase_db1_first_20_images_train_and_loads(tmp_path):
    from seglab.datasets import ChaseDB1Dataset

    out = tmp_path / "CHASE_DB1"
    zip_path = make_zip(tmp_path / "CHASEDB1.zip", _members())
    assert run(load_converter("chase_db1"), zip_path, "-o", out) == 0
    got = files(out)
    train, val = NAMES[:20], NAMES[20:]
    assert [f for f in got if f.startswith("images/")] == \
        [f"images/training/{n}.png" for n in train] + [f"images/validation/{n}.png" for n in val]
    assert len([f for f in got if f.startswith("annotations/training/")]) == 40
    np.testing.assert_array_equal(read(out / "annotations/validation/Image_11R_2ndHO.png"),
                                  _mask(NAMES.index("Image_11R") + 100) // 128)
    assert read(out / "images/training/Image_01L.png").shape == (6, 8, 3)
    ds = ChaseDB1Dataset(pipeline=[], img_dir=str(out / "images/validation"),
                         ann_dir=str(out / "annotations/validation"))
    assert [i["ann"]["seg_map"] for i in ds.img_infos][:2] == ["Image_11L_1stHO.png",
                                                              "Image_11R_1stHO.png"]
    np.testing.assert_array_equal(ds.get_gt_seg_map_by_idx(0), _mask(20) // 128)


def test_chase_db1_refuses_an_incomplete_zip(tmp_path, capsys):
    zip_path = make_zip(tmp_path / "CHASEDB1.zip", _members(NAMES[:3]))
    out = tmp_path / "CHASE_DB1"
    assert run(load_converter("chase_db1"), zip_path, "-o", out) == 2
    assert "holds 9 files, expected 84" in capsys.readouterr().err
    assert not out.exists() and leftovers(tmp_path) == []
    assert run(load_converter("chase_db1"), tmp_path / "missing.zip", "-o", out) == 2
    assert "does not exist" in capsys.readouterr().err
