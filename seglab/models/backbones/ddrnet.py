"""``DDRNet``: `Deep Dual-resolution Networks <http://arxiv.org/abs/2101.06085>`_ (MMSeg 1.x).

Same constructor keys, module names (state_dict keys) and arithmetic as MMSegmentation 1.x's
``mmseg.models.backbones.DDRNet`` (a 1.x-only model): a ``stem`` down to 1/8, then a high
resolution ``spatial`` branch that stays at 1/8 and a low resolution ``context`` branch (1/16,
1/32, 1/64) exchanging features twice (``compression_*`` up, ``down_*`` down); the context
branch ends in a :class:`~seglab.models.layers.dappm.DAPPM` and is added to the spatial one.

Outputs, in train and eval mode alike: ``(spatial branch after stage 3, final map)``, both at
1/8 (channels ``2 * channels`` and ``4 * channels``). MMSeg returns the pair while training and
only the final map in eval mode; :class:`~seglab.models.decode_heads.DDRHead` reads the final
map (index 1) at test time, so the logits are the same.

Deviations (no change for a checkpoint or a single-process run): ``norm_cfg`` reaches every
norm (MMSeg leaves the first block of each layer and the DAPPM on plain BN, so a SyncBN config
synchronises only some of them); the fused maps are resized to the spatial branch's size instead
of ``input // 8``, equal for inputs divisible by 8 (MMSeg fails on others).
"""
from __future__ import annotations

from typing import Mapping, Optional, Tuple

import torch
from torch import nn

from ...registry import MODELS
from ..layers import ConvModule, initialize, resize
from ..layers.basic_block import BasicBlock, Bottleneck, make_res_layer
from ..layers.dappm import DAPPM
from ..layers.weight_init import InitCfg
from .base import BaseBackbone, OutputShapes, shape_specs

BN = dict(type="BN", requires_grad=True)
RELU = dict(type="ReLU", inplace=True)


def make_stem(in_channels: int, channels: int, num_blocks: int, norm_cfg: Optional[Mapping],
              act_cfg: Optional[Mapping], conv_module_downsample: bool) -> nn.Sequential:
    """DDRNet's / PIDNet's stem: two stride-2 3x3 ConvModules, ``num_blocks`` BasicBlocks, ReLU,
    ``num_blocks`` BasicBlocks to ``2 * channels`` at stride 2, ReLU.

    Shape:
        (N, in_channels, H, W) -> (N, 2 * channels, H / 8, W / 8).
    """
    conv = dict(kernel_size=3, stride=2, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg)
    layer = dict(norm_cfg=norm_cfg, act_cfg=act_cfg, conv_module_downsample=conv_module_downsample)
    return nn.Sequential(
        ConvModule(in_channels, channels, **conv), ConvModule(channels, channels, **conv),
        make_res_layer(BasicBlock, channels, channels, num_blocks, **layer), nn.ReLU(),
        make_res_layer(BasicBlock, channels, channels * 2, num_blocks, stride=2, **layer),
        nn.ReLU())


