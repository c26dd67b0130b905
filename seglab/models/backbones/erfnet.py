"""``ERFNet``: `ERFNet <https://ieeexplore.ieee.org/document/8063438>`_ (efficient residual
factorized ConvNet).

Same constructor keys, module names and numerics as MMSegmentation 0.x's
``mmseg.models.backbones.ERFNet``: an ``encoder`` ModuleList of :class:`DownsamplerBlock` and
:class:`NonBottleneck1d` blocks (the last stage cycles through ``enc_non_bottleneck_dilations``)
and a ``decoder`` ModuleList of :class:`UpsamplerBlock` and non-bottleneck blocks; one output at
stride ``2 ** (downsamplers - upsamplers)``. As in MMSeg, the blocks keep their own norm
(``BN`` with eps 1e-3) and ReLU: the backbone's ``norm_cfg``/``act_cfg`` are stored, not passed on.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import build_activation_layer, build_conv_layer, build_norm_layer, initialize, resize
from ..layers.weight_init import InitCfg
from .base import BaseBackbone, OutputShapes, shape_specs

_BLOCK_NORM = dict(type="BN", eps=1e-3)
_RELU = dict(type="ReLU")


class DownsamplerBlock(nn.Module):
    """A stride-2 3x3 conv beside a 2x2 max pool, concatenated, then norm and activation.

    Args:
        in_channels: input channels.
        out_channels: output channels (the conv gives ``out_channels - in_channels``).
        conv_cfg: conv type.
        norm_cfg: norm type.
        act_cfg: activation type.

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, ceil(H / 2), ceil(W / 2)).
    """

    def __init__(self, in_channels: int, out_channels: int, conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Mapping = _BLOCK_NORM, act_cfg: Mapping = _RELU):
        super().__init__()
        if out_channels <= in_channels:
            raise ConfigError(f"ERFNet DownsamplerBlock needs out_channels > in_channels (the conv "
                              f"adds out - in channels to the pooled input), got {in_channels} -> "
                              f"{out_channels}")
        self.conv = build_conv_layer(conv_cfg, in_channels, out_channels - in_channels,
                                     kernel_size=3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.bn = build_norm_layer(norm_cfg, out_channels)[1]
        self.act = build_activation_layer(act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv_out = self.conv(x)
        # On odd sizes the pool is one smaller than the padded conv: resized to match, as MMSeg.
        pool_out = resize(self.pool(x), size=conv_out.shape[2:], mode="bilinear",
                          align_corners=False)
        return self.act(self.bn(torch.cat([conv_out, pool_out], dim=1)))


class NonBottleneck1d(nn.Module):
    """Residual block of factorised (3x1, 1x3) convs; the second pair is dilated.

    ``convs_layers`` is MMSeg's flat list: per pair ``[conv3x1, act, conv1x3, norm, act or
    Dropout]`` (the last pair ends with ``Dropout(drop_rate)``); the output is
    ``act(convs(x) + x)``.

    Args:
        channels: input and output channels.
        drop_rate: dropout probability at the end of the block.
        dilation: dilation of the pairs after the first.
        num_conv_layer: number of (3x1, 1x3) pairs.
        conv_cfg: conv type.
        norm_cfg: norm type.
        act_cfg: activation type.
    """

    def __init__(self, channels: int, drop_rate: float = 0.0, dilation: int = 1,
                 num_conv_layer: int = 2, conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Mapping = _BLOCK_NORM, act_cfg: Mapping = _RELU):
        super().__init__()
        self.act = build_activation_layer(act_cfg)
        layers = []
        for i in range(num_conv_layer):
            d = 1 if i == 0 else dilation
            layers += [build_conv_layer(conv_cfg, channels, channels, kernel_size=(3, 1),
                                        padding=(d, 0), dilation=(d, 1), bias=True),
                       self.act,
                       build_conv_layer(conv_cfg, channels, channels, kernel_size=(1, 3),
                                        padding=(0, d), dilation=(1, d), bias=True),
                       build_norm_layer(norm_cfg, channels)[1],
                       self.act if i == 0 else nn.Dropout(p=drop_rate)]
        self.convs_layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.convs_layers:
            out = layer(out)
        return self.act(out + x)


class UpsamplerBlock(nn.Module):
    """Transposed 3x3 conv (stride 2, output padding 1), norm, activation: doubles H and W.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        conv_cfg: accepted for MMSeg's signature (the conv is always ``ConvTranspose2d``).
        norm_cfg: norm type.
        act_cfg: activation type.
    """

    def __init__(self, in_channels: int, out_channels: int, conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Mapping = _BLOCK_NORM, act_cfg: Mapping = _RELU):
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=3, stride=2,
                                       padding=1, output_padding=1, bias=True)
        self.bn = build_norm_layer(norm_cfg, out_channels)[1]
        self.act = build_activation_layer(act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


@MODELS.register_module()
class ERFNet(BaseBackbone):
    """ERFNet encoder-decoder returning one map.

    Args:
        in_channels: input image channels.
        enc_downsample_channels: output channels of the encoder's downsampler blocks.
        enc_stage_non_bottlenecks: non-bottleneck blocks after each downsampler but the first;
            the last entry must be a multiple of ``len(enc_non_bottleneck_dilations)``.
        enc_non_bottleneck_dilations: dilations cycled through by the last encoder stage.
        enc_non_bottleneck_channels: channels of the encoder stages (MMSeg checks only their
            number; the blocks use ``enc_downsample_channels``).
        dec_upsample_channels: one entry per decoder upsampler (MMSeg checks only the number;
            the upsamplers output ``dec_non_bottleneck_channels``).
        dec_stages_non_bottleneck: non-bottleneck blocks after each upsampler.
        dec_non_bottleneck_channels: channels of the decoder stages.
        dropout_ratio: dropout of the encoder's non-bottleneck blocks.
        conv_cfg: stored (the blocks use plain convs, as MMSeg).
        norm_cfg: stored (the blocks use BN with eps 1e-3, as MMSeg).
        act_cfg: stored (the blocks use ReLU, as MMSeg).
        pretrained: checkpoint to load in :meth:`init_weights` (deprecated form of ``init_cfg``).
        init_cfg: init dicts; None keeps PyTorch's default init (MMSeg sets none either).

    Shape:
        (N, in_channels, H, W) -> ((N, dec_non_bottleneck_channels[-1], H / s, W / s),) with
        ``s = 2 ** (len(enc_downsample_channels) - len(dec_upsample_channels))``.
    """

    def __init__(self, in_channels: int = 3,
                 enc_downsample_channels: Sequence[int] = (16, 64, 128),
                 enc_stage_non_bottlenecks: Sequence[int] = (5, 8),
                 enc_non_bottleneck_dilations: Sequence[int] = (2, 4, 8, 16),
                 enc_non_bottleneck_channels: Sequence[int] = (64, 128),
                 dec_upsample_channels: Sequence[int] = (64, 16),
                 dec_stages_non_bottleneck: Sequence[int] = (2, 2),
                 dec_non_bottleneck_channels: Sequence[int] = (64, 16),
                 dropout_ratio: float = 0.1, conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Mapping = dict(type="BN", requires_grad=True),
                 act_cfg: Mapping = dict(type="ReLU"), pretrained: Optional[str] = None,
                 init_cfg: InitCfg = None):
        super().__init__(pretrained=pretrained, init_cfg=init_cfg)
        n_down = len(enc_downsample_channels)
        lengths = dict(dec_upsample_channels=(dec_upsample_channels, n_down - 1),
                       enc_stage_non_bottlenecks=(enc_stage_non_bottlenecks, n_down - 1),
                       enc_non_bottleneck_channels=(enc_non_bottleneck_channels, n_down - 1),
                       dec_stages_non_bottleneck=(dec_stages_non_bottleneck,
                                                  len(dec_upsample_channels)),
                       dec_non_bottleneck_channels=(dec_non_bottleneck_channels,
                                                    len(dec_upsample_channels)))
        wrong = {k: tuple(v) for k, (v, n) in lengths.items() if len(v) != n}
        if n_down < 2 or wrong:
            raise ConfigError(
                f"ERFNet: enc_downsample_channels={tuple(enc_downsample_channels)} has {n_down} "
                f"downsamplers (at least 2); enc_stage_non_bottlenecks, enc_non_bottleneck_channels"
                f" and dec_upsample_channels need one entry fewer, dec_stages_non_bottleneck and "
                f"dec_non_bottleneck_channels one per upsampler; these do not fit: {wrong}")
        if enc_stage_non_bottlenecks[-1] % len(enc_non_bottleneck_dilations):
            raise ConfigError(f"ERFNet: enc_stage_non_bottlenecks[-1]="
                              f"{enc_stage_non_bottlenecks[-1]} must be a multiple of the "
                              f"{len(enc_non_bottleneck_dilations)} enc_non_bottleneck_dilations")
        self.in_channels, self.dropout_ratio = in_channels, dropout_ratio
        self.enc_downsample_channels = tuple(enc_downsample_channels)
        self.dec_upsample_channels = tuple(dec_upsample_channels)
        self.dec_non_bottleneck_channels = tuple(dec_non_bottleneck_channels)
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg

        encoder = [DownsamplerBlock(in_channels, enc_downsample_channels[0])]
        for i in range(n_down - 1):
            channels = enc_downsample_channels[i + 1]
            encoder.append(DownsamplerBlock(enc_downsample_channels[i], channels))
            if i == n_down - 2:  # the last stage: dilated blocks, cycling through the dilations
                repeats = enc_stage_non_bottlenecks[-1] // len(enc_non_bottleneck_dilations)
                encoder += [NonBottleneck1d(channels, dropout_ratio, d)
                            for _ in range(repeats) for d in enc_non_bottleneck_dilations]
            else:
                encoder += [NonBottleneck1d(channels, dropout_ratio)
                            for _ in range(enc_stage_non_bottlenecks[i])]
        self.encoder = nn.ModuleList(encoder)

        decoder, channels = [], enc_downsample_channels[-1]
        for out_channels, blocks in zip(dec_non_bottleneck_channels, dec_stages_non_bottleneck):
            decoder.append(UpsamplerBlock(channels, out_channels))
            decoder += [NonBottleneck1d(out_channels) for _ in range(blocks)]
            channels = out_channels
        self.decoder = nn.ModuleList(decoder)

    def output_shapes(self) -> OutputShapes:
        """One map: the last decoder channels at ``2 ** (downsamplers - upsamplers)``."""
        channels = (self.dec_non_bottleneck_channels[-1] if self.dec_non_bottleneck_channels
                    else self.enc_downsample_channels[-1])
        stride = 2 ** (len(self.enc_downsample_channels) - len(self.dec_upsample_channels))
        return shape_specs([channels], [stride])

    def init_weights(self) -> None:
        """Load ``pretrained`` / apply ``init_cfg``; without one PyTorch's init stays (as MMSeg)."""
        initialize(self, self.init_cfg)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        """Args: x: (N, C, H, W). Returns: a 1-tuple of the decoder's output map."""
        for layer in self.encoder:
            x = layer(x)
        for layer in self.decoder:
            x = layer(x)
        return (x,)
