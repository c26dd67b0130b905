import pytest
import torch
from torch import nn

from seglab.errors import ConfigError, RegistryError
from seglab.models import BaseDecodeHead, DepthwiseSeparableASPPHead, FCNHead, build_head
from seglab.models.decode_heads import InputSpec
from seglab.models.layers import ConvModule
from seglab.registry import accepted_keys


def _feats(n=2):
    return [torch.randn(n, 8, 16, 16), torch.randn(n, 16, 8, 8), torch.randn(n, 32, 4, 4)]


def test_single_input_selection():
    head = FCNHead(in_channels=16, channels=8, num_classes=3, in_index=1)
    assert head(_feats()).shape == (2, 3, 8, 8)


def test_resize_concat_and_multiple_select():
    head = FCNHead(in_channels=[8, 16, 32], in_index=[0, 1, 2], input_transform="resize_concat",
                   channels=8, num_classes=3, align_corners=False)
    assert head.in_channels == 56
    feats = _feats()
    x = head._transform_inputs(feats)
    assert x.shape == (2, 56, 16, 16)
    torch.testing.assert_close(x[:, :8], feats[0])
    assert head(feats).shape == (2, 3, 16, 16)
    head = BaseDecodeHead(in_channels=[16, 32], in_index=[1, 2], input_transform="multiple_select",
                          channels=16, num_classes=3)
    assert head.in_channels == [16, 32]
    selected = head._transform_inputs(feats)
    assert isinstance(selected, list) and selected[1] is feats[2]


def test_input_errors_are_clear():
    with pytest.raises(ConfigError, match="in_channels and in_index must be ints"):
        FCNHead(in_channels=[8, 16], in_index=[0, 1], channels=8, num_classes=3)
    with pytest.raises(ConfigError, match="same length"):
        FCNHead(in_channels=[8, 16], in_index=[0], channels=8, num_classes=3,
                input_transform="resize_concat")
    with pytest.raises(ConfigError, match="input_transform='concat'"):
        FCNHead(in_channels=8, channels=8, num_classes=3, input_transform="concat")
    with pytest.raises(ConfigError, match="out_channels=3"):
        FCNHead(in_channels=8, channels=8, num_classes=5, out_channels=3)
    with pytest.raises(RegistryError, match="model.decode_head.loss_decode.type = 'CrossEntropy'"):
        from seglab.models import build_segmentor
        build_segmentor(dict(type="EncoderDecoder",
                             backbone=dict(type="ResNetV1c", depth=18, base_channels=8,
                                           stem_channels=16),
                             decode_head=dict(type="FCNHead", in_channels=64, channels=8,
                                              num_classes=3,
                                              loss_decode=dict(type="CrossEntropy"))))


def test_losses_resize_sum_by_name_and_accuracy():
    head = FCNHead(in_channels=16, channels=8, num_classes=3, in_index=1, loss_decode=[
        dict(type="CrossEntropyLoss", loss_weight=1.0),
        dict(type="CrossEntropyLoss", loss_weight=0.5),
        dict(type="CrossEntropyLoss", loss_weight=2.0, loss_name="loss_other")])
    assert head.loss_names == ["loss_ce", "loss_other"]
    logits = torch.randn(2, 3, 8, 8)
    label = torch.randint(0, 3, (2, 1, 32, 32))
    label[:, :, :4] = 255
    losses = head.losses(logits, label)
    assert list(losses) == ["loss_ce", "loss_other", "acc_seg"]
    up = nn.functional.interpolate(logits, (32, 32), mode="bilinear", align_corners=False)
    ce = nn.functional.cross_entropy(up, label[:, 0], ignore_index=255, reduction="sum") / label.numel()
    torch.testing.assert_close(losses["loss_ce"], 1.5 * ce, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(losses["loss_other"], 2.0 * ce, rtol=1e-5, atol=1e-6)
    valid = label[:, 0] != 255
    acc = (up.argmax(1) == label[:, 0])[valid].float().mean() * 100
    assert losses["acc_seg"].item() == pytest.approx(acc.item(), abs=1e-3)


def test_dropout_and_classifier():
    head = FCNHead(in_channels=8, channels=8, num_classes=3, dropout_ratio=0.0)
    assert head.dropout is None
    head = FCNHead(in_channels=8, channels=8, num_classes=3, dropout_ratio=0.3)
    assert isinstance(head.dropout, nn.Dropout2d) and head.dropout.p == 0.3
    assert head.conv_seg.kernel_size == (1, 1) and head.conv_seg.bias is not None
    head.init_weights()
    assert torch.all(head.conv_seg.bias == 0) and head.conv_seg.weight.std().item() < 0.05


def test_binary_single_channel_head():
    with pytest.warns(UserWarning, match="threshold"):
        head = FCNHead(in_channels=8, channels=8, num_classes=2, out_channels=1,
                       loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=True))
    assert head.threshold == 0.3 and head.conv_seg.out_channels == 1


