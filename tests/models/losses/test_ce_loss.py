import math
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seglab.errors import ConfigError, DatasetError
from seglab.models.losses import CrossEntropyLoss
from seglab.registry import LOSSES, MODELS, build_from_cfg

EPS = float(np.finfo(np.float32).eps)


def _loop_ce(logits, label, ignore_index=255, class_weight=None):
    """Per-pixel softmax cross-entropy with explicit loops in float64 (independent reference)."""
    n, c, h, w = logits.shape
    x = logits.double()
    out = torch.zeros(n, h, w, dtype=torch.float64)
    for b in range(n):
        for i in range(h):
            for j in range(w):
                t = int(label[b, i, j])
                if t == ignore_index:
                    continue
                scores = [float(x[b, k, i, j]) for k in range(c)]
                m = max(scores)
                lse = m + math.log(sum(math.exp(s - m) for s in scores))
                cw = 1.0 if class_weight is None else class_weight[t]
                out[b, i, j] = cw * (lse - scores[t])
    return out


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 5, 6, generator=g)
    label = torch.randint(0, 4, (2, 5, 6), generator=g)
    label[0, :2, :3] = 255  # 6 ignored pixels out of 60
    return logits, label


def test_registered_and_built_from_config():
    assert MODELS.get("CrossEntropyLoss") is CrossEntropyLoss
    assert LOSSES is MODELS
    loss = build_from_cfg(dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=0.4), MODELS)
    assert isinstance(loss, CrossEntropyLoss) and loss.loss_weight == 0.4
    assert loss.loss_name == "loss_ce"
    assert CrossEntropyLoss(loss_name="loss_aux").loss_name == "loss_aux"


def test_typo_in_config_key_names_accepted_keys():
    with pytest.raises(KeyError, match="avg_non_ignore"):
        build_from_cfg(dict(type="CrossEntropyLoss", avg_non_ignor=True), MODELS)


def test_default_mean_divides_by_all_pixels_including_ignored(data):
    logits, label = data
    ref = _loop_ce(logits, label).sum() / 60
    out = CrossEntropyLoss()(logits, label, ignore_index=255)
    assert out.dim() == 0
    assert out.item() == pytest.approx(ref.item(), rel=1e-6)


def test_avg_non_ignore_divides_by_valid_pixels(data):
    logits, label = data
    ref = _loop_ce(logits, label).sum() / 54
    out = CrossEntropyLoss(avg_non_ignore=True)(logits, label, ignore_index=255)
    assert out.item() == pytest.approx(ref.item(), rel=1e-6)
    # that is PyTorch's own mean when no class weight is set
    assert out.item() == pytest.approx(F.cross_entropy(logits, label, ignore_index=255).item(),
                                       rel=1e-6)


def test_exact_mmseg_arithmetic_bitwise(data):
    """sum / (numel + eps) in float32, eps a Python float, times loss_weight (the parity README)."""
    torch.manual_seed(3)
    logits = torch.randn(2, 5, 16, 16)
    label = torch.randint(0, 5, (2, 16, 16))
    label[:, :3, :3] = 255
    per_pixel = F.cross_entropy(logits, label, reduction="none", ignore_index=255)
    expected = 0.4 * (per_pixel.sum() / (label.numel() + EPS))
    got = CrossEntropyLoss(loss_weight=0.4)(logits, label, ignore_index=255)
    assert torch.equal(got, expected)
    assert torch.equal(got, 0.4 * per_pixel.mean())  # MMSeg 0.30's loss.mean() gives the same bits
    n_valid = int((label != 255).sum())
    expected_ni = per_pixel.sum() / (n_valid + EPS)
    assert torch.equal(CrossEntropyLoss(avg_non_ignore=True)(logits, label), expected_ni)


def test_class_weight_list_rescales_but_is_not_in_the_denominator(data):
    logits, label = data
    cw = [0.5, 2.0, 1.0, 3.0]
    per_pixel = _loop_ce(logits, label, class_weight=cw)
    out = CrossEntropyLoss(class_weight=cw)(logits, label)
    assert out.item() == pytest.approx(per_pixel.sum().item() / 60, rel=1e-6)
    out = CrossEntropyLoss(class_weight=cw, avg_non_ignore=True)(logits, label)
    assert out.item() == pytest.approx(per_pixel.sum().item() / 54, rel=1e-6)


