"""``DPTHead``: the Dense Prediction Transformer decoder (`DPT <https://arxiv.org/abs/2103.13413>`_,
``mmseg.models.decode_heads.DPTHead``).

It reads four ViT outputs as ``[map, cls_token]`` pairs (``output_cls_token=True``):
``reassemble_blocks`` turns them into a pyramid at 4x, 2x, 1x and 1/2x the token grid, ``convs``
(3x3, no norm) bring every level to ``channels``, and ``fusion_blocks`` fuse it coarse to fine,
each upsampling x2; ``project`` (3x3 conv-norm-act) and ``conv_seg`` give logits at 8x the
token grid (stride ``patch_size / 8``).

The backbone declares pair outputs as None, so the build check verifies only ``in_index``
(``in_channels`` is not compared with the channels of a pair).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import ConvModule
from .decode_head import BaseDecodeHead, Inputs
from .dpt_blocks import FeatureFusionBlock, ReassembleBlocks


@MODELS.register_module()
class DPTHead(BaseDecodeHead):
    """Reassemble four ViT levels, fuse them coarse to fine, classify.

    Args:
        embed_dims: channels of the ViT outputs.
        post_process_channels: channels of the four reassembled levels.
        readout_type: how the cls token enters: ``'ignore'``, ``'add'`` or ``'project'``.
        patch_size: the ViT's patch size.
        expand_channels: must be False: MMSeg 0.x turns it into float channel counts that no
            conv accepts (and its reassembled levels would not have them).
        act_cfg: activation of the residual units (``project`` has MMSeg's fixed ReLU).
        norm_cfg: norm of the residual units and of ``project``.
        **kwargs: :class:`BaseDecodeHead` keys (``in_channels``/``in_index`` of four levels,
            ``input_transform='multiple_select'``, ``channels``, ``num_classes``, ...).

    Shape:
        4 x ``[(N, embed_dims, h, w), (N, embed_dims)]`` -> logits (N, out_channels, 8h, 8w).
    """

    def __init__(self, embed_dims: int = 768,
                 post_process_channels: Sequence[int] = (96, 192, 384, 768),
                 readout_type: str = "ignore", patch_size: int = 16,
                 expand_channels: bool = False, act_cfg: Mapping = dict(type="ReLU"),
                 norm_cfg: Mapping = dict(type="BN"), **kwargs):
        # MMSeg keeps these two for its own blocks; the base's conv_args get the same.
        super().__init__(act_cfg=act_cfg, norm_cfg=norm_cfg, **kwargs)
        if expand_channels:
            raise ConfigError("DPTHead expand_channels=True is not supported (MMSeg 0.x builds "
                              "float channel counts from it and fails); use False.")
        if not isinstance(self.in_index, list) or len(self.in_index) != 4:
            raise ConfigError(f"DPTHead reads four ViT outputs: set input_transform="
                              f"'multiple_select' and four in_index/in_channels entries, got "
                              f"in_index={self.in_index!r}")
        self.embed_dims, self.expand_channels = embed_dims, expand_channels
        self.reassemble_blocks = ReassembleBlocks(embed_dims, post_process_channels,
                                                  readout_type, patch_size)
        self.post_process_channels = list(post_process_channels)
        self.convs = nn.ModuleList(
            ConvModule(c, self.channels, kernel_size=3, padding=1, act_cfg=None, bias=False)
            for c in self.post_process_channels)
        # The first block sees only the coarsest level: no skip unit (and no keys for one).
        self.fusion_blocks = nn.ModuleList(
            FeatureFusionBlock(self.channels, act_cfg, norm_cfg, with_skip=i > 0)
            for i in range(len(self.convs)))
        # MMSeg gives project ConvModule's default ReLU, whatever act_cfg says.
        self.project = ConvModule(self.channels, self.channels, kernel_size=3, padding=1,
                                  norm_cfg=norm_cfg)

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        levels = self.reassemble_blocks(self._transform_inputs(inputs))
        levels = [conv(x) for conv, x in zip(self.convs, levels)]
        out = self.fusion_blocks[0](levels[-1])
        for i in range(1, len(self.fusion_blocks)):
            out = self.fusion_blocks[i](out, levels[-(i + 1)])
        return self.project(out)
