import numpy as np
import pytest
import torch

from seglab.models.losses import Accuracy, accuracy

EPS = float(np.finfo(np.float32).eps)


def test_top1_counts_hits_over_non_ignored_pixels():
    # 1 image, 3 classes, 2x2 pixels; argmax per pixel = [[0, 1], [2, 2]]
    pred = torch.tensor([[[[5.0, 0.0], [0.0, 0.0]],
                          [[0.0, 5.0], [1.0, 0.0]],
                          [[0.0, 0.0], [3.0, 4.0]]]])
    target = torch.tensor([[[0, 2], [2, 255]]])
    acc = accuracy(pred, target, ignore_index=255)
    assert acc.shape == (1,) and acc.dtype == torch.float32
    assert acc.item() == pytest.approx(100 * 2 / 3, rel=1e-6)
    # without ignore_index the 255 pixel is a miss
    assert accuracy(pred, target).item() == pytest.approx(50.0, rel=1e-6)


def test_exact_float32_formula():
    torch.manual_seed(0)
    pred = torch.randn(2, 5, 7, 9)
    target = torch.randint(0, 5, (2, 7, 9))
    target[:, :2] = 255
    valid = target != 255
    n_correct = int((pred.argmax(1) == target)[valid].sum())
    n_valid = int(valid.sum())
    expected = (torch.tensor([float(n_correct)]) + EPS) * (100.0 / (n_valid + EPS))
    assert torch.equal(accuracy(pred, target, ignore_index=255), expected)


def test_topk_tuple_and_thresh():
    # one pixel per image: scores for 3 classes
    pred = torch.tensor([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1], [0.2, 0.3, 0.5]])
    target = torch.tensor([2, 0, 0])
    top1, top2 = accuracy(pred, target, topk=(1, 2))
    assert top1.item() == pytest.approx(100 / 3, rel=1e-6)   # only the 2nd sample
    assert top2.item() == pytest.approx(200 / 3, rel=1e-6)   # 1st: class 2 is 2nd best
    # thresh: a correct top-1 guess with score <= 0.6 does not count
    assert accuracy(pred, target, thresh=0.6).item() == pytest.approx(0.0, abs=1e-5)
    assert accuracy(pred, target, thresh=0.5).item() == pytest.approx(100 / 3, rel=1e-6)


def test_thresh_on_segmentation_maps():
    pred = torch.tensor([[[[0.9, 0.4]], [[0.1, 0.6]]]])  # (1, 2, 1, 2)
    target = torch.tensor([[[0, 1]]])
    assert accuracy(pred, target, thresh=0.5).item() == pytest.approx(100.0, rel=1e-6)
    assert accuracy(pred, target, thresh=0.7).item() == pytest.approx(50.0, rel=1e-6)


def test_all_ignored_is_finite_and_empty_batch():
    pred = torch.randn(1, 3, 2, 2)
    target = torch.full((1, 2, 2), 255)
    acc = accuracy(pred, target, ignore_index=255)
    # MMSeg's eps on both sides: eps * (100 / eps) = 100, never NaN
    assert torch.isfinite(acc).all() and acc.item() == pytest.approx(100.0, rel=1e-6)
    assert accuracy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)).item() == 0.0


def test_module_and_errors():
    pred = torch.tensor([[0.1, 0.9], [0.8, 0.2]])
    target = torch.tensor([1, 1])
    assert Accuracy(topk=1)(pred, target).item() == pytest.approx(50.0, rel=1e-6)
    assert len(Accuracy(topk=(1, 2))(pred, target)) == 2
    with pytest.raises(ValueError, match="exceeds"):
        accuracy(pred, target, topk=3)
    with pytest.raises(ValueError, match="matching sizes"):
        accuracy(pred, target[:1])
