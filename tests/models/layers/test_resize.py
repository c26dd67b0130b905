import warnings

import pytest
import torch
import torch.nn.functional as F

from seglab.models.layers import Upsample, resize


def test_equals_interpolate():
    x = torch.randn(2, 3, 5, 7)
    torch.testing.assert_close(resize(x, size=(10, 13), mode="bilinear", align_corners=False),
                               F.interpolate(x, (10, 13), mode="bilinear", align_corners=False),
                               atol=0, rtol=0)
    out = resize(x, size=torch.Size([4, 4]), mode="nearest")
    assert out.shape == (2, 3, 4, 4)
    assert resize(x, scale_factor=2, mode="bilinear", align_corners=False).shape == (2, 3, 10, 14)


def _warnings(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [str(w.message) for w in caught]


def test_align_corners_warning_rule():
    x = torch.randn(1, 1, 5, 5)
    # 5 -> 10: (10 - 1) % (5 - 1) != 0 in both dims: corners do not fall on grid points.
    msgs = _warnings(lambda: resize(x, (10, 10), mode="bilinear", align_corners=True))
    assert len(msgs) == 1 and "(5, 5)" in msgs[0] and "(10, 10)" in msgs[0]
    assert _warnings(lambda: resize(x, (9, 9), mode="bilinear", align_corners=True)) == []  # nx+1
    assert _warnings(lambda: resize(x, (10, 10), mode="bilinear", align_corners=False)) == []
    assert _warnings(lambda: resize(x, (3, 3), mode="bilinear", align_corners=True)) == []  # down
    assert _warnings(lambda: resize(x, (10, 10), mode="bilinear", align_corners=True,
                                    warning=False)) == []


def test_upsample_module():
    x = torch.randn(1, 2, 3, 4)
    assert Upsample(scale_factor=2)(x).shape == (1, 2, 6, 8)
    assert Upsample(size=(5, 5), mode="bilinear", align_corners=False)(x).shape == (1, 2, 5, 5)
