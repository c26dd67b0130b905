from types import SimpleNamespace

import pytest
import torch
from torch import nn

from seglab.errors import ConfigError
from seglab.models.losses import (CrossEntropyLoss, DiceLoss, FocalLoss, OHEMPixelSampler,
                                  build_pixel_sampler)
from seglab.registry import PIXEL_SAMPLERS


def _make(ignore_index=255, loss_decode=None):
    return SimpleNamespace(ignore_index=ignore_index,
                           loss_decode=loss_decode or CrossEntropyLoss())


@pytest.fixture
def data():
    # 1 image, 2 classes, 1x6 pixels; label all class 0, P(class 0) decreasing left to right
    p0 = torch.tensor([0.9, 0.8, 0.6, 0.4, 0.2, 0.1])
    logits = torch.stack([torch.log(p0), torch.log(1 - p0)]).view(1, 2, 1, 6)
    label = torch.zeros(1, 1, 1, 6, dtype=torch.long)
    return logits, label


def test_registered_and_built_with_context():
    ctx = _make()
    sampler = build_pixel_sampler(dict(type="OHEMPixelSampler", thresh=0.7, min_kept=2),
                                  context=ctx)
    assert PIXEL_SAMPLERS.get("OHEMPixelSampler") is OHEMPixelSampler
    assert isinstance(sampler, OHEMPixelSampler) and sampler.context is ctx
    assert (sampler.thresh, sampler.min_kept) == (0.7, 2)
    with pytest.raises(ConfigError, match="min_kept"):
        OHEMPixelSampler(ctx, min_kept=1)


def test_loss_ranking_keeps_min_kept_hardest(data):
    logits, label = data
    w = OHEMPixelSampler(_make(), min_kept=2).sample(logits, label)
    assert w.shape == (1, 1, 6)
    assert w.tolist() == [[[0, 0, 0, 0, 1, 1]]]


def test_loss_ranking_skips_ignored_and_counts_per_image(data):
    logits, label = data
    label = label.clone()
    label[0, 0, 0, 5] = 255  # the hardest pixel is void
    w = OHEMPixelSampler(_make(), min_kept=2).sample(logits, label)
    assert w.tolist() == [[[0, 0, 0, 1, 1, 0]]]
    # two images: min_kept is per image, so 4 pixels of the batch survive
    w2 = OHEMPixelSampler(_make(), min_kept=2).sample(torch.cat([logits, logits]),
                                                      torch.zeros(2, 1, 1, 6, dtype=torch.long))
    assert w2.sum().item() == 4 and w2[:, 0, 4:].eq(1).all()


def test_threshold_keeps_low_confidence_pixels(data):
    logits, label = data
    # thresh 0.7 > the 2nd smallest prob (0.2): pixels with p < 0.7 are kept
    w = OHEMPixelSampler(_make(), thresh=0.7, min_kept=2).sample(logits, label)
    assert w.tolist() == [[[0, 0, 1, 1, 1, 1]]]
    # thresh 0.15 < the 4th smallest prob (0.6) with min_kept=3: threshold becomes 0.6
    w = OHEMPixelSampler(_make(), thresh=0.15, min_kept=3).sample(logits, label)
    assert w.tolist() == [[[0, 0, 0, 1, 1, 1]]]


def test_thresh_with_ignored_and_all_ignored(data):
    logits, label = data
    label = label.clone()
    label[0, 0, 0, 4:] = 255
    w = OHEMPixelSampler(_make(), thresh=0.7, min_kept=2).sample(logits, label)
    assert w.tolist() == [[[0, 0, 1, 1, 0, 0]]]
    void = torch.full_like(label, 255)
    for thresh in (0.7, None):
        assert OHEMPixelSampler(_make(), thresh=thresh, min_kept=2).sample(logits, void).sum() == 0


def test_module_list_of_losses_and_focal(data):
    logits, label = data
    ctx = _make(loss_decode=nn.ModuleList([CrossEntropyLoss(), FocalLoss()]))
    w = OHEMPixelSampler(ctx, min_kept=2).sample(logits, label)
    assert w.tolist() == [[[0, 0, 0, 0, 1, 1]]]


def test_no_gradient_and_clear_error_for_non_pixel_loss(data):
    logits, label = data
    logits = logits.clone().requires_grad_(True)
    w = OHEMPixelSampler(_make(), min_kept=2).sample(logits, label)
    assert not w.requires_grad
    with pytest.raises(ValueError, match="DiceLoss gives no per-pixel loss"):
        OHEMPixelSampler(_make(loss_decode=DiceLoss()), min_kept=2).sample(logits, label)
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        OHEMPixelSampler(_make(), min_kept=2).sample(logits, label[:, 0])
