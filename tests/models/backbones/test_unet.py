"""UNet: MMSeg's keys, shapes and strides, decoder variants, the divisibility check, errors."""
import pytest
import torch
from torch import nn

from seglab.errors import CheckpointError, ConfigError
from seglab.models import build_backbone
from seglab.models.backbones import UNet
from seglab.models.backbones.unet import BasicConvBlock, DeconvModule, InterpConv, UpConvBlock
from shared_data import SHARED

BN = dict(type="BN", requires_grad=True)
ZOO_STATE = f"{SHARED}/data/mmseg-zoo/unet_fcn.state_dict.pth"


def _tiny(**kwargs) -> UNet:
    return UNet(base_channels=4, norm_cfg=BN, **kwargs)


def test_state_dict_keys_equal_mmseg():
    """Keys and shapes of the zoo fixture (MMSeg's UNet-S5-D16 with base_channels=4)."""
    try:
        state = torch.load(ZOO_STATE, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        pytest.skip("MMSeg zoo fixtures not available")
    theirs = {k[len("backbone."):]: tuple(v.shape) for k, v in state.items()
              if k.startswith("backbone.")}
    ours = {k: tuple(v.shape) for k, v in _tiny().state_dict().items()}
    assert ours == theirs
    assert list(_tiny().state_dict())[:2] == ["encoder.0.0.convs.0.conv.weight",
                                              "encoder.0.0.convs.0.bn.weight"]


def test_default_outputs_coarse_to_fine():
    model = _tiny()
    outs = model(torch.randn(2, 3, 32, 48))
    assert [tuple(o.shape) for o in outs] == [(2, 64, 2, 3), (2, 32, 4, 6), (2, 16, 8, 12),
                                              (2, 8, 16, 24), (2, 4, 32, 48)]
    assert model.out_channels == (64, 32, 16, 8, 4)
    assert model.out_strides == (16, 8, 4, 2, 1)
    assert model.whole_downsample_rate == 16
    # the encoder's stage 1..4 start with a 2x2 max pool
    assert all(isinstance(model.encoder[i][0], nn.MaxPool2d) for i in range(1, 5))


def test_decoder_stage_is_upsample_concat_fuse():
    """UpConvBlock = conv_block(cat([skip, upsample(x)])), upsample = bilinear x2 then 1x1 conv."""
    block = UpConvBlock(BasicConvBlock, in_channels=8, skip_channels=4, out_channels=4,
                        norm_cfg=BN).eval()
    skip, x = torch.randn(1, 4, 8, 8), torch.randn(1, 8, 4, 4)
    up = nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    conv = block.upsample.interp_upsample[1]
    expected = block.conv_block(torch.cat([skip, conv(up)], dim=1))
    torch.testing.assert_close(block(skip, x), expected)
    assert isinstance(block.upsample, InterpConv)


def test_strided_stages_and_no_downsample():
    """Stride-2 stages skip the max pool; a stage without downsampling gets a 1x1 ConvModule
    instead of the upsampling (MMSeg's ``upsample_cfg=None`` case)."""
    model = UNet(base_channels=4, num_stages=4, strides=(1, 2, 1, 1), enc_num_convs=(1, 1, 1, 1),
                 dec_num_convs=(1, 1, 1), downsamples=(True, True, False),
                 enc_dilations=(1, 1, 1, 2), dec_dilations=(1, 1, 2), norm_cfg=BN)
    assert not isinstance(model.encoder[1][0], nn.MaxPool2d)  # stride-2 conv instead
    assert model.encoder[1][0].convs[0].conv.stride == (2, 2)
    assert isinstance(model.encoder[2][0], nn.MaxPool2d)
    assert len(model.encoder[3]) == 1 and model.encoder[3][0].convs[0].conv.dilation == (1, 1)
    assert "decoder.2.upsample.conv.weight" in model.state_dict()
    assert model.whole_downsample_rate == 4
    outs = model(torch.randn(1, 3, 12, 20))
    assert [tuple(o.shape[1:]) for o in outs] == [(32, 3, 5), (16, 3, 5), (8, 6, 10), (4, 12, 20)]
    assert model.out_strides == (4, 4, 2, 1)


def test_deconv_upsampling_keys_and_shapes():
    model = _tiny(upsample_cfg=dict(type="DeconvModule", kernel_size=4, scale_factor=2))
    state = model.state_dict()
    assert tuple(state["decoder.0.upsample.deconv_upsamping.0.weight"].shape) == (8, 4, 4, 4)
    assert "decoder.0.upsample.deconv_upsamping.1.running_mean" in state
    assert isinstance(model.decoder[3].upsample, DeconvModule)
    assert model(torch.randn(1, 3, 32, 32))[-1].shape == (1, 4, 32, 32)
    with pytest.raises(ConfigError, match="kernel_size=3 must be >= scale_factor=2"):
        DeconvModule(4, 4, kernel_size=3, scale_factor=2)


def test_interp_conv_order():
    first = InterpConv(4, 2, norm_cfg=BN, conv_first=True)
    assert isinstance(first.interp_upsample[0].conv, nn.Conv2d)
    later = InterpConv(4, 2, norm_cfg=BN)
    assert isinstance(later.interp_upsample[1].conv, nn.Conv2d)
    assert first(torch.randn(1, 4, 3, 5)).shape == (1, 2, 6, 10)


def test_input_not_divisible_says_what_to_do():
    with pytest.raises(ValueError, match=r"input size \(40, 48\) must be divisible by the whole "
                                         r"downsample rate 16.*multiples of 16"):
        _tiny()(torch.randn(1, 3, 40, 48))


@pytest.mark.parametrize("key,value,needs", [
    ("strides", (1, 1, 1, 1), 5), ("enc_num_convs", (2, 2), 5), ("dec_num_convs", (2,) * 5, 4),
    ("downsamples", (True,) * 5, 4), ("enc_dilations", (1,) * 4, 5), ("dec_dilations", (1,), 4)])
def test_per_stage_lengths_are_checked(key, value, needs):
    with pytest.raises(ConfigError, match=rf"UNet {key}=.* it needs {needs}"):
        _tiny(**{key: value})


def test_unsupported_options_fail_clearly():
    with pytest.raises(ConfigError, match="dcn and plugins are not implemented"):
        _tiny(dcn=dict(type="DCN"))
    with pytest.raises(ConfigError, match="type must be one of InterpConv, DeconvModule"):
        _tiny(upsample_cfg=dict(type="nearest"))
    with pytest.raises(Exception, match="frozen_stages"):
        build_backbone(dict(type="UNet", base_channels=4, frozen_stages=1))


def test_with_cp_gives_the_same_values_and_gradients():
    torch.manual_seed(0)
    plain = _tiny(num_stages=3, strides=(1, 1, 1), enc_num_convs=(1, 1, 1), dec_num_convs=(1, 1),
                  downsamples=(True, True), enc_dilations=(1, 1, 1), dec_dilations=(1, 1))
    ckpt = _tiny(num_stages=3, strides=(1, 1, 1), enc_num_convs=(1, 1, 1), dec_num_convs=(1, 1),
                 downsamples=(True, True), enc_dilations=(1, 1, 1), dec_dilations=(1, 1),
                 with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 16, 16)
    plain(x)[-1].sum().backward()
    ckpt(x)[-1].sum().backward()
    for (name, a), b in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)


def test_norm_eval_and_default_init():
    model = _tiny(norm_eval=True).train()
    assert all(not m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 3.0)
    model.init_weights()  # MMSeg's default: Kaiming (fan_out) convs, norm weights 1
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) for m in bns)
    conv = model.encoder[4][1].convs[1].conv  # 64 -> 64, 3x3: std sqrt(2 / (64 * 9))
    assert conv.weight.std().item() == pytest.approx((2 / (64 * 9)) ** 0.5, rel=0.05)


def test_unavailable_pretrained_explains_what_to_do():
    model = _tiny(pretrained="open-mmlab://unet_not_cached_anywhere")
    with pytest.raises(CheckpointError, match="pretrained=None"):
        model.init_weights()
