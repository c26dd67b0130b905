"""``DMHead``: dynamic multi-scale filters (`DMNet <https://openaccess.thecvf.com/content_ICCV_2019/
papers/He_Dynamic_Multi-Scale_Filters_for_Semantic_Segmentation_ICCV_2019_paper.pdf>`_)."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS
from ..layers import ConvModule, build_activation_layer, build_norm_layer
from .apc_head import branch_bottleneck, check_scales, concat_branches
from .decode_head import BaseDecodeHead, Inputs


class DCM(nn.Module):
    """Dynamic convolutional module: a depthwise ``filter_size`` filter per image and channel,
    generated (``filter_gen_conv``) from the input pooled to ``filter_size``, applied to the
    reduced input (zero 'same' padding; even sizes pad one more on the top/left), then norm and
    activation (and a 1x1 ``fusion_conv`` with ``fusion``).

    Args:
        filter_size: side of the generated filters.
        fusion: add ``fusion_conv``.
        in_channels: input channels.
        channels: output channels.
        conv_cfg: conv type.
        norm_cfg: norm after the dynamic conv (``norm``) and in the ConvModules; None: none.
        act_cfg: activation.

    Shape:
        (N, in_channels, H, W) -> (N, channels, H, W).
    """

    def __init__(self, filter_size: int, fusion: bool, in_channels: int, channels: int,
                 conv_cfg: Optional[Mapping], norm_cfg: Optional[Mapping],
                 act_cfg: Optional[Mapping]):
        super().__init__()
        self.filter_size, self.fusion = filter_size, fusion
        self.in_channels, self.channels = in_channels, channels
        args = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.filter_gen_conv = nn.Conv2d(in_channels, channels, 1, 1, 0)
        self.input_redu_conv = ConvModule(in_channels, channels, 1, **args)
        self.norm = build_norm_layer(norm_cfg, channels)[1] if norm_cfg is not None else None
        self.activate = build_activation_layer(act_cfg) if act_cfg is not None else nn.Identity()
        if fusion:
            self.fusion_conv = ConvModule(channels, channels, 1, **args)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = self.filter_size
        filters = self.filter_gen_conv(F.adaptive_avg_pool2d(x, size))  # (N, channels, k, k)
        x = self.input_redu_conv(x)
        n, c, h, w = x.shape
        pad = (size - 1) // 2
        extra = 0 if (size - 1) % 2 == 0 else 1
        x = F.pad(x.reshape(1, n * c, h, w), (pad + extra, pad, pad + extra, pad))
        out = F.conv2d(x, filters.reshape(n * c, 1, size, size), groups=n * c).view(n, c, h, w)
        if self.norm is not None:
            out = self.norm(out)
        out = self.activate(out)
        return self.fusion_conv(out) if self.fusion else out


@MODELS.register_module()
class DMHead(BaseDecodeHead):
    """One :class:`DCM` per filter size, concatenated with the input, fused by a 3x3
    ``bottleneck``.

    Args:
        filter_sizes: sides of the generated filters.
        fusion: each DCM ends with a 1x1 ``fusion_conv``.
        **kwargs: :class:`BaseDecodeHead` keys.

    Shape:
        inputs[in_index] (N, in_channels, h, w) -> logits (N, out_channels, h, w).
    """

    def __init__(self, filter_sizes: Sequence[int] = (1, 3, 5, 7), fusion: bool = False,
                 **kwargs):
        filter_sizes = check_scales("DMHead", "filter_sizes", filter_sizes)
        super().__init__(**kwargs)
        self.filter_sizes, self.fusion = filter_sizes, fusion
        self.dcm_modules = nn.ModuleList(
            DCM(size, fusion, self.in_channels, self.channels, **self.conv_args)
            for size in filter_sizes)
        self.bottleneck = branch_bottleneck(self, self.dcm_modules)

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        return self.bottleneck(concat_branches(self._transform_inputs(inputs), self.dcm_modules))
