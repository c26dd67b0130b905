"""``UNet`` backbone (MMSegmentation 0.x ``mmseg.models.backbones.UNet``).

An encoder of ``num_stages`` :class:`BasicConvBlock` stages (stage i has ``base_channels * 2**i``
channels; stage i > 0 halves the map with a max pool, or with a stride-2 first conv) and a decoder
of ``num_stages - 1`` :class:`UpConvBlock` s that upsample (``upsample_cfg``: :class:`InterpConv`
or :class:`DeconvModule`), concatenate the encoder's skip map and fuse. The outputs are the
deepest encoder map then every decoder map, coarse to fine (MMSeg's ``dec_outs``).

Module names (``encoder.1.1.convs.0.conv``, ``decoder.0.upsample.interp_upsample.1.conv``,
``decoder.0.conv_block.convs.1.bn``) equal MMSeg's, so its checkpoints load unchanged.
"""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import ConvModule, Upsample, build_activation_layer, build_norm_layer, initialize
from ..layers.weight_init import CONV_NORM_INIT, InitCfg
from .base import BaseBackbone, OutputShapes, shape_specs
from .resnet_blocks import _run

class BasicConvBlock(nn.Module):
    """``num_convs`` 3x3 ConvModules; only the first carries ``stride``, the others ``dilation``.

    Args:
        in_channels: input channels.
        out_channels: output channels of every conv.
        num_convs: number of convs.
        stride: stride of the first conv (1, or 2 to downsample).
        dilation: dilation (and padding) of the convs after the first (the first has 1).
        with_cp: gradient checkpointing while training.
        conv_cfg: conv type.
        norm_cfg: norm of the ConvModules.
        act_cfg: activation of the ConvModules.
        dcn: not supported (compiled ops); must be None.
        plugins: not supported; must be None.

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, num_convs: int = 2, stride: int = 1,
                 dilation: int = 1, with_cp: bool = False, conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Optional[Mapping] = dict(type="BN"),
                 act_cfg: Optional[Mapping] = dict(type="ReLU"),
                 dcn: Optional[Mapping] = None, plugins: Optional[Sequence] = None):
        super().__init__()
        _no_dcn_plugins("BasicConvBlock", dcn, plugins)
        self.with_cp = with_cp
        self.convs = nn.Sequential(*(
            ConvModule(in_channels if i == 0 else out_channels, out_channels, kernel_size=3,
                       stride=stride if i == 0 else 1, dilation=1 if i == 0 else dilation,
                       padding=1 if i == 0 else dilation, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                       act_cfg=act_cfg)
            for i in range(num_convs)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _run(self, self.convs, x)


class DeconvModule(nn.Module):
    """Transposed conv upsampling by ``scale_factor``, then norm and activation.

    ``deconv_upsamping`` (sic, MMSeg's key) = [ConvTranspose2d(kernel_size, stride=scale_factor,
    padding=(kernel_size - scale_factor) // 2), norm, activation].

    Args:
        in_channels: input channels.
        out_channels: output channels.
        with_cp: gradient checkpointing while training.
        norm_cfg: norm after the transposed conv.
        act_cfg: activation.
        kernel_size: transposed-conv kernel; ``kernel_size - scale_factor`` must be even and >= 0.
        scale_factor: upsampling factor (the stride).

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, H * scale_factor, W * scale_factor).
    """

    def __init__(self, in_channels: int, out_channels: int, with_cp: bool = False,
                 norm_cfg: Mapping = dict(type="BN"), act_cfg: Mapping = dict(type="ReLU"), *,
                 kernel_size: int = 4, scale_factor: int = 2):
        super().__init__()
        if kernel_size < scale_factor or (kernel_size - scale_factor) % 2:
            raise ConfigError(f"DeconvModule: kernel_size={kernel_size} must be >= scale_factor="
                              f"{scale_factor} and differ from it by an even number (e.g. "
                              f"kernel_size=4, scale_factor=2).")
        self.with_cp = with_cp
        deconv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=kernel_size,
                                    stride=scale_factor, padding=(kernel_size - scale_factor) // 2)
        self.deconv_upsamping = nn.Sequential(deconv, build_norm_layer(norm_cfg, out_channels)[1],
                                              build_activation_layer(act_cfg))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _run(self, self.deconv_upsamping, x)


class InterpConv(nn.Module):
    """Interpolation upsampling and a ConvModule (``interp_upsample``: [Upsample, conv] or, with
    ``conv_first``, [conv, Upsample]).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        with_cp: gradient checkpointing while training.
        norm_cfg: norm of the ConvModule.
        act_cfg: activation of the ConvModule.
        conv_cfg: conv type of the ConvModule (UNet does not pass its own ``conv_cfg`` here).
        conv_first: conv before the interpolation.
        kernel_size: conv kernel.
        stride: conv stride.
        padding: conv padding.
        upsample_cfg: :class:`~seglab.models.layers.Upsample` arguments.

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, 2H, 2W) with the default ``upsample_cfg``.
    """

    def __init__(self, in_channels: int, out_channels: int, with_cp: bool = False,
                 norm_cfg: Optional[Mapping] = dict(type="BN"),
                 act_cfg: Optional[Mapping] = dict(type="ReLU"), *,
                 conv_cfg: Optional[Mapping] = None, conv_first: bool = False,
                 kernel_size: int = 1, stride: int = 1, padding: int = 0,
                 upsample_cfg: Mapping = dict(scale_factor=2, mode="bilinear",
                                              align_corners=False)):
        super().__init__()
        self.with_cp = with_cp
        conv = ConvModule(in_channels, out_channels, kernel_size=kernel_size, stride=stride,
                          padding=padding, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        upsample = Upsample(**upsample_cfg)
        layers = (conv, upsample) if conv_first else (upsample, conv)
        self.interp_upsample = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _run(self, self.interp_upsample, x)


# MMSeg registers these two in mmcv's UPSAMPLE_LAYERS for UNet's ``upsample_cfg``.
UPSAMPLE_LAYERS = {"InterpConv": InterpConv, "DeconvModule": DeconvModule}


def build_upsample_layer(cfg: Mapping, in_channels: int, out_channels: int, with_cp: bool,
                         norm_cfg: Optional[Mapping], act_cfg: Optional[Mapping]) -> nn.Module:
    """Build UNet's decoder upsampling from ``upsample_cfg`` (``dict(type='InterpConv', ...)``)."""
    if not isinstance(cfg, Mapping) or cfg.get("type") not in UPSAMPLE_LAYERS:
        raise ConfigError(f"UNet upsample_cfg={cfg!r}: type must be one of "
                          f"{', '.join(UPSAMPLE_LAYERS)} (extra keys go to that module, e.g. "
                          f"dict(type='DeconvModule', kernel_size=4, scale_factor=2)).")
    args = dict(cfg)
    layer = UPSAMPLE_LAYERS[args.pop("type")]
    return layer(in_channels, out_channels, with_cp=with_cp, norm_cfg=norm_cfg, act_cfg=act_cfg,
                 **args)


