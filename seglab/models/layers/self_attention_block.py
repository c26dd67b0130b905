"""``SelfAttentionBlock``: the general key/query/value attention over feature maps of MMSeg 0.x
(``mmseg.models.utils.SelfAttentionBlock``), shared by the attention heads (OCR, ISA, ANN, DNL...).

Same arguments (all required, as MMSeg's) and module names (``key_project``, ``query_project``,
``value_project``, ``out_project``) so that checkpoints load unchanged.
"""
from __future__ import annotations

from typing import Mapping, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from .conv_module import ConvModule
from .weight_init import constant_init


class SelfAttentionBlock(nn.Module):
    """Attention of each query position over all key positions (non-local block).

    ``sim = softmax(q^T k [* channels**-0.5])`` over key positions; the context
    ``v sim^T`` has the query's spatial size and goes through ``out_project`` if ``with_out``.

    Args:
        key_in_channels: channels of the key (and value) features.
        query_in_channels: channels of the query features.
        channels: channels of the key/query projections (and of the value with ``with_out``).
        out_channels: output channels.
        share_key_query: one projection for key and query (needs equal input channels).
        query_downsample: module applied to the projected query, or None.
        key_downsample: module applied to the projected key and value, or None.
        key_query_num_convs: 1x1 convs of the key/query projections.
        value_out_num_convs: 1x1 convs of the value and out projections.
        key_query_norm: key/query projections are ConvModules (conv, norm, act); else plain
            convs with bias.
        value_out_norm: the same for the value/out projections.
        matmul_norm: scale the similarities by ``channels ** -0.5``.
        with_out: project the context to ``out_channels`` with ``out_project`` (the value is
            then projected to ``channels``); else the value is projected to ``out_channels``.
        conv_cfg: conv type of the ConvModules.
        norm_cfg: norm of the ConvModules.
        act_cfg: activation of the ConvModules.

    Shape:
        query (N, query_in_channels, H, W), key (N, key_in_channels, h, w) ->
        (N, out_channels, H, W).
    """

    def __init__(self, key_in_channels: int, query_in_channels: int, channels: int,
                 out_channels: int, share_key_query: bool, query_downsample: Optional[nn.Module],
                 key_downsample: Optional[nn.Module], key_query_num_convs: int,
                 value_out_num_convs: int, key_query_norm: bool, value_out_norm: bool,
                 matmul_norm: bool, with_out: bool, conv_cfg: Optional[Mapping],
                 norm_cfg: Optional[Mapping], act_cfg: Optional[Mapping]):
        super().__init__()
        if share_key_query and key_in_channels != query_in_channels:
            raise ConfigError(f"SelfAttentionBlock with share_key_query=True needs "
                              f"key_in_channels == query_in_channels, got {key_in_channels} and "
                              f"{query_in_channels}.")
        self.key_in_channels, self.query_in_channels = key_in_channels, query_in_channels
        self.out_channels, self.channels = out_channels, channels
        self.share_key_query = share_key_query
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        self.key_project = self.build_project(key_in_channels, channels, key_query_num_convs,
                                              key_query_norm, conv_cfg, norm_cfg, act_cfg)
        if share_key_query:
            self.query_project = self.key_project
        else:
            self.query_project = self.build_project(query_in_channels, channels,
                                                    key_query_num_convs, key_query_norm,
                                                    conv_cfg, norm_cfg, act_cfg)
        self.value_project = self.build_project(key_in_channels,
                                                channels if with_out else out_channels,
                                                value_out_num_convs, value_out_norm, conv_cfg,
                                                norm_cfg, act_cfg)
        self.out_project = self.build_project(channels, out_channels, value_out_num_convs,
                                              value_out_norm, conv_cfg, norm_cfg,
                                              act_cfg) if with_out else None
        self.query_downsample, self.key_downsample = query_downsample, key_downsample
        self.matmul_norm = matmul_norm
        self.init_weights()

    def init_weights(self) -> None:
        """A plain (single-conv) ``out_project`` starts at zero, as MMSeg."""
        if self.out_project is not None and not isinstance(self.out_project, ConvModule):
            constant_init(self.out_project, 0)

    def build_project(self, in_channels: int, channels: int, num_convs: int,
                      use_conv_module: bool, conv_cfg: Optional[Mapping],
                      norm_cfg: Optional[Mapping], act_cfg: Optional[Mapping]) -> nn.Module:
        """``num_convs`` 1x1 convs (ConvModules or plain convs); one conv is returned bare."""
        widths = [in_channels] + [channels] * num_convs
        if use_conv_module:
            convs = [ConvModule(cin, cout, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                act_cfg=act_cfg) for cin, cout in zip(widths, widths[1:])]
        else:
            convs = [nn.Conv2d(cin, cout, 1) for cin, cout in zip(widths, widths[1:])]
        return convs[0] if len(convs) == 1 else nn.Sequential(*convs)

    def forward(self, query_feats: torch.Tensor, key_feats: torch.Tensor) -> torch.Tensor:
        """Args: query_feats (N, Cq, H, W), key_feats (N, Ck, h, w). Returns (N, out, H, W)."""
        n = query_feats.size(0)
        query = self.query_project(query_feats)
        if self.query_downsample is not None:
            query = self.query_downsample(query)
        query = query.flatten(2).transpose(1, 2)  # (N, Lq, channels)
        key, value = self.key_project(key_feats), self.value_project(key_feats)
        if self.key_downsample is not None:
            key, value = self.key_downsample(key), self.key_downsample(value)
        key = key.flatten(2)  # (N, channels, Lk)
        value = value.flatten(2).transpose(1, 2)  # (N, Lk, C_v)
        sim_map = torch.matmul(query, key)
        if self.matmul_norm:
            sim_map = (self.channels ** -0.5) * sim_map
        sim_map = F.softmax(sim_map, dim=-1)
        context = torch.matmul(sim_map, value).transpose(1, 2)
        context = context.reshape(n, -1, *query_feats.shape[2:])
        if self.out_project is not None:
            context = self.out_project(context)
        return context
