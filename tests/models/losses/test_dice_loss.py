import numpy as np
import pytest
import torch

from seglab.errors import ConfigError
from seglab.models.losses import DiceLoss
from seglab.registry import MODELS, build_from_cfg


def _numpy_dice(logits, label, smooth=1.0, exponent=2.0, ignore_index=255, class_weight=None):
    """MMSeg 0.x Dice with explicit loops in float64 (the clamp/one-hot quirk included)."""
    x = logits.double().numpy()
    lab = label.numpy()
    n, c = x.shape[:2]
    e = np.exp(x - x.max(axis=1, keepdims=True))
    prob = e / e.sum(axis=1, keepdims=True)
    total = 0.0
    for k in range(c):
        if k == ignore_index:
            continue
        per_image = []
        for b in range(n):
            num = den = 0.0
            for i in range(lab.shape[1]):
                for j in range(lab.shape[2]):
                    t = 1.0 if min(max(lab[b, i, j], 0), c - 1) == k else 0.0
                    valid = 1.0 if lab[b, i, j] != ignore_index else 0.0
                    p = prob[b, k, i, j]
                    num += p * t * valid
                    den += p ** exponent + t ** exponent
            per_image.append(1 - (2 * num + smooth) / (den + smooth))
        loss_k = float(np.mean(per_image))
        if class_weight is not None:
            loss_k *= class_weight[k]
        total += loss_k
    return total / c


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(11)
    logits = torch.randn(2, 3, 4, 5, generator=g)
    label = torch.randint(0, 3, (2, 4, 5), generator=g)
    label[1, 0, :] = 255
    return logits, label


def test_defaults_name_and_registry():
    loss = build_from_cfg(dict(type="DiceLoss", loss_weight=3.0), MODELS)
    assert isinstance(loss, DiceLoss)
    assert (loss.smooth, loss.exponent, loss.ignore_index) == (1, 2, 255)
    assert loss.loss_name == "loss_dice"
    assert DiceLoss(loss_name="loss_d2").loss_name == "loss_d2"


def test_hand_computed_with_ignore(data):
    logits, label = data
    got = DiceLoss()(logits, label, ignore_index=255)
    assert got.dim() == 0
    assert got.item() == pytest.approx(_numpy_dice(logits, label), rel=1e-6)


def test_smooth_exponent_class_weight_loss_weight(data):
    logits, label = data
    cw = [0.2, 1.0, 3.0]
    got = DiceLoss(smooth=0.5, exponent=3, class_weight=cw, loss_weight=2.0)(logits, label)
    ref = 2.0 * _numpy_dice(logits, label, smooth=0.5, exponent=3, class_weight=cw)
    assert got.item() == pytest.approx(ref, rel=1e-6)


def test_ignore_index_that_is_a_class_is_skipped(data):
    logits, label = data
    label = label.clamp(max=2)
    got = DiceLoss(ignore_index=1)(logits, label)
    assert got.item() == pytest.approx(_numpy_dice(logits, label, ignore_index=1), rel=1e-6)


def test_perfect_prediction_has_small_loss():
    label = torch.randint(0, 3, (1, 6, 6), generator=torch.Generator().manual_seed(2))
    logits = torch.nn.functional.one_hot(label, 3).permute(0, 3, 1, 2).float() * 50
    assert DiceLoss(smooth=0)(logits, label).item() == pytest.approx(0.0, abs=1e-6)


def test_backward_finite_and_weight_is_ignored(data):
    logits, label = data
    x = logits.clone().requires_grad_(True)
    out = DiceLoss()(x, label, weight=torch.zeros(label.shape))
    out.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert out.item() == pytest.approx(_numpy_dice(logits, label), rel=1e-6)


def test_avg_factor_and_warning_on_different_ignore_index(data):
    logits, label = data
    base = DiceLoss()(logits, label)
    quarter = DiceLoss()(logits, label, avg_factor=4)
    assert quarter.item() == pytest.approx(base.item() / 4, rel=1e-6)
    loss = DiceLoss()
    with pytest.warns(UserWarning, match="ignore_index=255"):
        loss(logits, label, ignore_index=0)


def test_bad_config():
    with pytest.raises(ConfigError, match="reduction"):
        DiceLoss(reduction="average")
    with pytest.raises(KeyError, match="smooth"):
        build_from_cfg(dict(type="DiceLoss", smoth=1), MODELS)
    with pytest.raises(ConfigError, match="2 values but the prediction has 3 classes"):
        DiceLoss(class_weight=[1.0, 2.0])(torch.randn(1, 3, 2, 2), torch.zeros(1, 2, 2).long())
