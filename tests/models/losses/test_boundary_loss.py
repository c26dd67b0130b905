"""BoundaryLoss (PIDNet): class-balanced sigmoid cross-entropy against hand computations,
ignored pixels, the loss weight and shape errors."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from seglab.models import build_loss


def test_zero_logits_by_hand():
    """Every pixel costs log 2; edges weigh n_neg / n, non-edges n_pos / n, 255 weighs 0."""
    loss = build_loss(dict(type="BoundaryLoss", loss_weight=2.0))
    label = torch.tensor([[[1, 1, 0, 0], [0, 0, 0, 255]]])  # 2 edges, 5 non-edges, 1 ignored
    value = loss(torch.zeros(1, 1, 2, 4), label)
    expected = 2.0 * (2 * 5 / 7 + 5 * 2 / 7) * math.log(2) / 8  # mean over all 8 pixels
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_random_logits_equal_a_weighted_bce():
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 6, 5, requires_grad=True)
    label = torch.randint(0, 2, (2, 6, 5))
    label[0, 0] = 255
    value = build_loss(dict(type="BoundaryLoss"))(logits, label)
    pos, neg = (label == 1).sum().item(), (label == 0).sum().item()
    weight = torch.where(label == 1, neg / (pos + neg), torch.where(label == 0, pos / (pos + neg),
                                                                     0.0))
    expected = F.binary_cross_entropy_with_logits(logits[:, 0], (label == 1).float(), weight)
    torch.testing.assert_close(value, expected)
    value.backward()
    assert logits.grad[0, 0, 0].abs().sum() == 0  # ignored pixels get no gradient


def test_all_ignored_is_zero_and_shapes_are_checked():
    loss = build_loss(dict(type="BoundaryLoss"))
    logits = torch.randn(1, 1, 3, 3, requires_grad=True)
    assert loss(logits, torch.full((1, 3, 3), 255)).item() == 0.0
    with pytest.raises(ValueError, match=r"one boundary logit per pixel \(N, 1, H, W\)"):
        loss(torch.randn(1, 3, 3, 3), torch.zeros(1, 3, 3))
    assert loss.loss_name == "loss_boundary"
