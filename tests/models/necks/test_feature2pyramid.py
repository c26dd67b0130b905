import pytest
import torch

from seglab.errors import ConfigError
from seglab.models.backbones import ShapeSpec
from seglab.models.necks import Feature2Pyramid

BN = dict(type="BN", requires_grad=True)


def test_shapes_and_declared_outputs():
    neck = Feature2Pyramid(embed_dim=8, rescales=[4, 2, 1, 0.5], norm_cfg=BN).eval()
    outs = neck([torch.randn(2, 8, 4, 4) for _ in range(4)])
    assert [o.shape[-1] for o in outs] == [16, 8, 4, 2]
    assert neck.output_shapes((ShapeSpec(8, 16),) * 4) == tuple(
        ShapeSpec(8, s) for s in (4, 8, 16, 32))


def test_keys_like_mmseg():
    keys = set(Feature2Pyramid(embed_dim=8, norm_cfg=BN).state_dict())
    assert keys == {"upsample_4x.0.weight", "upsample_4x.0.bias", "upsample_4x.1.weight",
                    "upsample_4x.1.bias", "upsample_4x.1.running_mean",
                    "upsample_4x.1.running_var", "upsample_4x.1.num_batches_tracked",
                    "upsample_4x.3.weight", "upsample_4x.3.bias", "upsample_2x.0.weight",
                    "upsample_2x.0.bias"}


def test_operations_in_mmseg_order():
    neck = Feature2Pyramid(embed_dim=4, rescales=[4, 2, 1, 0.5], norm_cfg=BN).eval()
    x = [torch.randn(1, 4, 4, 4) for _ in range(4)]
    outs = neck(x)
    torch.testing.assert_close(outs[1], neck.upsample_2x(x[1]))
    torch.testing.assert_close(outs[2], x[2])
    torch.testing.assert_close(outs[3], torch.nn.functional.max_pool2d(x[3], 2))


def test_without_4x_the_ops_shift_and_bad_rescales_fail():
    neck = Feature2Pyramid(embed_dim=4, rescales=[2, 1, 0.5, 0.25], norm_cfg=BN)
    outs = neck([torch.randn(1, 4, 8, 8) for _ in range(4)])
    assert [o.shape[-1] for o in outs] == [16, 8, 4, 2]
    assert neck.output_shapes((ShapeSpec(4, 16),) * 4)[3] == ShapeSpec(4, 64)
    with pytest.raises(ConfigError, match="not among"):
        Feature2Pyramid(embed_dim=4, rescales=[3])
    with pytest.raises(ValueError, match="3 inputs"):
        neck([torch.randn(1, 4, 8, 8)] * 3)