def test_pixel_sampler_is_built_with_the_head_as_context():
    head = build_head(dict(type="FCNHead", in_channels=8, channels=8, num_classes=3,
                           sampler=dict(type="OHEMPixelSampler", thresh=0.7, min_kept=10)))
    assert head.sampler is not None and head.sampler.context is head
    losses = head.losses(torch.randn(1, 3, 8, 8), torch.randint(0, 3, (1, 1, 8, 8)))
    assert torch.isfinite(losses["loss_ce"])


class _Pool(BaseDecodeHead):
    """A head file as the base intends it: its own keys and layers, nothing else."""

    def __init__(self, scale: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.pool = nn.AvgPool2d(scale)
        self.conv = ConvModule(self.in_channels, self.channels, 1, **self.conv_args)

    def _forward_feature(self, inputs):
        return self.conv(self.pool(self._transform_inputs(inputs)))


class _FixedTransform(_Pool, fixed_keys=("input_transform", "scale")):
    def __init__(self, **kwargs):
        super().__init__(input_transform="resize_concat", scale=1, **kwargs)


def test_head_subclass_gets_forward_signature_and_conv_args_from_the_base():
    head = _Pool(scale=2, in_channels=16, in_index=1, channels=4, num_classes=3,
                 norm_cfg=dict(type="BN"), act_cfg=dict(type="LeakyReLU"))
    assert head.conv_args == dict(conv_cfg=None, norm_cfg=dict(type="BN"),
                                  act_cfg=dict(type="LeakyReLU"))
    assert isinstance(head.conv.activate, nn.LeakyReLU) and head.conv.bn is not None
    head.eval()
    feats = _feats()
    torch.testing.assert_close(head(feats), head.cls_seg(head._forward_feature(feats)))
    assert head(feats).shape == (2, 3, 4, 4)
    keys = accepted_keys(_Pool)
    assert keys[0] == "scale" and {"in_channels", "loss_decode", "init_cfg"} <= set(keys)
    with pytest.raises(RegistryError, match="'scalee' \\(did you mean 'scale'\\?\\)"):
        build_head(dict(type=_Pool, in_channels=16, channels=4, num_classes=3, scalee=2))


def test_fixed_keys_are_not_accepted_from_configs():
    keys = accepted_keys(_FixedTransform)
    assert "input_transform" not in keys and "scale" not in keys and "in_index" in keys
    with pytest.raises(RegistryError, match="'input_transform'"):
        build_head(dict(type=_FixedTransform, in_channels=[8, 16], in_index=[0, 1], channels=4,
                        num_classes=3, input_transform="multiple_select"))
    head = build_head(dict(type=_FixedTransform, in_channels=[8, 16], in_index=[0, 1],
                           channels=4, num_classes=3))
    assert head.input_transform == "resize_concat" and head(_feats()).shape == (2, 3, 16, 16)


def test_head_without_features_says_what_to_implement():
    head = BaseDecodeHead(in_channels=8, channels=8, num_classes=3)
    with pytest.raises(NotImplementedError, match="BaseDecodeHead must implement _forward_feature"):
        head(_feats())


def test_input_specs_describe_what_the_head_reads():
    assert FCNHead(in_channels=16, in_index=1, channels=8, num_classes=3).input_specs() == [
        InputSpec("in_channels", 16, 1, "in_index")]
    concat = FCNHead(in_channels=[8, 16], in_index=[0, 1], input_transform="resize_concat",
                     channels=8, num_classes=3)
    assert concat.in_channels == 24  # summed for the layers, listed for the check
    assert concat.input_specs() == [InputSpec("in_channels", (8, 16), (0, 1))]
    dlp = DepthwiseSeparableASPPHead(in_channels=32, in_index=2, channels=8, c1_in_channels=8,
                                     c1_channels=4, num_classes=3)
    assert dlp.input_specs() == [InputSpec("in_channels", 32, 2),
                                 InputSpec("c1_in_channels", 8, 0, index_key=None)]
    no_c1 = DepthwiseSeparableASPPHead(in_channels=32, in_index=2, channels=8, c1_in_channels=0,
                                       c1_channels=0, num_classes=3)
    assert len(no_c1.input_specs()) == 1
