"""FPN: MMSeg's keys, the top-down sum against a hand computation, extra levels, sizes that are
not powers of two, the declared outputs and the argument checks."""
import pytest
import torch
import torch.nn.functional as F

from seglab.errors import ConfigError
from seglab.models import build_neck
from seglab.models.backbones import ShapeSpec
from seglab.models.necks import FPN

BN = dict(type="BN", requires_grad=True)


def _maps(sizes=(16, 8, 4, 2), channels=(8, 16, 16, 32), n=2):
    return [torch.randn(n, c, s, s) for c, s in zip(channels, sizes)]


def test_state_dict_keys_like_mmseg():
    shapes = {k: tuple(v.shape) for k, v in FPN([8, 16, 16, 32], 16, 4).state_dict().items()}
    for i, c in enumerate([8, 16, 16, 32]):
        assert shapes[f"lateral_convs.{i}.conv.weight"] == (16, c, 1, 1)
        assert shapes[f"lateral_convs.{i}.conv.bias"] == (16,)
        assert shapes[f"fpn_convs.{i}.conv.weight"] == (16, 16, 3, 3)
    assert len(shapes) == 16
    normed = FPN([8, 16], 4, 2, norm_cfg=BN, no_norm_on_lateral=True).state_dict()
    assert "fpn_convs.0.bn.running_mean" in normed and "fpn_convs.0.conv.bias" not in normed
    assert "lateral_convs.0.conv.bias" in normed and "lateral_convs.0.bn.weight" not in normed


def _identity_fpn(levels: int) -> FPN:
    """One channel; lateral 1x1 convs and 3x3 fpn convs that pass their input through."""
    neck = FPN([1] * levels, 1, levels)
    with torch.no_grad():
        for lateral, fpn in zip(neck.lateral_convs, neck.fpn_convs):
            lateral.conv.weight.fill_(1.0)
            lateral.conv.bias.zero_()
            fpn.conv.weight.zero_()
            fpn.conv.weight[0, 0, 1, 1] = 1.0
            fpn.conv.bias.zero_()
    return neck


def test_top_down_sum_by_hand():
    neck = _identity_fpn(3)
    c2 = torch.tensor([[7.0]])  # 1x1, coarsest
    c1 = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    c0 = torch.arange(16.0).view(4, 4)
    outs = neck([c0[None, None], c1[None, None], c2[None, None]])
    p2 = c2
    p1 = c1 + 7.0  # nearest upsampling of a 1x1 map repeats it
    p0 = c0 + torch.tensor([[8.0, 8.0, 9.0, 9.0], [8.0, 8.0, 9.0, 9.0],
                            [10.0, 10.0, 11.0, 11.0], [10.0, 10.0, 11.0, 11.0]])
    for out, ref in zip(outs, [p0, p1, p2]):
        torch.testing.assert_close(out[0, 0], ref)


def test_top_down_is_resized_to_odd_sizes():
    neck = FPN([8, 16, 32], 4, 3).eval()
    inputs = _maps(sizes=(9, 5, 3), channels=(8, 16, 32))
    outs = neck(inputs)
    assert [tuple(o.shape) for o in outs] == [(2, 4, 9, 9), (2, 4, 5, 5), (2, 4, 3, 3)]
    lat = [conv(x) for conv, x in zip(neck.lateral_convs, inputs)]
    lat[1] = lat[1] + F.interpolate(lat[2], size=(5, 5), mode="nearest")
    lat[0] = lat[0] + F.interpolate(lat[1], size=(9, 9), mode="nearest")
    torch.testing.assert_close(outs[0], neck.fpn_convs[0](lat[0]))


def test_upsample_cfg_with_scale_factor():
    neck = FPN([4, 4], 4, 2, upsample_cfg=dict(scale_factor=2, mode="bilinear")).eval()
    inputs = _maps(sizes=(8, 4), channels=(4, 4))
    lat = [conv(x) for conv, x in zip(neck.lateral_convs, inputs)]
    ref = neck.fpn_convs[0](lat[0] + F.interpolate(lat[1], scale_factor=2, mode="bilinear"))
    torch.testing.assert_close(neck(inputs)[0], ref)


def test_extra_levels_max_pool_and_convs():
    inputs = _maps()
    pooled = FPN([8, 16, 16, 32], 4, 6).eval()(inputs)
    assert [o.shape[-1] for o in pooled] == [16, 8, 4, 2, 1, 1]
    torch.testing.assert_close(pooled[4], pooled[3][:, :, ::2, ::2])
    neck = FPN([8, 16, 16, 32], 4, 6, add_extra_convs="on_input",
               relu_before_extra_convs=True).eval()
    assert neck.fpn_convs[4].conv.in_channels == 32 and neck.fpn_convs[5].conv.in_channels == 4
    outs = neck(inputs)
    torch.testing.assert_close(outs[4], neck.fpn_convs[4](inputs[3]))
    torch.testing.assert_close(outs[5], neck.fpn_convs[5](F.relu(outs[4])))
    assert FPN([8, 16], 4, 3, add_extra_convs=True).add_extra_convs == "on_output"
    assert FPN([8, 16], 4, 3, add_extra_convs=True,
               extra_convs_on_inputs=True).add_extra_convs == "on_input"


def test_start_and_end_level():
    neck = FPN([8, 16, 16, 32], 4, 2, start_level=1, end_level=3).eval()
    outs = neck(_maps())
    assert [o.shape[-1] for o in outs] == [8, 4]
    assert len(neck.lateral_convs) == 2 and neck.lateral_convs[0].conv.in_channels == 16


def test_output_shapes():
    specs = tuple(ShapeSpec(c, s) for c, s in zip([8, 16, 16, 32], [4, 8, 16, 32]))
    assert FPN([8, 16, 16, 32], 16, 4).output_shapes(specs) == tuple(
        ShapeSpec(16, s) for s in [4, 8, 16, 32])
    assert [s.stride for s in FPN([8, 16, 16, 32], 16, 5, start_level=1).output_shapes(
        specs)] == [8, 16, 32, 64, 128]
    assert FPN([8, 16, 16, 32], 16, 4).output_shapes(None) is None


def test_argument_checks():
    with pytest.raises(ConfigError, match="num_outs"):
        FPN([8, 16, 16, 32], 16, 3)
    with pytest.raises(ConfigError, match="end_level"):
        FPN([8, 16, 16, 32], 16, 3, end_level=2)
    with pytest.raises(ConfigError, match="add_extra_convs"):
        FPN([8, 16], 16, 2, add_extra_convs="on_top")
    with pytest.raises(ConfigError, match="list"):
        FPN(8, 16, 2)
    with pytest.raises(Exception, match="num_outs"):  # the registry names the accepted keys
        build_neck(dict(type="FPN", in_channels=[8], out_channels=4, num_out=1))
    with pytest.raises(ValueError, match="expects 2 inputs"):
        FPN([8, 16], 4, 2)(_maps()[:1])
