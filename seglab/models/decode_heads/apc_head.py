"""``APCHead``: adaptive context modules (`APCNet <https://openaccess.thecvf.com/content_CVPR_2019/
papers/He_Adaptive_Pyramid_Context_Network_for_Semantic_Segmentation_CVPR_2019_paper.pdf>`_)."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import ConvModule, resize
from .decode_head import BaseDecodeHead, Inputs


class ACM(nn.Module):
    """Adaptive context module: each pixel takes a sigmoid-weighted sum of the
    ``pool_scale x pool_scale`` pooled region features, the weights predicted (``gla``) from the
    pixel plus the global context.

    Args:
        pool_scale: side of the adaptive average pool.
        fusion: a 1x1 ``fusion_conv`` after the residual sum.
        in_channels: input channels.
        channels: output channels.
        conv_cfg: conv type.
        norm_cfg: norm type.
        act_cfg: activation.

    Shape:
        (N, in_channels, H, W) -> (N, channels, H, W).
    """

    def __init__(self, pool_scale: int, fusion: bool, in_channels: int, channels: int,
                 conv_cfg: Optional[Mapping], norm_cfg: Optional[Mapping],
                 act_cfg: Optional[Mapping]):
        super().__init__()
        self.pool_scale, self.fusion = pool_scale, fusion
        self.in_channels, self.channels = in_channels, channels
        args = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.pooled_redu_conv = ConvModule(in_channels, channels, 1, **args)
        self.input_redu_conv = ConvModule(in_channels, channels, 1, **args)
        self.global_info = ConvModule(channels, channels, 1, **args)
        self.gla = nn.Conv2d(channels, pool_scale ** 2, 1, 1, 0)
        self.residual_conv = ConvModule(channels, channels, 1, **args)
        if fusion:
            self.fusion_conv = ConvModule(channels, channels, 1, **args)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.size(0)
        pooled = self.pooled_redu_conv(F.adaptive_avg_pool2d(x, self.pool_scale))
        pooled = pooled.view(n, self.channels, -1).permute(0, 2, 1)  # (N, s*s, channels)
        x = self.input_redu_conv(x)
        context = resize(self.global_info(F.adaptive_avg_pool2d(x, 1)), size=x.shape[2:])
        affinity = self.gla(x + context).permute(0, 2, 3, 1).reshape(n, -1, self.pool_scale ** 2)
        out = torch.matmul(torch.sigmoid(affinity), pooled)  # (N, HW, channels)
        out = out.permute(0, 2, 1).reshape(n, self.channels, *x.shape[2:])
        out = F.relu(self.residual_conv(out) + x)
        return self.fusion_conv(out) if self.fusion else out


def check_scales(head: str, key: str, values) -> tuple:
    """``values`` as a tuple, or a ConfigError naming ``head.key`` unless a non-empty list."""
    if not isinstance(values, (list, tuple)) or not values:
        raise ConfigError(f"{head} {key}={values!r} must be a non-empty list or tuple of ints.")
    return tuple(values)


def branch_bottleneck(head: BaseDecodeHead, branches: nn.ModuleList) -> ConvModule:
    """The 3x3 ``bottleneck`` over [input, one ``channels`` map per branch] (APC, DM heads)."""
    return ConvModule(head.in_channels + len(branches) * head.channels, head.channels, 3,
                      padding=1, **head.conv_args)


def concat_branches(x: torch.Tensor, branches: nn.ModuleList) -> torch.Tensor:
    """The input and every branch's output on it, concatenated over channels."""
    return torch.cat([x, *(branch(x) for branch in branches)], dim=1)


@MODELS.register_module()
class APCHead(BaseDecodeHead):
    """One :class:`ACM` per pool scale, concatenated with the input, fused by a 3x3
    ``bottleneck``.

    Args:
        pool_scales: pool sides of the ACMs.
        fusion: each ACM ends with a 1x1 ``fusion_conv``.
        **kwargs: :class:`BaseDecodeHead` keys.

    Shape:
        inputs[in_index] (N, in_channels, h, w) -> logits (N, out_channels, h, w).
    """

    def __init__(self, pool_scales: Sequence[int] = (1, 2, 3, 6), fusion: bool = True,
                 **kwargs):
        pool_scales = check_scales("APCHead", "pool_scales", pool_scales)
        super().__init__(**kwargs)
        self.pool_scales, self.fusion = pool_scales, fusion
        self.acm_modules = nn.ModuleList(
            ACM(scale, fusion, self.in_channels, self.channels, **self.conv_args)
            for scale in pool_scales)
        self.bottleneck = branch_bottleneck(self, self.acm_modules)

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        return self.bottleneck(concat_branches(self._transform_inputs(inputs), self.acm_modules))
