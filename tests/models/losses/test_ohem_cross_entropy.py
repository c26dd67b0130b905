"""OhemCrossEntropy (PIDNet / DDRNet): the hard-pixel selection against a sort-based reference
written from MMSeg 1.x's description, class weights, ignored pixels, edge cases, errors."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seglab.errors import ConfigError
from seglab.models import build_loss


def _reference(score, target, thres, min_kept, ignore=255, class_weight=None):
    """Sort the non-ignored pixels by their true-class probability; keep those below
    max(thres, the min(min_kept, n - 1)-th probability); mean of their (weighted) losses."""
    weight = None if class_weight is None else torch.tensor(class_weight)
    losses = F.cross_entropy(score, target, weight=weight, ignore_index=ignore,
                             reduction="none").flatten()
    valid = target.flatten() != ignore
    prob = F.softmax(score, 1).gather(1, target.clamp(max=score.size(1) - 1)[:, None]).flatten()
    prob, order = prob[valid].sort()
    threshold = max(prob[min(min_kept, prob.numel() - 1)].item(), thres)
    return losses[valid][order][prob < threshold].mean()


@pytest.mark.parametrize("thres,min_kept", [(0.7, 100000), (0.2, 10), (0.3, 200), (0.05, 1)])
def test_selection_equals_the_sorted_reference(thres, min_kept):
    torch.manual_seed(0)
    score = torch.randn(2, 4, 10, 12) * 2
    target = torch.randint(0, 4, (2, 10, 12))
    target[:, :2] = 255
    weights = [0.5, 1.0, 1.5, 2.0]
    loss = build_loss(dict(type="OhemCrossEntropy", thres=thres, min_kept=min_kept,
                           class_weight=weights, loss_weight=0.4))
    expected = 0.4 * _reference(score, target, thres, min_kept, class_weight=weights)
    torch.testing.assert_close(loss(score, target), expected)


def test_at_least_min_kept_pixels_count():
    torch.manual_seed(1)
    score = torch.randn(1, 3, 8, 8) * 5
    target = torch.randint(0, 3, (1, 8, 8))
    per_pixel = F.cross_entropy(score, target, reduction="none").flatten()
    prob = F.softmax(score, 1).gather(1, target[:, None]).flatten()
    loss = build_loss(dict(type="OhemCrossEntropy", thres=0.0, min_kept=20))
    # thres 0: exactly the 20 least confident pixels (below the 21st smallest probability)
    hardest = per_pixel[prob.argsort()[:20]]
    torch.testing.assert_close(loss(score, target), hardest.mean())


def test_edge_cases_and_errors():
    loss = build_loss(dict(type="OhemCrossEntropy", thres=0.5, min_kept=1))
    score = torch.zeros(1, 2, 2, 2, requires_grad=True)
    nothing_valid = loss(score, torch.full((1, 2, 2), 255))
    assert nothing_valid.item() == 0.0
    nothing_valid.backward()  # an all-ignored batch still trains (zero gradient)
    assert score.grad is not None and not score.grad.any()
    confident = torch.tensor([[[[9.0, 9.0], [9.0, 9.0]], [[-9.0, -9.0], [-9.0, -9.0]]]])
    value = loss(confident.requires_grad_(), torch.zeros(1, 2, 2, dtype=torch.long))
    assert value.item() == 0.0  # no pixel below the threshold: 0 where MMSeg gives NaN
    custom = torch.randint(0, 2, (1, 2, 2))
    custom[0, 0, 0] = 7
    torch.testing.assert_close(loss(score, custom, ignore_index=7),
                               build_loss(dict(type="OhemCrossEntropy", thres=0.5, min_kept=1,
                                               ignore_label=7))(score, custom))
    with pytest.raises(ConfigError, match="remove the head's sampler"):
        loss(score, custom.clamp(max=1), weight=torch.ones(1, 2, 2))
    with pytest.raises(ConfigError, match="class_weight has 3 values but the prediction has 2"):
        build_loss(dict(type="OhemCrossEntropy", class_weight=[1, 1, 1]))(score, custom.clamp(0, 1))
    assert loss.loss_name == "loss_ohem"
