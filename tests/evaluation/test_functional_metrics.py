"""The 0.x functional API: counting semantics, label transforms, file inputs, errors."""
import numpy as np
import pytest
import torch
from PIL import Image

from seglab.errors import DatasetError
from seglab.evaluation import (UnknownMetricError, apply_label_transforms, eval_metrics, f_score,
                               intersect_and_union, mean_dice, mean_fscore, mean_iou,
                               pre_eval_to_metrics, total_area_to_metrics)


def _histc_reference(pred, label, num_classes, ignore_index):
    """MMSeg 0.x counting, written with torch.histc as 0.x does (independent of seglab's bincount)."""
    mask = label != ignore_index
    pred, label = pred[mask], label[mask]
    intersect = pred[pred == label]
    kw = dict(bins=num_classes, min=0, max=num_classes - 1)
    ai = torch.histc(intersect.float(), **kw)
    ap = torch.histc(pred.float(), **kw)
    al = torch.histc(label.float(), **kw)
    return ai, ap + al - ai, ap, al


def test_hand_counted_example():
    pred = np.array([[0, 1, 1], [2, 2, 0]])
    label = np.array([[0, 1, 2], [2, 255, 1]])
    inter, union, area_pred, area_label = intersect_and_union(pred, label, 3, 255)
    # Valid pixels (label != 255): (0,0) (1,1) (1,2) (2,2) (0,1) -> pred/label pairs.
    assert inter.tolist() == [1, 1, 1]
    assert area_pred.tolist() == [2, 2, 1]
    assert area_label.tolist() == [1, 2, 2]
    assert union.tolist() == [2, 3, 2]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_counts_equal_histc_semantics_with_out_of_range_values(seed):
    g = torch.Generator().manual_seed(seed)
    # Values outside [0, 5): -1, 5, 7 in both maps, plus ignored pixels.
    pred = torch.randint(-1, 8, (23, 31), generator=g)
    label = torch.randint(-1, 8, (23, 31), generator=g)
    label[torch.rand(23, 31, generator=g) < 0.2] = 255
    ours = intersect_and_union(pred, label, 5, 255)
    ref = _histc_reference(pred, label, 5, 255)
    for a, b in zip(ours, ref):
        assert a.tolist() == b.long().tolist()


def test_uint8_and_int32_inputs_count_like_int64():
    g = torch.Generator().manual_seed(3)
    pred = torch.randint(0, 4, (10, 12), generator=g)
    label = torch.randint(0, 4, (10, 12), generator=g)
    label[:2] = 255
    base = intersect_and_union(pred, label, 4, 255)
    other = intersect_and_union(pred.numpy().astype(np.int32), label.numpy().astype(np.uint8), 4,
                                255)
    for a, b in zip(base, other):
        assert torch.equal(a, b)


def test_label_map_swaps_without_chaining_and_runs_before_reduce_zero_label():
    label = torch.tensor([0, 1, 2, 3, 255])
    assert apply_label_transforms(label, {1: 2, 2: 1}).tolist() == [0, 2, 1, 3, 255]
    # 0.x order: label_map first ({3: 0} makes 3 a 0, which reduce_zero_label then ignores).
    out = apply_label_transforms(label, {3: 0}, reduce_zero_label=True)
    assert out.tolist() == [255, 0, 1, 255, 255]
    assert label.tolist() == [0, 1, 2, 3, 255], "input must be left untouched"


def test_file_inputs_equal_array_inputs(tmp_path):
    rng = np.random.RandomState(0)
    pred = rng.randint(0, 4, (9, 11)).astype(np.int64)
    label = rng.randint(0, 4, (9, 11)).astype(np.uint8)
    label[0] = 255
    pred_file, label_file = tmp_path / "pred.npy", tmp_path / "label.png"
    np.save(pred_file, pred)
    Image.fromarray(label).save(label_file)
    from_files = intersect_and_union(str(pred_file), str(label_file), 4, 255)
    from_arrays = intersect_and_union(pred, label, 4, 255)
    for a, b in zip(from_files, from_arrays):
        assert torch.equal(a, b)


def test_palette_png_label_reads_indices(tmp_path):
    label = np.array([[0, 1], [2, 255]], dtype=np.uint8)
    img = Image.fromarray(label, mode="P")
    img.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * (256 * 3 - 9))
    img.save(tmp_path / "voc.png")
    _, _, _, area_label = intersect_and_union(np.zeros((2, 2), np.int64), str(tmp_path / "voc.png"),
                                              3, 255)
    assert area_label.tolist() == [1, 1, 1]


def test_missing_and_corrupt_label_files_are_named(tmp_path):
    missing = tmp_path / "nope.png"
    with pytest.raises(DatasetError, match="nope.png"):
        intersect_and_union(np.zeros((2, 2), np.int64), str(missing), 3, 255)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="bad.png"):
        intersect_and_union(np.zeros((2, 2), np.int64), str(bad), 3, 255)
    with pytest.raises(DatasetError, match="missing.npy"):
        intersect_and_union(str(tmp_path / "missing.npy"), np.zeros((2, 2)), 3, 255)


