"""``ISAHead``: interlaced sparse self-attention (`ISA <https://arxiv.org/abs/1907.12273>`_).

The map is cut into ``down_factor`` = (loc_h, loc_w) interlaced groups: a long-range step
attends among the pixels that share their position inside a loc_h x loc_w cell (one pixel per
cell, glb_h x glb_w of them), then a short-range step attends within each cell. Sizes that
``down_factor`` does not divide are zero-padded (split evenly, the odd pixel at the end) and
cropped back. Keys equal MMSegmentation 0.x's (``in_conv``, ``global_relation.*``,
``local_relation.*`` with ``output_project``, ``out_conv``).
"""
from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import ConvModule
from ..layers.self_attention_block import SelfAttentionBlock as _SelfAttentionBlock
from .decode_head import BaseDecodeHead, Inputs


class SelfAttentionBlock(_SelfAttentionBlock):
    """ISA's attention over one set of groups: two conv-norm-act key/query projections, a plain
    value projection, then a conv-norm-act ``output_project``.

    Args:
        in_channels: channels of the features (and of the output).
        channels: key/query channels.
        conv_cfg: conv type.
        norm_cfg: norm type.
        act_cfg: activation.

    Shape:
        (B, in_channels, h, w) -> (B, in_channels, h, w).
    """

    def __init__(self, in_channels: int, channels: int, conv_cfg: Optional[Mapping],
                 norm_cfg: Optional[Mapping], act_cfg: Optional[Mapping]):
        super().__init__(key_in_channels=in_channels, query_in_channels=in_channels,
                         channels=channels, out_channels=in_channels, share_key_query=False,
                         query_downsample=None, key_downsample=None, key_query_num_convs=2,
                         value_out_num_convs=1, key_query_norm=True, value_out_norm=False,
                         matmul_norm=True, with_out=False, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                         act_cfg=act_cfg)
        self.output_project = self.build_project(in_channels, in_channels, 1, True, conv_cfg,
                                                 norm_cfg, act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.output_project(super().forward(x, x))


def isa_padding(h: int, w: int, down_factor: Tuple[int, int]) -> Tuple[int, int, int, int]:
    """``F.pad`` amounts (left, right, top, bottom) that make (h, w) divisible by
    ``down_factor``: half of the missing rows/columns before, the rest after."""
    pad_h = math.ceil(h / down_factor[0]) * down_factor[0] - h
    pad_w = math.ceil(w / down_factor[1]) * down_factor[1] - w
    return pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2


@MODELS.register_module()
class ISAHead(BaseDecodeHead):
    """3x3 ``in_conv``, the long-range then the short-range attention, a 1x1 ``out_conv`` over
    [attended, in_conv output], ``cls_seg``.

    Args:
        isa_channels: key/query channels of both attention steps.
        down_factor: (loc_h, loc_w), the cell size of the short-range step.
        **kwargs: :class:`BaseDecodeHead` keys.

    Shape:
        inputs[in_index] (N, in_channels, h, w) -> logits (N, out_channels, h, w).
    """

    def __init__(self, isa_channels: int, down_factor: Sequence[int] = (8, 8), **kwargs):
        if len(down_factor) != 2 or any(not isinstance(f, int) or f < 1 for f in down_factor):
            raise ConfigError(f"ISAHead down_factor={down_factor!r} must be two ints >= 1 "
                              f"(the cell height and width).")
        super().__init__(**kwargs)
        self.isa_channels, self.down_factor = isa_channels, tuple(down_factor)
        self.in_conv = ConvModule(self.in_channels, self.channels, 3, padding=1, **self.conv_args)
        self.global_relation = SelfAttentionBlock(self.channels, isa_channels, **self.conv_args)
        self.local_relation = SelfAttentionBlock(self.channels, isa_channels, **self.conv_args)
        self.out_conv = ConvModule(self.channels * 2, self.channels, 1, **self.conv_args)

    def interlaced_attention(self, x: torch.Tensor) -> torch.Tensor:
        """Long-range then short-range attention of ``x`` (N, C, h, w), same shape out."""
        n, c, h, w = x.shape
        loc_h, loc_w = self.down_factor
        left, right, top, bottom = isa_padding(h, w, self.down_factor)
        if right or bottom:  # the "after" share is the larger one: zero iff nothing is padded
            x = F.pad(x, (left, right, top, bottom))
        glb_h, glb_w = x.shape[2] // loc_h, x.shape[3] // loc_w
        # Pixel (gi * loc_h + li, gj * loc_w + lj): long-range groups share (li, lj).
        x = x.reshape(n, c, glb_h, loc_h, glb_w, loc_w).permute(0, 3, 5, 1, 2, 4)
        x = self.global_relation(x.reshape(-1, c, glb_h, glb_w))
        # Short-range groups share the cell (gi, gj).
        x = x.reshape(n, loc_h, loc_w, c, glb_h, glb_w).permute(0, 4, 5, 3, 1, 2)
        x = self.local_relation(x.reshape(-1, c, loc_h, loc_w))
        x = x.reshape(n, glb_h, glb_w, c, loc_h, loc_w).permute(0, 3, 1, 4, 2, 5)
        x = x.reshape(n, c, glb_h * loc_h, glb_w * loc_w)
        return x[:, :, top:top + h, left:left + w]

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        residual = self.in_conv(self._transform_inputs(inputs))
        return self.out_conv(torch.cat([self.interlaced_attention(residual), residual], dim=1))
