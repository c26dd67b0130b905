"""``ANNHead``: asymmetric non-local attention (`ANNNet <https://arxiv.org/abs/1908.07678>`_).

Two blocks on :class:`~seglab.models.layers.SelfAttentionBlock` whose keys and values are
pyramid-pooled (:class:`PPMConcat`: 1 + 9 + 36 + 64 = 110 positions for the default scales, a
fixed cost whatever the map size): :class:`AFNB` fuses the low level (keys) into the high level
(queries), :class:`APNB` attends within the fused map. Keys equal MMSegmentation 0.x's
(``fusion.stages.0.*``, ``fusion.bottleneck``, ``bottleneck``, ``context.stages.0.*``,
``context.bottleneck``).
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import ConvModule
from ..layers.self_attention_block import SelfAttentionBlock as _SelfAttentionBlock
from .decode_head import BaseDecodeHead, Inputs


class PPMConcat(nn.ModuleList):
    """Adaptive average pools at ``pool_scales``, flattened and concatenated.

    Shape:
        (N, C, H, W) -> (N, C, sum(s * s for s in pool_scales)).
    """

    def __init__(self, pool_scales: Sequence[int] = (1, 3, 6, 8)):
        super().__init__(nn.AdaptiveAvgPool2d(scale) for scale in pool_scales)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return torch.cat([pool(feats).flatten(2) for pool in self], dim=2)


class SelfAttentionBlock(_SelfAttentionBlock):
    """ANN's attention: 1x1 conv-norm-act key/query projections, plain 1x1 value/out
    projections, keys and values pyramid-pooled by :class:`PPMConcat`.

    Args:
        low_in_channels: channels of the key/value features.
        high_in_channels: channels of the query features.
        channels: key/query/value channels.
        out_channels: output channels.
        share_key_query: one projection for keys and queries.
        query_scale: must be 1 (see :class:`ANNHead`).
        key_pool_scales: pooling scales of the keys.
        conv_cfg: conv type.
        norm_cfg: norm type.
        act_cfg: activation.
    """

    def __init__(self, low_in_channels: int, high_in_channels: int, channels: int,
                 out_channels: int, share_key_query: bool, query_scale: int,
                 key_pool_scales: Sequence[int], conv_cfg: Optional[Mapping],
                 norm_cfg: Optional[Mapping], act_cfg: Optional[Mapping]):
        super().__init__(key_in_channels=low_in_channels, query_in_channels=high_in_channels,
                         channels=channels, out_channels=out_channels,
                         share_key_query=share_key_query, query_downsample=None,
                         key_downsample=PPMConcat(key_pool_scales), key_query_num_convs=1,
                         value_out_num_convs=1, key_query_norm=True, value_out_norm=False,
                         matmul_norm=True, with_out=True, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                         act_cfg=act_cfg)
        self.query_scale = query_scale


class _PyramidAttention(nn.Module):
    """Attention stages (one per query scale, contexts summed) whose keys and values are
    pyramid-pooled, then a 1x1 ``bottleneck`` over [context, query features]."""

    def __init__(self, key_channels: int, query_channels: int, channels: int, out_channels: int,
                 share_key_query: bool, query_scales: Sequence[int],
                 key_pool_scales: Sequence[int], bottleneck_act: Optional[Mapping],
                 conv_cfg: Optional[Mapping], norm_cfg: Optional[Mapping],
                 act_cfg: Optional[Mapping]):
        super().__init__()
        self.stages = nn.ModuleList(
            SelfAttentionBlock(key_channels, query_channels, channels, out_channels,
                               share_key_query, scale, key_pool_scales, conv_cfg, norm_cfg,
                               act_cfg) for scale in query_scales)
        self.bottleneck = ConvModule(out_channels + query_channels, out_channels, 1,
                                     conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=bottleneck_act)

    def attend(self, query_feats: torch.Tensor, key_feats: torch.Tensor) -> torch.Tensor:
        context = sum(stage(query_feats, key_feats) for stage in self.stages)
        return self.bottleneck(torch.cat([context, query_feats], dim=1))


class AFNB(_PyramidAttention):
    """Asymmetric fusion non-local block: high-level queries attend to pooled low-level keys;
    the summed contexts and the high-level features are fused by a 1x1 ``bottleneck`` (no act).

    Shape:
        low (N, low_in_channels, h, w), high (N, high_in_channels, H, W) ->
        (N, out_channels, H, W).
    """

    def __init__(self, low_in_channels: int, high_in_channels: int, channels: int,
                 out_channels: int, query_scales: Sequence[int], key_pool_scales: Sequence[int],
                 conv_cfg: Optional[Mapping], norm_cfg: Optional[Mapping],
                 act_cfg: Optional[Mapping]):
        super().__init__(low_in_channels, high_in_channels, channels, out_channels, False,
                         query_scales, key_pool_scales, None, conv_cfg, norm_cfg, act_cfg)

    def forward(self, low_feats: torch.Tensor, high_feats: torch.Tensor) -> torch.Tensor:
        return self.attend(high_feats, low_feats)


class APNB(_PyramidAttention):
    """Asymmetric pyramid non-local block: self-attention with shared key/query projections
    over pooled keys; contexts and input fused by a 1x1 ``bottleneck`` (with act).

    MMSeg sizes the bottleneck input as ``2 * in_channels``, i.e. ``out_channels ==
    in_channels`` (as ANNHead builds it).

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, H, W).
    """

    def __init__(self, in_channels: int, channels: int, out_channels: int,
                 query_scales: Sequence[int], key_pool_scales: Sequence[int],
                 conv_cfg: Optional[Mapping], norm_cfg: Optional[Mapping],
                 act_cfg: Optional[Mapping]):
        if out_channels != in_channels:
            raise ConfigError(f"APNB concatenates its context ({out_channels} channels) with its "
                              f"input ({in_channels}) into a 2 * in_channels bottleneck, as "
                              f"MMSeg: out_channels must equal in_channels.")
        super().__init__(in_channels, in_channels, channels, out_channels, True, query_scales,
                         key_pool_scales, act_cfg, conv_cfg, norm_cfg, act_cfg)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.attend(feats, feats)


@MODELS.register_module()
class ANNHead(BaseDecodeHead, fixed_keys=("input_transform",)):
    """AFNB over two levels (low, high), dropout, a 3x3 ``bottleneck``, APNB, ``cls_seg``.

    Args:
        project_channels: key/query/value channels of the attention blocks.
        query_scales: one attention stage per entry, their contexts summed. Only 1 works:
            MMSeg max-pools the queries for larger scales and then fails to reshape the context.
        key_pool_scales: :class:`PPMConcat` scales of the keys and values.
        **kwargs: :class:`BaseDecodeHead` keys; ``in_channels`` / ``in_index`` name two
            levels, [low, high] (``input_transform`` is ``'multiple_select'``).

    Shape:
        inputs[in_index[0]] (N, C_low, h', w'), inputs[in_index[1]] (N, C_high, h, w) ->
        logits (N, out_channels, h, w).
    """

    def __init__(self, project_channels: int, query_scales: Sequence[int] = (1,),
                 key_pool_scales: Sequence[int] = (1, 3, 6, 8), **kwargs):
        if any(scale != 1 for scale in query_scales):
            raise ConfigError(f"ANNHead query_scales={tuple(query_scales)}: scales other than 1 "
                              f"max-pool the queries, which MMSegmentation's ANNHead cannot run "
                              f"either; use query_scales=(1,).")
        super().__init__(input_transform="multiple_select", **kwargs)
        if len(self.in_channels) != 2:
            raise ConfigError(f"ANNHead reads two levels [low, high]; got in_channels="
                              f"{self.in_channels!r}.")
        low_in_channels, high_in_channels = self.in_channels
        self.project_channels = project_channels
        self.fusion = AFNB(low_in_channels, high_in_channels, project_channels,
                           high_in_channels, query_scales, key_pool_scales, **self.conv_args)
        self.bottleneck = ConvModule(high_in_channels, self.channels, 3, padding=1,
                                     **self.conv_args)
        self.context = APNB(self.channels, project_channels, self.channels, query_scales,
                            key_pool_scales, **self.conv_args)

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        low_feats, high_feats = self._transform_inputs(inputs)
        feats = self.fusion(low_feats, high_feats)
        if self.dropout is not None:  # MMSeg drops out here too, besides before conv_seg
            feats = self.dropout(feats)
        return self.context(self.bottleneck(feats))
