"""``FCNHead``: a few convs over one backbone level (`FCN <https://arxiv.org/abs/1411.4038>`_)."""
from __future__ import annotations

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import ConvModule
from .decode_head import BaseDecodeHead, Inputs


@MODELS.register_module()
class FCNHead(BaseDecodeHead):
    """``num_convs`` ConvModules, optionally concatenated with the input (``conv_cat``).

    Args:
        num_convs: number of convs (0 passes the input through; needs in_channels == channels).
        kernel_size: conv kernel size.
        concat_input: concatenate input and conv output and fuse them with ``conv_cat``.
        dilation: dilation of the convs.
        **kwargs: :class:`BaseDecodeHead` keys.

    Shape:
        inputs[in_index] (N, in_channels, h, w) -> logits (N, out_channels, h, w).
    """

    def __init__(self, num_convs: int = 2, kernel_size: int = 3, concat_input: bool = True,
                 dilation: int = 1, **kwargs):
        if num_convs < 0 or not isinstance(dilation, int) or dilation <= 0:
            raise ConfigError(f"FCNHead needs num_convs >= 0 and an int dilation > 0, got "
                              f"num_convs={num_convs}, dilation={dilation!r}")
        super().__init__(**kwargs)
        self.num_convs, self.concat_input, self.kernel_size = num_convs, concat_input, kernel_size
        if num_convs == 0 and self.in_channels != self.channels:
            raise ConfigError(f"FCNHead with num_convs=0 needs in_channels == channels, got "
                              f"{self.in_channels} and {self.channels}")
        padding = (kernel_size // 2) * dilation
        convs = [ConvModule(self.in_channels if i == 0 else self.channels, self.channels,
                            kernel_size, padding=padding, dilation=dilation, **self.conv_args)
                 for i in range(num_convs)]
        self.convs = nn.Sequential(*convs) if convs else nn.Identity()
        if concat_input:
            self.conv_cat = ConvModule(self.in_channels + self.channels, self.channels, kernel_size,
                                       padding=kernel_size // 2, **self.conv_args)

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        """Features before ``cls_seg``: (N, channels, h, w)."""
        x = self._transform_inputs(inputs)
        feats = self.convs(x)
        if self.concat_input:
            feats = self.conv_cat(torch.cat([x, feats], dim=1))
        return feats