@MODELS.register_module()
class DDRNet(BaseBackbone):
    """DDRNet-23(-slim) backbone: ``channels=64`` (DDRNet-23) or 32 (slim).

    Args:
        in_channels: image channels.
        channels: base width; the spatial branch has ``2 * channels``, the context branch
            ``4/8/16 * channels`` (the last Bottleneck doubles 8 to 16), the output ``4 *``.
        ppm_channels: branch channels of the DAPPM.
        align_corners: of the bilinear resizes to the spatial branch.
        norm_cfg: norm of every layer.
        act_cfg: activation of the ConvModules (blocks use ReLU).
        init_cfg: e.g. ``dict(type='Pretrained', checkpoint=...)``; None keeps the build-time init
            (as MMSeg, which has no init of its own for DDRNet).

    Shape:
        (N, in_channels, H, W) -> ``((N, 2c, H/8, W/8), (N, 4c, H/8, W/8))`` with c = channels.
    """

    def __init__(self, in_channels: int = 3, channels: int = 32, ppm_channels: int = 128,
                 align_corners: bool = False, norm_cfg: Mapping = BN,
                 act_cfg: Mapping = RELU, init_cfg: InitCfg = None):
        super().__init__(init_cfg=init_cfg)
        self.in_channels, self.channels, self.ppm_channels = in_channels, channels, ppm_channels
        self.align_corners = align_corners
        self.norm_cfg, self.act_cfg = norm_cfg, act_cfg
        c = channels
        layer = dict(norm_cfg=norm_cfg, act_cfg=act_cfg, conv_module_downsample=False)
        self.stem = make_stem(in_channels, c, 2, norm_cfg, act_cfg, conv_module_downsample=False)
        self.relu = nn.ReLU()
        # context branch: 2c -> 4c (1/16) -> 8c (1/32) -> 16c (1/64, Bottleneck 8c x 2)
        self.context_branch_layers = nn.ModuleList([
            make_res_layer(BasicBlock, c * 2, c * 4, 2, stride=2, **layer),
            make_res_layer(BasicBlock, c * 4, c * 8, 2, stride=2, **layer),
            make_res_layer(Bottleneck, c * 8, c * 8, 1, stride=2, **layer)])
        # bilateral fusion: context -> spatial (1x1 compression, upsampled), spatial -> context
        conv = dict(norm_cfg=norm_cfg, act_cfg=None)
        self.compression_1 = ConvModule(c * 4, c * 2, 1, **conv)
        self.down_1 = ConvModule(c * 2, c * 4, 3, stride=2, padding=1, **conv)
        self.compression_2 = ConvModule(c * 8, c * 2, 1, **conv)
        self.down_2 = nn.Sequential(
            ConvModule(c * 2, c * 4, 3, stride=2, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg),
            ConvModule(c * 4, c * 8, 3, stride=2, padding=1, **conv))
        # spatial branch: 2c at 1/8 throughout (the last Bottleneck 2c x 2 = 4c)
        self.spatial_branch_layers = nn.ModuleList([
            make_res_layer(BasicBlock, c * 2, c * 2, 2, **layer),
            make_res_layer(BasicBlock, c * 2, c * 2, 2, **layer),
            make_res_layer(Bottleneck, c * 2, c * 2, 1, **layer)])
        self.spp = DAPPM(c * 16, ppm_channels, c * 4, num_scales=5, norm_cfg=norm_cfg)

    def output_shapes(self) -> OutputShapes:
        """Spatial branch after stage 3 (2c, 8) and the final map (4c, 8)."""
        return shape_specs((self.channels * 2, self.channels * 4), (8, 8))

    def init_weights(self) -> None:
        """Apply ``init_cfg`` (pretrained weights); nothing when None."""
        initialize(self, self.init_cfg)

    def _up(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return resize(x, size=like.shape[2:], mode="bilinear", align_corners=self.align_corners)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Args: x: (N, C, H, W). Returns: (spatial stage-3 map, final map), both at 1/8."""
        x = self.stem(x)
        relu, context, spatial = self.relu, self.context_branch_layers, self.spatial_branch_layers
        # stage 3
        x_c, x_s = context[0](x), spatial[0](x)
        comp_c = self.compression_1(relu(x_c))
        x_c = x_c + self.down_1(relu(x_s))
        x_s = x_s + self._up(comp_c, x_s)
        stage3 = x_s
        # stage 4
        x_c, x_s = context[1](relu(x_c)), spatial[1](relu(x_s))
        comp_c = self.compression_2(relu(x_c))
        x_c = x_c + self.down_2(relu(x_s))
        x_s = x_s + self._up(comp_c, x_s)
        # stage 5
        x_s = spatial[2](relu(x_s))
        x_c = self.spp(context[2](relu(x_c)))
        return stage3, x_s + self._up(x_c, x_s)
