import math

import pytest
import torch

from seglab.errors import ConfigError, DatasetError
from seglab.models.losses import FocalLoss
from seglab.registry import MODELS, build_from_cfg


def _focal_terms(logits, label, gamma=2.0, alpha=0.5, ignore_index=255, class_weight=None,
                 weight=None):
    """Per (pixel, class) focal terms with explicit loops (one-vs-rest sigmoid)."""
    n, c, h, w = logits.shape
    out = torch.zeros(n, c, h, w, dtype=torch.float64)
    for b in range(n):
        for i in range(h):
            for j in range(w):
                t_cls = int(label[b, i, j])
                if t_cls == ignore_index:
                    continue
                for k in range(c):
                    x = float(logits[b, k, i, j])
                    t = 1.0 if k == t_cls else 0.0
                    p = 1 / (1 + math.exp(-x))
                    bce = max(x, 0) - x * t + math.log1p(math.exp(-abs(x)))
                    a = alpha[k] if isinstance(alpha, list) else alpha
                    fw = (a * t + (1 - a) * (1 - t)) * ((1 - p) * t + p * (1 - t)) ** gamma
                    v = bce * fw
                    if class_weight is not None:
                        v *= class_weight[k]
                    if weight is not None:
                        v *= float(weight[b, i, j])
                    out[b, k, i, j] = v
    return out


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(21)
    logits = torch.randn(2, 3, 3, 4, generator=g)
    label = torch.randint(0, 3, (2, 3, 4), generator=g)
    label[0, 0, :2] = 255
    return logits, label


def test_defaults_and_registry():
    loss = build_from_cfg(dict(type="FocalLoss", loss_weight=1.0), MODELS)
    assert isinstance(loss, FocalLoss)
    assert (loss.use_sigmoid, loss.gamma, loss.alpha, loss.reduction) == (True, 2.0, 0.5, "mean")
    assert loss.loss_name == "loss_focal"
    assert FocalLoss(loss_name="loss_f").loss_name == "loss_f"


def test_mean_over_pixels_times_classes_with_ignore(data):
    logits, label = data
    ref = _focal_terms(logits, label).sum().item() / (24 * 3)
    assert FocalLoss()(logits, label, ignore_index=255).item() == pytest.approx(ref, rel=1e-6)


def test_gamma_alpha_list_class_weight_loss_weight(data):
    logits, label = data
    kw = dict(gamma=1.5, alpha=[0.25, 0.5, 0.75], class_weight=[1.0, 0.5, 2.0])
    ref = 0.7 * _focal_terms(logits, label, **kw).sum().item() / 72
    got = FocalLoss(loss_weight=0.7, **kw)(logits, label)
    assert got.item() == pytest.approx(ref, rel=1e-6)


def test_reduction_none_shape_sum_and_pixel_weight(data):
    logits, label = data
    weight = torch.rand(label.shape, generator=torch.Generator().manual_seed(3))
    terms = _focal_terms(logits, label, weight=weight)
    none = FocalLoss(reduction="none")(logits, label, weight=weight)
    assert none.shape == logits.shape
    assert torch.allclose(none.double(), terms, atol=1e-6)
    total = FocalLoss()(logits, label, weight=weight, reduction_override="sum")
    assert total.item() == pytest.approx(terms.sum().item(), rel=1e-6)


def test_backward_finite(data):
    logits, label = data
    x = logits.clone().requires_grad_(True)
    FocalLoss()(x, label).backward()
    assert torch.isfinite(x.grad).all()
    assert (x.grad[0, :, 0, :2] == 0).all() and x.grad.abs().sum() > 0


def test_bad_config_and_inputs(data):
    logits, label = data
    with pytest.raises(ConfigError, match="use_sigmoid"):
        FocalLoss(use_sigmoid=False)
    with pytest.raises(ConfigError, match="alpha"):
        FocalLoss(alpha="0.5")
    with pytest.raises(ConfigError, match="alpha has 2 values"):
        FocalLoss(alpha=[0.5, 0.5])(logits, label)
    bad = label.clone()
    bad[1, 1, 1] = 5
    with pytest.raises(DatasetError, match=r"\[5\]"):
        FocalLoss()(logits, bad)
    with pytest.raises(ValueError, match="target shape"):
        FocalLoss()(logits, label[:, :2])