@pytest.mark.parametrize("ext", [".npy", ".json", ".yaml", ".pkl"])
def test_class_weight_from_file(tmp_path, data, ext):
    logits, label = data
    cw = [0.5, 2.0, 1.0, 3.0]
    path = tmp_path / f"weights{ext}"
    if ext == ".npy":
        np.save(path, np.array(cw, dtype=np.float32))
    elif ext == ".json":
        path.write_text("[0.5, 2.0, 1.0, 3.0]")
    elif ext == ".yaml":
        path.write_text("- 0.5\n- 2.0\n- 1.0\n- 3.0\n")
    else:
        path.write_bytes(pickle.dumps(np.array(cw)))
    loss = CrossEntropyLoss(class_weight=str(path))
    assert loss.class_weight == cw
    expected = CrossEntropyLoss(class_weight=cw)(logits, label)
    assert torch.equal(loss(logits, label), expected)


def test_unsafe_pickle_class_weight_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "w.pkl"
    path.write_bytes(pickle.dumps([1.0, Evil()]))
    with pytest.raises(ConfigError, match="never unpickles arbitrary code") as exc:
        CrossEntropyLoss(class_weight=str(path))
    assert "w.pkl" in str(exc.value) and "builtins.print" in str(exc.value)


def test_missing_class_weight_file_and_wrong_length(tmp_path, data):
    with pytest.raises(ConfigError, match="does not exist"):
        CrossEntropyLoss(class_weight=str(tmp_path / "nope.npy"))
    with pytest.raises(ConfigError, match="1-D list of numbers"):
        CrossEntropyLoss(class_weight=[[1.0, 2.0]])
    logits, label = data
    with pytest.raises(ConfigError, match="3 values but the prediction has 4 classes"):
        CrossEntropyLoss(class_weight=[1.0, 1.0, 1.0])(logits, label)


def test_pixel_weight_and_reductions(data):
    logits, label = data
    weight = torch.rand(label.shape, generator=torch.Generator().manual_seed(1))
    per_pixel = _loop_ce(logits, label) * weight.double()
    loss = CrossEntropyLoss()
    assert loss(logits, label, weight=weight).item() == pytest.approx(
        per_pixel.sum().item() / 60, rel=1e-6)
    none = loss(logits, label, weight=weight, reduction_override="none")
    assert none.shape == label.shape
    assert torch.allclose(none.double(), per_pixel, atol=1e-6)
    assert (none[0, :2, :3] == 0).all()
    total = loss(logits, label, weight=weight, reduction_override="sum")
    assert total.item() == pytest.approx(per_pixel.sum().item(), rel=1e-6)
    avg = loss(logits, label, avg_factor=10)
    assert avg.item() == pytest.approx(_loop_ce(logits, label).sum().item() / 10, rel=1e-6)
    with pytest.raises(ValueError, match="avg_factor"):
        loss(logits, label, avg_factor=10, reduction_override="sum")


def test_all_ignored_gives_zero_not_nan(data):
    logits, _ = data
    label = torch.full((2, 5, 6), 255, dtype=torch.long)
    for avg_non_ignore in (False, True):
        out = CrossEntropyLoss(avg_non_ignore=avg_non_ignore)(logits, label)
        assert out.item() == 0.0


def test_backward_finite_and_zero_at_ignored(data):
    logits, label = data
    logits = logits.clone().requires_grad_(True)
    CrossEntropyLoss()(logits, label).backward()
    assert torch.isfinite(logits.grad).all()
    assert (logits.grad[0, :, :2, :3] == 0).all()
    assert logits.grad.abs().sum() > 0


def test_warning_when_avg_non_ignore_is_false():
    with pytest.warns(UserWarning, match="avg_non_ignore"):
        CrossEntropyLoss()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CrossEntropyLoss(avg_non_ignore=True)
        CrossEntropyLoss(reduction="sum")


