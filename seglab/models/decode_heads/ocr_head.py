"""``OCRHead``: object-contextual representations (`OCRNet <https://arxiv.org/abs/1909.11065>`_).

A cascade head: the previous stage's logits (soft object regions) pool the pixel features into
one descriptor per class (:class:`SpatialGatherModule`); each pixel then attends to the class
descriptors (:class:`ObjectAttentionBlock`). Keys equal MMSegmentation 0.x's (``bottleneck``,
``object_context_block.{query,key,value,out}_project``, ``object_context_block.bottleneck``).
"""
from __future__ import annotations

from typing import Mapping, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import ConvModule
from ..layers.self_attention_block import SelfAttentionBlock
from .cascade_decode_head import BaseCascadeDecodeHead
from .decode_head import Inputs


class SpatialGatherModule(nn.Module):
    """Class descriptors: pixel features averaged with the softmax (over pixels) of each class.

    Args:
        scale: multiplier of the logits before the spatial softmax.

    Shape:
        feats (N, C, H, W), probs (N, K, H, W) -> (N, C, K, 1).
    """

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def forward(self, feats: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        weights = F.softmax(self.scale * probs.flatten(2), dim=2)  # (N, K, HW)
        context = torch.matmul(weights, feats.flatten(2).transpose(1, 2))  # (N, K, C)
        return context.transpose(1, 2).unsqueeze(3)


class ObjectAttentionBlock(SelfAttentionBlock):
    """Pixels (queries) attend to the class descriptors (keys); the context is fused with the
    pixel features by a 1x1 ``bottleneck``.

    Args:
        in_channels: channels of the pixel features and of the output.
        channels: key/query channels.
        scale: must be 1 (see :class:`OCRHead`).
        conv_cfg: conv type.
        norm_cfg: norm type.
        act_cfg: activation.
    """

    def __init__(self, in_channels: int, channels: int, scale: float,
                 conv_cfg: Optional[Mapping], norm_cfg: Optional[Mapping],
                 act_cfg: Optional[Mapping]):
        super().__init__(key_in_channels=in_channels, query_in_channels=in_channels,
                         channels=channels, out_channels=in_channels, share_key_query=False,
                         query_downsample=None, key_downsample=None, key_query_num_convs=2,
                         value_out_num_convs=1, key_query_norm=True, value_out_norm=True,
                         matmul_norm=True, with_out=True, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                         act_cfg=act_cfg)
        self.bottleneck = ConvModule(in_channels * 2, in_channels, 1, conv_cfg=conv_cfg,
                                     norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, query_feats: torch.Tensor, key_feats: torch.Tensor) -> torch.Tensor:
        """Args: query_feats (N, C, H, W) pixels; key_feats (N, C, K, 1). Returns (N, C, H, W)."""
        context = super().forward(query_feats, key_feats)
        return self.bottleneck(torch.cat([context, query_feats], dim=1))


@MODELS.register_module()
class OCRHead(BaseCascadeDecodeHead):
    """OCR head: 3x3 ``bottleneck`` over the selected levels, class descriptors from
    ``prev_output``, object attention, then ``cls_seg``.

    Args:
        ocr_channels: key/query channels of the object attention.
        scale: logit multiplier of the spatial gather. Only values <= 1 work: MMSeg's
            ``scale > 1`` path (a max-pooled query) fails at its first forward pass.
        **kwargs: :class:`BaseDecodeHead` keys (HRNet configs: ``input_transform=
            'resize_concat'`` over all branches).

    Shape:
        inputs (selected: (N, in_channels, h, w)), prev_output (N, K, h, w) ->
        logits (N, out_channels, h, w).
    """

    def __init__(self, ocr_channels: int, scale: float = 1, **kwargs):
        if scale > 1:
            raise ConfigError(f"OCRHead scale={scale}: scales above 1 max-pool the queries, which "
                              f"MMSegmentation's OCRHead cannot run either; use scale=1.")
        super().__init__(**kwargs)
        self.ocr_channels, self.scale = ocr_channels, scale
        self.object_context_block = ObjectAttentionBlock(self.channels, ocr_channels, scale,
                                                         **self.conv_args)
        self.spatial_gather_module = SpatialGatherModule(scale)
        self.bottleneck = ConvModule(self.in_channels, self.channels, 3, padding=1,
                                     **self.conv_args)

    def forward(self, inputs: Inputs, prev_output: torch.Tensor) -> torch.Tensor:
        feats = self.bottleneck(self._transform_inputs(inputs))
        if prev_output.shape[2:] != feats.shape[2:]:
            raise ValueError(f"OCRHead: prev_output is {tuple(prev_output.shape[2:])} but the "
                             f"features are {tuple(feats.shape[2:])}; the previous stage must "
                             f"predict at the resolution of this head's first input.")
        context = self.spatial_gather_module(feats, prev_output)
        return self.cls_seg(self.object_context_block(feats, context))
