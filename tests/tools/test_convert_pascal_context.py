"""tools/convert_datasets/pascal_context.py on a tiny PASCAL in Detail json (COCO RLE
segmentations) beside a VOC2010 devkit."""
from __future__ import annotations

import json

import numpy as np
from convert_testlib import encode, files, load_converter, read, rgb, run

# The 59 Pascal Context category ids of the Detail json in MMSeg's order, then background 0.
CONTEXT_IDS = sorted([
    0, 2, 259, 260, 415, 324, 9, 258, 144, 18, 19, 22, 23, 397, 25, 284, 158, 159, 416, 33, 162,
    420, 454, 295, 296, 427, 44, 45, 46, 308, 59, 440, 445, 31, 232, 65, 354, 424, 68, 326, 72,
    458, 34, 207, 80, 355, 85, 347, 220, 349, 360, 98, 187, 104, 105, 366, 189, 368, 113, 115])


def rle_string(mask: np.ndarray) -> str:
    """COCO's compressed RLE string of a 0/1 mask (column-major runs, first run of zeros)."""
    flat = mask.T.ravel()
    runs, value, count = [], 0, 0
    for v in flat:
        if v == value:
            count += 1
        else:
            runs.append(count)
            value, count = v, 1
    runs.append(count)
    out = []
    for i, x in enumerate(runs):
        if i > 2:
            x -= runs[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def _detail_json(path, images):
    """``images``: {file_name: (phase, class map of Detail category ids)}; one segmentation per
    category (the last painted wins where they overlap, as in Detail's getMask)."""
    data = {"images": [], "annos_segmentation": [], "categories": []}
    ann_id = 0
    for image_id, (name, (phase, ids)) in enumerate(images.items(), 1):
        h, w = ids.shape
        data["images"].append({"image_id": image_id, "file_name": name, "phase": phase,
                               "height": h, "width": w})
        for cat in np.unique(ids):
            if cat == 0:
                continue
            ann_id += 1
            counts = rle_string((ids == cat).astype(np.uint8))
            data["annos_segmentation"].append({
                "id": ann_id, "image_id": image_id, "category_id": int(cat),
                "segmentation": {"size": [h, w], "counts": counts if ann_id % 2 else
                                 _plain_counts(ids == cat)}})
    path.write_text(json.dumps(data))
    return path


def _plain_counts(mask):
    flat = mask.T.ravel().astype(int)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    return np.diff(np.concatenate([[0], edges])).tolist()


def test_rle_decoding_round_trips():
    tool = load_converter("pascal_context")
    rng = np.random.default_rng(0)
    for shape in ((1, 1), (5, 7), (40, 33)):
        mask = (rng.random(shape) < 0.3).astype(np.uint8)
        for counts in (rle_string(mask), _plain_counts(mask)):
            np.testing.assert_array_equal(
                tool.decode_rle({"size": list(shape), "counts": counts}), mask)


def test_pascal_context_labels_splits_and_loading(tmp_path):
    from seglab.datasets import PascalContextDataset, PascalContextDataset59

    devkit = tmp_path / "VOCdevkit"
    (devkit / "VOC2010" / "JPEGImages").mkdir(parents=True)
    rng = np.random.default_rng(1)
    maps = {name: rng.choice(CONTEXT_IDS, (6, 8)) for name in
            ("2008_000002.jpg", "2008_000003.jpg", "2008_000007.jpg")}
    phases = dict(zip(maps, ("val", "train", "train")))
    for name in maps:
        (devkit / "VOC2010" / "JPEGImages" / name).write_bytes(encode(rgb(0), "JPEG"))
    json_path = _detail_json(tmp_path / "trainval_merged.json",
                             {n: (phases[n], m) for n, m in maps.items()})
    assert run(load_converter("pascal_context"), devkit, json_path) == 0
    voc = devkit / "VOC2010"
    assert files(voc / "SegmentationClassContext") == ["2008_000002.png", "2008_000003.png",
                                                       "2008_000007.png"]
    assert (voc / "ImageSets/SegmentationContext/train.txt").read_text().split() == \
        ["2008_000003", "2008_000007"]
    assert (voc / "ImageSets/SegmentationContext/val.txt").read_text().split() == ["2008_000002"]
    rank = {cid: i for i, cid in enumerate(CONTEXT_IDS)}
    label = read(voc / "SegmentationClassContext/2008_000003.png")
    np.testing.assert_array_equal(label, np.vectorize(rank.get)(maps["2008_000003.jpg"]))
    kwargs = dict(pipeline=[], data_root=str(voc), img_dir="JPEGImages",
                  ann_dir="SegmentationClassContext",
                  split="ImageSets/SegmentationContext/train.txt")
    ds = PascalContextDataset(**kwargs)
    assert [i["filename"] for i in ds.img_infos] == ["2008_000003.jpg", "2008_000007.jpg"]
    np.testing.assert_array_equal(ds.get_gt_seg_map_by_idx(0), label)
    reduced = PascalContextDataset59(**kwargs).get_gt_seg_map_by_idx(0).astype(np.int64)
    np.testing.assert_array_equal(reduced, np.where(label == 0, 255, label.astype(int) - 1))


def test_pascal_context_refuses_bad_json(tmp_path, capsys):
    tool = load_converter("pascal_context")
    devkit = tmp_path / "VOCdevkit"
    (tmp_path / "bad.json").write_text("{not json")
    assert run(tool, devkit, tmp_path / "bad.json") == 2
    assert "is not valid json" in capsys.readouterr().err
    (tmp_path / "coco.json").write_text(json.dumps({"images": [], "annotations": []}))
    assert run(tool, devkit, tmp_path / "coco.json") == 2
    assert "lacks ['annos_segmentation']" in capsys.readouterr().err
    ids = np.array([[0, 2], [3, 2]])  # 3 is no Pascal Context class
    _detail_json(tmp_path / "d.json", {"2008_000002.jpg": ("train", ids)})
    assert run(tool, devkit, tmp_path / "d.json") == 2
    assert "holds category ids [3]" in capsys.readouterr().err
    assert files(devkit) == []  # nothing written, no staging folder left
