"""Inference makes no full-resolution float copies beyond the resizes MMSeg's numbers need.

An allocation counter (a TorchDispatchMode) records every op output of at least one full-size
logit map (C x H x W floats) that is new memory (not one of the op's inputs written in place).
The in-place steps (slide average, identity rescale skipped, chunked softmax) are also checked
bit for bit against the plain ops they replace.
"""
from __future__ import annotations

from typing import List

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from seglab.models import build_segmentor
from seglab.models.segmentors.inference import logits_to_probs, unpad_and_rescale


class BigAllocations(TorchDispatchMode):
    """Names of the ops whose outputs are new float tensors of at least ``numel`` elements."""

    def __init__(self, numel: int):
        super().__init__()
        self.numel, self.ops = numel, []  # type: int, List[str]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tree_leaves((args, kwargs))
                  if isinstance(t, torch.Tensor)}
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.is_floating_point() and \
                    t.numel() >= self.numel and t.untyped_storage().data_ptr() not in inputs:
                self.ops.append(func.__name__)
        return out


def _fcn(test_cfg: dict):
    backbone = dict(type="ResNetV1c", depth=18, stem_channels=8, base_channels=4,
                    strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), contract_dilation=True)
    head = dict(type="FCNHead", in_channels=32, in_index=3, channels=4, num_convs=1,
                num_classes=5)
    return build_segmentor(dict(type="EncoderDecoder", backbone=backbone, decode_head=head,
                                test_cfg=test_cfg)).eval()


@pytest.mark.parametrize("test_cfg", [
    dict(mode="whole"),
    # 4 windows, 2 per pass: each pass's logits (2 x 48 x 48) are smaller than one 80 x 80 map.
    dict(mode="slide", crop_size=(48, 48), stride=(32, 32), slide_batch_size=2)])
def test_simple_test_full_size_float_maps(test_cfg):
    model, (h, w) = _fcn(test_cfg), (80, 80)
    img = torch.randn(1, 3, h, w)
    metas = [dict(img_shape=(h, w, 3), ori_shape=(h, w, 3))]
    counter = BigAllocations(5 * h * w)
    with torch.inference_mode(), counter:
        model.simple_test(img, metas)
    if test_cfg["mode"] == "whole":
        # encode_decode's resize to the input; rescale to the same size and softmax add none.
        assert counter.ops == ["upsample_bilinear2d.vec"]
    else:
        # The sum buffer only: the average is in place, so are the identity rescale and softmax.
        assert counter.ops == ["new_zeros.default"]


def test_rescale_to_another_size_still_resizes():
    logits = torch.randn(1, 5, 20, 30)
    out = unpad_and_rescale(logits, [dict(img_shape=(20, 30), ori_shape=(40, 60))], True, False)
    assert torch.equal(out[0], F.interpolate(logits, (40, 60), mode="bilinear",
                                             align_corners=False))


@pytest.mark.parametrize("align_corners", [False, True])
def test_skipped_identity_rescale_is_bit_identical(align_corners):
    logits = torch.randn(2, 5, 23, 31)
    metas = [dict(img_shape=(23, 31), ori_shape=(23, 31))] * 2
    out = unpad_and_rescale(logits, metas, True, align_corners)
    ref = F.interpolate(logits, (23, 31), mode="bilinear", align_corners=align_corners)
    assert all(torch.equal(o, ref[i:i + 1]) for i, o in enumerate(out))
    assert out[0].data_ptr() == logits.data_ptr()  # no copy


@pytest.mark.parametrize("shape", [(1, 19, 150, 37), (2, 4, 65, 9), (1, 1, 70, 5)])
def test_inplace_probs_equal_plain(shape):
    logits = torch.randn(*shape) * 5
    plain = logits_to_probs(logits, shape[1])
    same = logits.clone()
    assert logits_to_probs(same, shape[1], inplace=True).data_ptr() == same.data_ptr()
    assert torch.equal(same, plain)


@pytest.mark.parametrize("layout", ["channels_last", "cropped"])
def test_inplace_probs_equal_plain_in_other_layouts(layout):
    logits = torch.randn(1, 19, 150, 40) * 5
    if layout == "channels_last":  # what a channels_last network's resize returns
        logits = logits.contiguous(memory_format=torch.channels_last)
    else:  # an image's crop of a padded batch (unpad_and_rescale)
        logits = logits[:, :, :140, :37]
    plain = F.softmax(logits, dim=1)
    counter = BigAllocations(logits.numel())
    with counter:
        probs = logits_to_probs(logits, 19, inplace=True)
    assert probs.data_ptr() == logits.data_ptr() and torch.equal(probs, plain)
    if layout == "channels_last":
        assert counter.ops == []  # no second full-size map


def test_slide_upsamples_one_window_at_a_time_with_the_same_numbers():
    from seglab.models.segmentors.inference import slide_logits

    model, (h, w) = _fcn(dict(mode="slide", crop_size=(56, 56), stride=(24, 24),
                              slide_batch_size=2)), (80, 80)
    img = torch.randn(1, 3, h, w)
    metas = [dict(img_shape=(h, w, 3), ori_shape=(h, w, 3))]
    counter = BigAllocations(2 * 5 * 56 * 56)  # a pass's two windows upsampled at once
    with torch.inference_mode(), counter:
        model.simple_test(img, metas)
    assert counter.ops == ["new_zeros.default"]  # the sum buffer only
    with torch.inference_mode():
        args = (img, 5, (56, 56), (24, 24), 2)
        per_window = slide_logits(lambda x: model.head_logits(x, metas), *args,
                                  align_corners=model.align_corners)
        batch_upsampled = slide_logits(lambda x: model.encode_decode(x, metas), *args)
    assert model.head_logits(img[:, :, :56, :56]).shape[2:] == (7, 7)  # really upsampled
    assert torch.equal(per_window, batch_upsampled)