def test_bad_config_values():
    with pytest.raises(ConfigError, match="reduction='avg'"):
        CrossEntropyLoss(reduction="avg")
    # built as part of a config, the message names the config path
    with pytest.raises(ConfigError, match="CrossEntropyLoss at loss_decode: reduction='avg'"):
        build_from_cfg(dict(type="CrossEntropyLoss", reduction="avg"), MODELS, key="loss_decode")
    with pytest.raises(ConfigError, match="use_sigmoid and use_mask"):
        CrossEntropyLoss(use_sigmoid=True, use_mask=True)


def test_out_of_range_labels_are_named(data):
    logits, label = data
    label = label.clone()
    label[1, 0, 0] = 7
    with pytest.raises(DatasetError, match=r"\[7\] are outside \[0, 4\)"):
        CrossEntropyLoss()(logits, label)


def _bce(x, t):
    return max(x, 0.0) - x * t + math.log1p(math.exp(-abs(x)))


def test_sigmoid_binary_single_channel():
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(2, 1, 3, 4, generator=g)
    label = torch.randint(0, 2, (2, 3, 4), generator=g)
    label[0, 0, :] = 255
    ref = 0.0
    for b in range(2):
        for i in range(3):
            for j in range(4):
                if label[b, i, j] != 255:
                    ref += _bce(float(logits[b, 0, i, j]), float(label[b, i, j]))
    loss = CrossEntropyLoss(use_sigmoid=True)
    assert loss(logits, label).item() == pytest.approx(ref / 24, rel=1e-6)
    loss = CrossEntropyLoss(use_sigmoid=True, avg_non_ignore=True)
    assert loss(logits, label).item() == pytest.approx(ref / 20, rel=1e-6)
    x = logits.clone().requires_grad_(True)
    loss(x, label).backward()
    assert torch.isfinite(x.grad).all() and (x.grad[0, 0, 0] == 0).all()
    bad = label.clone()
    bad[1, 1, 1] = 3
    with pytest.raises(DatasetError, match="binary segmentation"):
        loss(logits, bad)


def test_sigmoid_multi_class_one_vs_rest_with_pos_weight():
    g = torch.Generator().manual_seed(6)
    logits = torch.randn(1, 3, 2, 4, generator=g)
    label = torch.tensor([[[0, 1, 2, 255], [2, 2, 1, 0]]])
    cw = [1.0, 2.0, 0.5]
    ref = 0.0
    for c in range(3):
        for i in range(2):
            for j in range(4):
                t = int(label[0, i, j])
                if t == 255:
                    continue
                x, y = float(logits[0, c, i, j]), float(t == c)
                # pos_weight scales the positive term: -(pw*y*log s(x) + (1-y)*log(1-s(x)))
                ls, l1s = -math.log1p(math.exp(-x)), -math.log1p(math.exp(x))
                ref += -(cw[c] * y * ls + (1 - y) * l1s)
    out = CrossEntropyLoss(use_sigmoid=True, class_weight=cw)(logits, label)
    assert out.item() == pytest.approx(ref / 24, rel=1e-5)
    out = CrossEntropyLoss(use_sigmoid=True, class_weight=cw, avg_non_ignore=True)(logits, label)
    assert out.item() == pytest.approx(ref / 21, rel=1e-5)


def test_mask_variant():
    g = torch.Generator().manual_seed(7)
    pred = torch.randn(3, 4, 2, 2, generator=g)
    target = torch.randint(0, 2, (3, 2, 2), generator=g).float()
    cls = torch.tensor([2, 0, 3])
    ref = sum(_bce(float(pred[r, cls[r], i, j]), float(target[r, i, j]))
              for r in range(3) for i in range(2) for j in range(2)) / 12
    out = CrossEntropyLoss(use_mask=True)(pred, target, cls)
    assert out.shape == (1,)
    assert out.item() == pytest.approx(ref, rel=1e-6)
    with pytest.raises(ValueError, match="reduction='mean'"):
        CrossEntropyLoss(use_mask=True)(pred, target, cls, reduction_override="sum")