def test_shape_mismatch_and_float_predictions_are_explained():
    with pytest.raises(DatasetError, match=r"\(2, 3\).*\(3, 2\)"):
        intersect_and_union(np.zeros((2, 3), np.int64), np.zeros((3, 2), np.int64), 3, 255)
    with pytest.raises(TypeError, match="argmax"):
        intersect_and_union(np.zeros((2, 3), np.float32), np.zeros((2, 3), np.int64), 3, 255)


def test_unknown_metric_is_a_key_error_naming_allowed_ones():
    with pytest.raises(UnknownMetricError) as info:
        eval_metrics([np.zeros((2, 2), np.int64)], [np.zeros((2, 2), np.int64)], 2, 255,
                     metrics=["mIoU", "mAP"])
    assert isinstance(info.value, KeyError)
    message = str(info.value)
    assert "mAP" in message and "'mIoU'" in message and "'mDice'" in message
    assert "'mFscore'" in message
    with pytest.raises(KeyError):
        pre_eval_to_metrics([intersect_and_union(np.zeros((1, 1), np.int64),
                                                 np.zeros((1, 1), np.int64), 2, 255)], "mAP")


def test_metric_keys_and_values_from_areas():
    inter = torch.tensor([3, 0, 0])
    union = torch.tensor([5, 2, 0])
    pred = torch.tensor([4, 2, 0])
    label = torch.tensor([4, 0, 0])
    ret = total_area_to_metrics(inter, union, pred, label, ["mIoU", "mDice", "mFscore"])
    assert list(ret) == ["aAcc", "IoU", "Acc", "Dice", "Fscore", "Precision", "Recall"]
    assert ret["aAcc"].shape == () and ret["aAcc"] == np.float32(0.75)
    np.testing.assert_array_equal(ret["IoU"], np.array([0.6, 0.0, np.nan], np.float32))
    np.testing.assert_array_equal(ret["Acc"], np.array([0.75, np.nan, np.nan], np.float32))
    np.testing.assert_array_equal(ret["Dice"], np.array([0.75, 0.0, np.nan], np.float32))
    np.testing.assert_array_equal(ret["Precision"], np.array([0.75, 0.0, np.nan], np.float32))
    # Fscore of precision = recall = 0 is NaN, as in MMSeg.
    np.testing.assert_array_equal(ret["Fscore"], np.array([0.75, np.nan, np.nan], np.float32))
    filled = total_area_to_metrics(inter, union, pred, label, "mIoU", nan_to_num=-1)
    np.testing.assert_array_equal(filled["IoU"], np.array([0.6, 0.0, -1], np.float32))


def test_f_score_beta():
    assert f_score(0.5, 1.0, beta=1) == pytest.approx(2 / 3)
    assert f_score(0.5, 1.0, beta=2) == pytest.approx(5 * 0.5 / (4 * 0.5 + 1))
    ret = total_area_to_metrics(torch.tensor([1]), torch.tensor([2]), torch.tensor([2]),
                                torch.tensor([1]), "mFscore", beta=2)
    assert ret["Fscore"][0] == pytest.approx(5 * 0.5 / (2 + 1))


def test_mean_helpers_select_their_metric():
    preds = [np.array([[0, 1], [1, 1]])]
    labels = [np.array([[0, 1], [0, 255]])]
    assert list(mean_iou(preds, labels, 2, 255)) == ["aAcc", "IoU", "Acc"]
    assert list(mean_dice(preds, labels, 2, 255)) == ["aAcc", "Dice", "Acc"]
    assert list(mean_fscore(preds, labels, 2, 255)) == ["aAcc", "Fscore", "Precision", "Recall"]
    iou = mean_iou(preds, labels, 2, 255)["IoU"]
    np.testing.assert_allclose(iou, [1 / 2, 1 / 2])


def test_eval_metrics_streams_a_generator_of_labels():
    preds = [np.full((3, 3), i % 2, np.int64) for i in range(4)]
    gen = (np.full((3, 3), 1, np.int64) for _ in range(4))
    ret = eval_metrics(preds, gen, 2, 255)
    assert float(ret["aAcc"]) == 0.5


def test_pre_eval_accepts_mmseg_float32_histc_tuples():
    pred, label = np.array([[0, 1]]), np.array([[0, 0]])
    ints = intersect_and_union(pred, label, 2, 255)
    floats = tuple(a.float() for a in ints)
    a = pre_eval_to_metrics([ints, ints])
    b = pre_eval_to_metrics([floats, floats])
    np.testing.assert_array_equal(a["IoU"], b["IoU"])
    assert a["IoU"].dtype == b["IoU"].dtype == np.float32
    with pytest.raises(ValueError, match="no results"):
        pre_eval_to_metrics([])