class UpConvBlock(nn.Module):
    """One decoder stage: upsample the deeper map, concatenate the skip map, fuse with convs.

    Args:
        conv_block: the fusing block class (:class:`BasicConvBlock`).
        in_channels: channels of the deeper (low-resolution) map.
        skip_channels: channels of the encoder's skip map; the upsampled map gets as many.
        out_channels: output channels.
        num_convs: convs of the fusing block.
        stride: stride of the fusing block.
        dilation: dilation of the fusing block.
        with_cp: gradient checkpointing while training.
        conv_cfg: conv type.
        norm_cfg: norm type.
        act_cfg: activation.
        upsample_cfg: upsampling module dict; None when the deeper map already has the skip's
            size (then a 1x1 ConvModule matches the channels).
        dcn: not supported; must be None.
        plugins: not supported; must be None.
    """

    def __init__(self, conv_block: type, in_channels: int, skip_channels: int, out_channels: int,
                 num_convs: int = 2, stride: int = 1, dilation: int = 1, with_cp: bool = False,
                 conv_cfg: Optional[Mapping] = None, norm_cfg: Optional[Mapping] = dict(type="BN"),
                 act_cfg: Optional[Mapping] = dict(type="ReLU"),
                 upsample_cfg: Optional[Mapping] = dict(type="InterpConv"),
                 dcn: Optional[Mapping] = None, plugins: Optional[Sequence] = None):
        super().__init__()
        _no_dcn_plugins("UpConvBlock", dcn, plugins)
        self.conv_block = conv_block(in_channels=2 * skip_channels, out_channels=out_channels,
                                     num_convs=num_convs, stride=stride, dilation=dilation,
                                     with_cp=with_cp, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                     act_cfg=act_cfg)
        if upsample_cfg is not None:
            self.upsample = build_upsample_layer(upsample_cfg, in_channels, skip_channels,
                                                 with_cp, norm_cfg, act_cfg)
        else:
            self.upsample = ConvModule(in_channels, skip_channels, kernel_size=1,
                                       conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, skip: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Args: skip: (N, skip_channels, H, W); x: the deeper map. Returns: (N, out, H, W)."""
        return self.conv_block(torch.cat([skip, self.upsample(x)], dim=1))


def _no_dcn_plugins(who: str, dcn, plugins) -> None:
    if dcn is not None or plugins is not None:
        raise ConfigError(f"{who}: dcn and plugins are not implemented (in MMSegmentation "
                          f"either); set dcn=None and plugins=None.")


@MODELS.register_module()
class UNet(BaseBackbone):
    """U-Net (`Ronneberger et al. <https://arxiv.org/abs/1505.04597>`_) as MMSegmentation's.

    Args:
        in_channels: input image channels.
        base_channels: channels of the first stage (stage i has ``base_channels * 2**i``).
        num_stages: encoder stages.
        strides: per encoder stage: 1, or 2 for a stride-2 first conv (then no max pool).
        enc_num_convs: convs per encoder stage.
        dec_num_convs: convs per decoder stage (``num_stages - 1`` entries).
        downsamples: per stage 1.. ``num_stages - 1``: max-pool by 2 before it (unless its
            stride is 2).
        enc_dilations: dilation per encoder stage.
        dec_dilations: dilation per decoder stage.
        with_cp: gradient checkpointing of every conv block while training.
        conv_cfg: conv type.
        norm_cfg: norm type.
        act_cfg: activation.
        upsample_cfg: decoder upsampling (``dict(type='InterpConv')`` or ``'DeconvModule'``).
        norm_eval: keep batch norms in eval mode while training.
        dcn: not supported; must be None.
        plugins: not supported; must be None.
        pretrained: checkpoint to load (deprecated form of ``init_cfg``).
        init_cfg: init dicts; None = MMSeg's default (Kaiming convs, norm weights 1).

    Shape:
        (N, in_channels, H, W) with H, W multiples of the whole downsample rate (16 for the
        default 5 stages) -> ``num_stages`` maps: the deepest encoder map, then the decoder maps
        up to (N, base_channels, H, W).
    """

    def __init__(self, in_channels: int = 3, base_channels: int = 64, num_stages: int = 5,
                 strides: Sequence[int] = (1, 1, 1, 1, 1),
                 enc_num_convs: Sequence[int] = (2, 2, 2, 2, 2),
                 dec_num_convs: Sequence[int] = (2, 2, 2, 2),
                 downsamples: Sequence[bool] = (True, True, True, True),
                 enc_dilations: Sequence[int] = (1, 1, 1, 1, 1),
                 dec_dilations: Sequence[int] = (1, 1, 1, 1), with_cp: bool = False,
                 conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Optional[Mapping] = dict(type="BN"),
                 act_cfg: Optional[Mapping] = dict(type="ReLU"),
                 upsample_cfg: Mapping = dict(type="InterpConv"), norm_eval: bool = False,
                 dcn: Optional[Mapping] = None, plugins: Optional[Sequence] = None,
                 pretrained: Optional[str] = None, init_cfg: InitCfg = None):
        super().__init__(pretrained=pretrained, init_cfg=init_cfg, norm_eval=norm_eval)
        _no_dcn_plugins("UNet", dcn, plugins)
        for key, value, n in (("strides", strides, num_stages),
                              ("enc_num_convs", enc_num_convs, num_stages),
                              ("dec_num_convs", dec_num_convs, num_stages - 1),
                              ("downsamples", downsamples, num_stages - 1),
                              ("enc_dilations", enc_dilations, num_stages),
                              ("dec_dilations", dec_dilations, num_stages - 1)):
            if len(value) != n:
                raise ConfigError(f"UNet {key}={tuple(value)} has {len(value)} entries; with "
                                  f"num_stages={num_stages} it needs {n}.")
        self.num_stages, self.base_channels = num_stages, base_channels
        self.strides, self.downsamples = tuple(strides), tuple(downsamples)

        self.encoder, self.decoder = nn.ModuleList(), nn.ModuleList()
        for i in range(num_stages):
            stage: List[nn.Module] = []
            if i > 0:
                if strides[i] == 1 and downsamples[i - 1]:
                    stage.append(nn.MaxPool2d(kernel_size=2))
                upsample = strides[i] != 1 or downsamples[i - 1]
                self.decoder.append(UpConvBlock(
                    BasicConvBlock, in_channels=base_channels * 2 ** i,
                    skip_channels=base_channels * 2 ** (i - 1),
                    out_channels=base_channels * 2 ** (i - 1), num_convs=dec_num_convs[i - 1],
                    dilation=dec_dilations[i - 1], with_cp=with_cp, conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg, act_cfg=act_cfg,
                    upsample_cfg=upsample_cfg if upsample else None))
            stage.append(BasicConvBlock(in_channels, base_channels * 2 ** i,
                                        num_convs=enc_num_convs[i], stride=strides[i],
                                        dilation=enc_dilations[i], with_cp=with_cp,
                                        conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg))
            self.encoder.append(nn.Sequential(*stage))
            in_channels = base_channels * 2 ** i

    def _stage_strides(self) -> List[int]:
        """Stride of each encoder stage's output relative to the input."""
        strides, stride = [], 1
        for i in range(self.num_stages):
            if self.strides[i] != 1:
                stride *= self.strides[i]
            elif i > 0 and self.downsamples[i - 1]:
                stride *= 2
            strides.append(stride)
        return strides

    def output_shapes(self) -> OutputShapes:
        """The deepest encoder map, then decoder i (coarse to fine) at encoder stage i - 1."""
        enc = self._stage_strides()
        order = list(reversed(range(self.num_stages)))
        return shape_specs([self.base_channels * 2 ** i for i in order], [enc[i] for i in order])

    @property
    def whole_downsample_rate(self) -> int:
        """What H and W must be multiples of (MMSeg's ``_check_input_divisible``)."""
        return 2 ** sum(1 for i in range(1, self.num_stages)
                        if self.strides[i] == 2 or self.downsamples[i - 1])

    def _check_input_divisible(self, x: torch.Tensor) -> None:
        h, w = x.shape[-2:]
        rate = self.whole_downsample_rate
        if h % rate or w % rate:
            raise ValueError(
                f"UNet: the input size {(h, w)} must be divisible by the whole downsample rate "
                f"{rate} (num_stages={self.num_stages}, strides={self.strides}, downsamples="
                f"{self.downsamples}). Pad or crop images to multiples of {rate}, e.g. slide "
                f"inference with test_cfg crop_size and image sizes that are multiples of {rate}.")

    def init_weights(self) -> None:
        """Apply ``init_cfg``; by default MMSeg's Kaiming convs and norm weights 1."""
        initialize(self, self.init_cfg if self.init_cfg is not None else CONV_NORM_INIT)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x: (N, C, H, W). Returns: the deepest encoder map and the decoder maps."""
        self._check_input_divisible(x)
        enc_outs = []
        for enc in self.encoder:
            x = enc(x)
            enc_outs.append(x)
        dec_outs = [x]
        for i in reversed(range(len(self.decoder))):
            x = self.decoder[i](enc_outs[i], x)
            dec_outs.append(x)
        return tuple(dec_outs)
