"""Whole/slide inference, batched slide crops, padded batches and test-time augmentation."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seglab.models import build_segmentor
from seglab.models.segmentors.inference import slide_windows


@pytest.fixture
def model(cfgs):
    m = build_segmentor(cfgs.segmentor())
    # Non-trivial BN statistics so that eval-mode outputs are not near-constant.
    m.train()
    with torch.no_grad():
        m.extract_feat(torch.randn(4, 3, 32, 32))
    return m.eval()


def _meta(h, w, ori=None, flip=False, direction="horizontal"):
    return dict(img_shape=(h, w, 3), ori_shape=(*(ori or (h, w)), 3), pad_shape=(h, w, 3),
                flip=flip, flip_direction=direction)


def test_slide_windows_are_mmsegs():
    windows = list(slide_windows(80, 96, (48, 48), (32, 32)))
    assert windows == [(0, 48, 0, 48), (0, 48, 32, 80), (0, 48, 48, 96),
                       (32, 80, 0, 48), (32, 80, 32, 80), (32, 80, 48, 96)]
    assert list(slide_windows(20, 30, (48, 48), (32, 32))) == [(0, 20, 0, 30)]


def test_whole_equals_slide_when_crop_covers_image(model):
    img = torch.randn(2, 3, 40, 48)
    metas = [_meta(40, 48), _meta(40, 48)]
    with torch.no_grad():
        whole = model.whole_inference(img, metas, rescale=True)
        model.test_cfg = dict(mode="slide", crop_size=(64, 64), stride=(32, 32))
        slide = model.slide_inference(img, metas, rescale=True)
        model.test_cfg = dict(mode="slide", crop_size=(40, 48), stride=(40, 48))
        exact_fit = model.slide_inference(img, metas, rescale=True)
    torch.testing.assert_close(slide, whole, rtol=0, atol=0)
    torch.testing.assert_close(exact_fit, whole, rtol=0, atol=0)


def test_slide_average_uses_count_matrix(model):
    img = torch.randn(1, 3, 40, 56)
    model.test_cfg = dict(mode="slide", crop_size=(24, 32), stride=(16, 16), slide_batch_size=1)
    with torch.no_grad():
        got = model.slide_inference(img, [_meta(40, 56)], rescale=False)
        total = torch.zeros(1, 5, 40, 56)
        count = torch.zeros(1, 1, 40, 56)
        for y1, y2, x1, x2 in slide_windows(40, 56, (24, 32), (16, 16)):
            total[:, :, y1:y2, x1:x2] += model.encode_decode(img[:, :, y1:y2, x1:x2], None)
            count[:, :, y1:y2, x1:x2] += 1
    assert count.max() > 1  # windows overlap
    torch.testing.assert_close(got, total / count, rtol=0, atol=0)


@pytest.mark.parametrize("batch_size", [2, 3, 5, 64])
def test_batched_slide_crops_equal_one_by_one(model, batch_size):
    img = torch.randn(2, 3, 40, 56)
    metas = [_meta(40, 56), _meta(40, 56)]
    with torch.no_grad():
        model.test_cfg = dict(mode="slide", crop_size=(24, 32), stride=(16, 16), slide_batch_size=1)
        one = model.slide_inference(img, metas, rescale=True)
        model.test_cfg["slide_batch_size"] = batch_size
        batched = model.slide_inference(img, metas, rescale=True)
    # Same sums in the same order; only the conv kernels' batch-size rounding may differ.
    torch.testing.assert_close(batched, one, rtol=0, atol=1e-5)


@pytest.mark.parametrize("mode", ["whole", "slide"])
def test_padded_batch_of_different_sizes_equals_each_image_alone(model, mode):
    if mode == "slide":
        model.test_cfg = dict(mode="slide", crop_size=(24, 24), stride=(16, 16), slide_batch_size=3)
    shapes = [(40, 36), (32, 48), (40, 48)]
    batch = torch.zeros(3, 3, 40, 48)
    for i, (h, w) in enumerate(shapes):
        batch[i, :, :h, :w] = torch.randn(3, h, w)
    metas = [_meta(40, 36, ori=(80, 70)), _meta(32, 48, ori=(30, 45), flip=True),
             _meta(40, 48, ori=(40, 48), flip=True, direction="vertical")]
    with torch.no_grad():
        preds = model.simple_test(batch, metas, rescale=True)
        probs = model.inference(batch, metas, rescale=True)
        alone = [model.simple_test(batch[i:i + 1], [metas[i]], rescale=True)[0] for i in range(3)]
        alone_probs = [model.inference(batch[i:i + 1], [metas[i]], rescale=True) for i in range(3)]
    assert isinstance(probs, list)
    assert [p.shape[:2] for p in preds] == [(80, 70), (30, 45), (40, 48)]
    for i in range(3):
        np.testing.assert_array_equal(preds[i], alone[i])
        torch.testing.assert_close(probs[i], alone_probs[i], rtol=0, atol=1e-6)

    # Each image: crop the padded logits to img_shape, resize to ori_shape, softmax, flip back.
    with torch.no_grad():
        logits = model.encode_decode(batch, metas) if mode == "whole" else None
    if logits is not None:
        ref = F.softmax(F.interpolate(logits[1:2, :, :32, :48], (30, 45), mode="bilinear",
                                      align_corners=False), dim=1).flip(3)
        torch.testing.assert_close(probs[1], ref)
        ref = F.softmax(logits[2:3], dim=1).flip(2)
        torch.testing.assert_close(probs[2], ref)


def test_flip_test_time_augmentation(model):
    img = torch.randn(1, 3, 32, 40)
    flipped = img.flip(3)
    metas = [[_meta(32, 40)], [_meta(32, 40, flip=True)]]
    with torch.no_grad():
        preds = model.aug_test([img, flipped], metas, rescale=True)
        p0 = F.softmax(model.encode_decode(img, None), dim=1)
        p1 = F.softmax(model.encode_decode(flipped, None), dim=1).flip(3)
        via_forward = model(img=[img, flipped], img_metas=metas, return_loss=False)
    expected = ((p0 + p1) / 2).argmax(1)[0].numpy()
    np.testing.assert_array_equal(preds[0], expected)
    np.testing.assert_array_equal(via_forward[0], expected)
    # The flipped view alone, flipped back, is not the plain prediction: the averaging matters.
    assert not torch.equal(p0, p1)


def test_multi_scale_augmentation_rescales_to_original(model):
    ori = (36, 44)
    img = torch.randn(1, 3, *ori)
    small = F.interpolate(img, (27, 33), mode="bilinear", align_corners=False)
    large = F.interpolate(img, (45, 55), mode="bilinear", align_corners=False)
    metas = [[_meta(27, 33, ori=ori)], [_meta(45, 55, ori=ori)],
             [_meta(45, 55, ori=ori, flip=True)]]
    with torch.no_grad():
        preds = model.aug_test([small, large, large.flip(3)], metas, rescale=True)
        probs = [F.softmax(F.interpolate(model.encode_decode(x, None), ori, mode="bilinear",
                                         align_corners=False), dim=1)
                 for x in (small, large, large.flip(3))]
    expected = ((probs[0] + probs[1] + probs[2].flip(3)) / 3).argmax(1)[0].numpy()
    assert preds[0].shape == ori
    np.testing.assert_array_equal(preds[0], expected)
    with pytest.raises(ValueError, match="rescale=True"):
        model.aug_test([small, large], metas[:2], rescale=False)
