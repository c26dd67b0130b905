"""``HRModule``: parallel branches of residual blocks, then an all-to-all fusion of the branches.

Module names follow MMSegmentation (``branches.<i>.<block>``, ``fuse_layers.<i>.<j>.<k>``) so its
HRNet checkpoints load unchanged. The branches are :class:`~.resnet_blocks.ResLayer` stages.
"""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence

import torch
from torch import nn

from ...errors import ConfigError
from ..layers import Upsample, build_conv_layer, build_norm_layer, resize
from .resnet_blocks import Block, ResLayer


def conv_norm(conv_cfg: Optional[Mapping], norm_cfg: Mapping, in_channels: int, out_channels: int,
              kernel_size: int, stride: int = 1, relu: bool = False) -> List[nn.Module]:
    """[conv (no bias, 'same' padding), norm] (+ ReLU): HRNet's fusion and transition steps."""
    layers = [build_conv_layer(conv_cfg, in_channels, out_channels, kernel_size=kernel_size,
                               stride=stride, padding=kernel_size // 2, bias=False),
              build_norm_layer(norm_cfg, out_channels)[1]]
    return layers + [nn.ReLU(inplace=False)] if relu else layers


class HRModule(nn.Module):
    """One high-resolution module: ``num_branches`` ResLayers, then the fusion.

    Fusion output i sums every branch j brought to branch i's resolution and width: j == i as
    is; j > i (coarser) by a 1x1 conv + norm and a bilinear x2**(j-i) upsample (then resized to
    branch i's size, which differs when sizes were odd); j < i (finer) by i - j strided 3x3
    conv + norm steps (ReLU between them, not after the last). A ReLU follows each sum.

    Args:
        num_branches: number of parallel branches.
        blocks: ``BasicBlock`` or ``Bottleneck``.
        num_blocks: blocks per branch.
        in_channels: input channels per branch.
        num_channels: block width per branch (outputs ``num_channels * expansion``).
        multiscale_output: fuse into every branch; False: only into branch 0 (one output).
        with_cp: gradient checkpointing per block.
        conv_cfg: conv type.
        norm_cfg: norm type.

    Shape:
        list of (N, in_channels[i], H / 2**i, W / 2**i) -> list of
        (N, num_channels[i] * expansion, H / 2**i, W / 2**i) (only i = 0 without multiscale_output).
    """

    def __init__(self, num_branches: int, blocks: Block, num_blocks: Sequence[int],
                 in_channels: Sequence[int], num_channels: Sequence[int],
                 multiscale_output: bool = True, with_cp: bool = False,
                 conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Mapping = dict(type="BN", requires_grad=True)):
        super().__init__()
        for key, values in (("num_blocks", num_blocks), ("num_channels", num_channels),
                            ("in_channels", in_channels)):
            if len(values) != num_branches:
                raise ConfigError(f"HRModule: num_branches={num_branches} but {key} has "
                                  f"{len(values)} entries {tuple(values)}; give one per branch.")
        self.num_branches, self.multiscale_output = num_branches, multiscale_output
        self.branches = nn.ModuleList(
            ResLayer(blocks, in_channels[i], num_channels[i], num_blocks[i], conv_cfg=conv_cfg,
                     norm_cfg=norm_cfg, with_cp=with_cp) for i in range(num_branches))
        self.out_channels = [c * blocks.expansion for c in num_channels]
        self.fuse_layers = self._make_fuse_layers(conv_cfg, norm_cfg)
        self.relu = nn.ReLU(inplace=False)

    def _make_fuse_layers(self, conv_cfg: Optional[Mapping],
                          norm_cfg: Mapping) -> Optional[nn.ModuleList]:
        if self.num_branches == 1:
            return None
        channels = self.out_channels
        fuse_layers = nn.ModuleList()
        for i in range(self.num_branches if self.multiscale_output else 1):
            row = nn.ModuleList()
            for j in range(self.num_branches):
                if j > i:
                    up = Upsample(scale_factor=2 ** (j - i), mode="bilinear", align_corners=False)
                    row.append(nn.Sequential(*conv_norm(conv_cfg, norm_cfg, channels[j],
                                                        channels[i], 1), up))
                elif j == i:
                    row.append(None)
                else:
                    # i - j stride-2 steps; only the last changes the width and has no ReLU.
                    steps = [nn.Sequential(*conv_norm(conv_cfg, norm_cfg, channels[j],
                                                      channels[j], 3, 2, relu=True))
                             for _ in range(i - j - 1)]
                    steps.append(nn.Sequential(*conv_norm(conv_cfg, norm_cfg, channels[j],
                                                          channels[i], 3, 2)))
                    row.append(nn.Sequential(*steps))
            fuse_layers.append(row)
        return fuse_layers

    def forward(self, x: List[torch.Tensor]) -> List[torch.Tensor]:
        """Args: x: one map per branch. Returns: the fused maps (see the class doc)."""
        x = [branch(t) for branch, t in zip(self.branches, x)]
        if self.fuse_layers is None:
            return x
        fused = []
        for i, row in enumerate(self.fuse_layers):
            y = None
            for j, layer in enumerate(row):  # summed in branch order, as MMSeg
                if j == i:
                    term = x[j]
                elif j > i:
                    term = resize(layer(x[j]), size=x[i].shape[2:], mode="bilinear",
                                  align_corners=False)
                else:
                    term = layer(x[j])
                y = term if y is None else y + term
            fused.append(self.relu(y))
        return fused
