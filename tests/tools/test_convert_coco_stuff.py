"""tools/convert_datasets/coco_stuff10k.py and coco_stuff164k.py on tiny trees laid out as the
COCO-Stuff 10k (v1.1, .mat) and 164k (stuffthingmaps PNG) releases."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from convert_testlib import CONVERTERS, encode, files, leftovers, load_converter, read, rgb, run

# The 11 COCO thing ids (1-based) that have no annotations, so no train id.
UNUSED_1BASED = [12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91]


def _table(offset):
    used = [i for i in range(1, 183) if i not in UNUSED_1BASED]
    table = {i - 1 + offset: k + offset for k, i in enumerate(used)}
    table[0 if offset else 255] = 0 if offset else 255
    return table


@pytest.mark.parametrize("name, offset", [("coco_stuff10k", 1), ("coco_stuff164k", 0)])
def test_cls_id_tables_match_mmseg(name, offset):
    tool = load_converter(name)
    assert tool.clsID_to_trID == _table(offset)
    assert len(tool.clsID_to_trID) == 172
    assert max(v for v in tool.clsID_to_trID.values() if v != 255) == 170 + offset


def test_coco_stuff10k_converts_mat_files_and_loads(tmp_path):
    from scipy.io import savemat

    from seglab.datasets import COCOStuffDataset

    root = tmp_path / "coco_stuff10k"
    (root / "imageLists").mkdir(parents=True)
    (root / "images").mkdir()
    (root / "annotations").mkdir()
    ids = np.array([[0, 1, 11, 13], [182, 92, 90, 0]], np.uint8)
    for k, name in enumerate(["COCO_train2014_000000000077", "COCO_train2014_000000000078"]):
        (root / "images" / f"{name}.jpg").write_bytes(encode(rgb(k, 2, 4), "JPEG"))
        savemat(str(root / "annotations" / f"{name}.mat"), {"S": np.flip(ids) if k else ids})
    (root / "imageLists" / "train.txt").write_text("COCO_train2014_000000000077\n")
    (root / "imageLists" / "test.txt").write_text("COCO_train2014_000000000078\n")
    out = tmp_path / "out"
    assert run(load_converter("coco_stuff10k"), root, "-o", out, "--nproc", 1) == 0
    assert files(out) == [
        "annotations/test2014/COCO_train2014_000000000078_labelTrainIds.png",
        "annotations/train2014/COCO_train2014_000000000077_labelTrainIds.png",
        "images/test2014/COCO_train2014_000000000078.jpg",
        "images/train2014/COCO_train2014_000000000077.jpg"]
    table = _table(1)
    label = read(out / "annotations/train2014/COCO_train2014_000000000077_labelTrainIds.png")
    np.testing.assert_array_equal(label, np.vectorize(table.get)(ids))
    assert label.tolist() == [[0, 1, 11, 12], [171, 81, 80, 0]]
    ds = COCOStuffDataset(pipeline=[], img_dir=str(out / "images/train2014"),
                          ann_dir=str(out / "annotations/train2014"), reduce_zero_label=True)
    assert ds.get_gt_seg_map_by_idx(0).tolist() == [[255, 0, 10, 11], [170, 80, 79, 255]]


def test_coco_stuff10k_refuses_unknown_ids_and_missing_lists(tmp_path, capsys):
    from scipy.io import savemat

    tool = load_converter("coco_stuff10k")
    root = tmp_path / "coco"
    assert run(tool, root, "-o", tmp_path / "out", "--nproc", 1) == 2
    assert "imageLists/train.txt" in capsys.readouterr().err
    for folder in ("imageLists", "images", "annotations"):
        (root / folder).mkdir(parents=True)
    (root / "imageLists" / "train.txt").write_text("a\n")
    (root / "imageLists" / "test.txt").write_text("")
    (root / "images" / "a.jpg").write_bytes(encode(rgb(0, 2, 2), "JPEG"))
    savemat(str(root / "annotations" / "a.mat"), {"S": np.array([[12, 1]], np.uint8)})
    assert run(tool, root, "-o", tmp_path / "out", "--nproc", 1) == 2
    err = capsys.readouterr().err
    assert "a.mat' holds ids [12]" in err and "no class of this dataset" in err
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_coco_stuff164k_converts_pngs_copies_images_and_loads(tmp_path):
    from seglab.datasets import COCOStuffDataset

    root = tmp_path / "coco_stuff164k"
    ids = np.array([[0, 10, 12, 13], [181, 255, 91, 255]], np.uint8)
    for split, name in (("train2017", "000000000009"), ("val2017", "000000000139")):
        (root / "images" / split).mkdir(parents=True)
        (root / "annotations" / split).mkdir(parents=True)
        (root / "images" / split / f"{name}.jpg").write_bytes(encode(rgb(1, 2, 4), "JPEG"))
        (root / "annotations" / split / f"{name}.png").write_bytes(encode(ids))
    out = tmp_path / "out"
    assert run(load_converter("coco_stuff164k"), root, "-o", out, "--nproc", 1) == 0
    assert files(out) == ["annotations/train2017/000000000009_labelTrainIds.png",
                          "annotations/val2017/000000000139_labelTrainIds.png",
                          "images/train2017/000000000009.jpg", "images/val2017/000000000139.jpg"]
    label = read(out / "annotations/val2017/000000000139_labelTrainIds.png")
    np.testing.assert_array_equal(label, np.vectorize(_table(0).get)(ids))
    assert label.tolist() == [[0, 10, 11, 12], [170, 255, 80, 255]]
    ds = COCOStuffDataset(pipeline=[], img_dir=str(out / "images/val2017"),
                          ann_dir=str(out / "annotations/val2017"))
    np.testing.assert_array_equal(ds.get_gt_seg_map_by_idx(0), label)
    # From the command line, in place (no -o), with worker processes: the maps are added
    # beside the originals, images untouched.
    done = subprocess.run([sys.executable, f"{CONVERTERS}/coco_stuff164k.py", str(root),
                           "--nproc", "2"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert files(root / "annotations" / "train2017") == ["000000000009.png",
                                                         "000000000009_labelTrainIds.png"]


def test_coco_stuff164k_refuses_unused_ids(tmp_path, capsys):
    root = tmp_path / "coco"
    for split in ("train2017", "val2017"):
        (root / "annotations" / split).mkdir(parents=True)
    (root / "images").mkdir()
    (root / "annotations" / "val2017" / "x.png").write_bytes(encode(np.array([[11, 200]])))
    assert run(load_converter("coco_stuff164k"), root, "-o", tmp_path / "out") == 2
    assert "x.png' holds ids [11, 200]" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []

