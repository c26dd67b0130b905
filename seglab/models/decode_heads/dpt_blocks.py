"""Building blocks of :class:`~seglab.models.decode_heads.DPTHead` (MMSeg 0.x's ``dpt_head``).

- :class:`ReassembleBlocks`: ViT ``[map, cls_token]`` pairs -> a 4-level pyramid (readout of the
  cls token, 1x1 ``projects``, ``resize_layers`` x4 / x2 / x1 / /2 around the patch stride).
- :class:`PreActResidualConvUnit`: ``x + (act-conv-norm)(act-conv-norm)(x)``.
- :class:`FeatureFusionBlock`: adds a residual-refined skip, refines, upsamples x2, 1x1 project.
"""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence

import torch
from torch import nn

from ...errors import ConfigError
from ..layers import ConvModule, build_activation_layer, resize

READOUT_TYPES = ("ignore", "add", "project")


def readout(x: torch.Tensor, cls_token: torch.Tensor, readout_type: str,
            project: Optional[nn.Module] = None) -> torch.Tensor:
    """Fold the cls token into every patch of a map.

    Args:
        x: (N, C, h, w) patch map.
        cls_token: (N, C) cls token.
        readout_type: ``'ignore'`` (drop it), ``'add'`` (add it to every patch) or ``'project'``
            (``project(cat(patch, cls))`` per patch, ``project``: 2C -> C).
        project: the projection of ``'project'``.

    Returns:
        (N, C, h, w).
    """
    if readout_type == "ignore":
        return x
    if readout_type == "add":
        return x + cls_token[:, :, None, None]
    tokens = x.flatten(2).transpose(1, 2)  # (N, h * w, C)
    tokens = torch.cat((tokens, cls_token[:, None].expand_as(tokens)), dim=-1)
    return project(tokens).transpose(1, 2).reshape(x.shape)


class ReassembleBlocks(nn.Module):
    """ViT outputs to a 4-level pyramid at 4x, 2x, 1x and 1/2x the token grid.

    Args:
        in_channels: ViT channels (``embed_dims``).
        out_channels: channels of the 4 levels (``projects.i`` 1x1 convs).
        readout_type: ``'ignore'``, ``'add'`` or ``'project'`` (see :func:`readout`;
            ``readout_projects.i`` = Linear(2C, C) + GELU).
        patch_size: the ViT's patch size (kept for MMSeg's signature; the grid comes from the maps).

    Shape:
        4 x ``[(N, in_channels, h, w), (N, in_channels)]`` -> (N, out_channels[0], 4h, 4w),
        (N, out_channels[1], 2h, 2w), (N, out_channels[2], h, w),
        (N, out_channels[3], ceil(h / 2), ceil(w / 2)).
    """

    def __init__(self, in_channels: int = 768, out_channels: Sequence[int] = (96, 192, 384, 768),
                 readout_type: str = "ignore", patch_size: int = 16):
        super().__init__()
        if readout_type not in READOUT_TYPES:
            raise ConfigError(f"DPTHead readout_type must be one of {READOUT_TYPES}, got "
                              f"{readout_type!r}")
        if len(out_channels) != 4:
            raise ConfigError(f"DPTHead post_process_channels needs 4 entries (one per "
                              f"reassembled level), got {list(out_channels)}")
        self.readout_type, self.patch_size = readout_type, patch_size
        self.projects = nn.ModuleList(
            ConvModule(in_channels, c, kernel_size=1, act_cfg=None) for c in out_channels)
        c0, c1, _, c3 = out_channels
        self.resize_layers = nn.ModuleList([
            nn.ConvTranspose2d(c0, c0, kernel_size=4, stride=4, padding=0),
            nn.ConvTranspose2d(c1, c1, kernel_size=2, stride=2, padding=0),
            nn.Identity(),
            nn.Conv2d(c3, c3, kernel_size=3, stride=2, padding=1)])
        if readout_type == "project":
            self.readout_projects = nn.ModuleList(
                nn.Sequential(nn.Linear(2 * in_channels, in_channels),
                              build_activation_layer(dict(type="GELU")))
                for _ in out_channels)

    def forward(self, inputs: Sequence[Sequence[torch.Tensor]]) -> List[torch.Tensor]:
        """Args: inputs: 4 ``[map, cls_token]`` pairs. Returns: the 4 levels (class doc)."""
        outs = []
        for i, pair in enumerate(inputs):
            if isinstance(pair, torch.Tensor) or len(pair) != 2:
                raise ValueError("DPTHead reads [feature map, cls_token] pairs: build the "
                                 "VisionTransformer with output_cls_token=True")
            x, cls_token = pair
            project = self.readout_projects[i] if self.readout_type == "project" else None
            x = readout(x, cls_token, self.readout_type, project)
            outs.append(self.resize_layers[i](self.projects[i](x)))
        return outs


class PreActResidualConvUnit(nn.Module):
    """Pre-activation residual unit: ``x + conv2(conv1(x))``, each ConvModule act-conv-norm.

    Args:
        in_channels: channels (kept).
        act_cfg: activation before each conv.
        norm_cfg: norm after each conv (the convs have no bias).
        stride: stride of ``conv1``.
        dilation: dilation (and padding) of ``conv1``.

    Shape:
        (N, C, H, W) -> (N, C, H, W) (with stride 1).
    """

    def __init__(self, in_channels: int, act_cfg: Optional[Mapping],
                 norm_cfg: Optional[Mapping], stride: int = 1, dilation: int = 1):
        super().__init__()
        # Not in place: the activation comes first and the input is also the residual.
        self.conv1 = ConvModule(in_channels, in_channels, 3, stride=stride, padding=dilation,
                                dilation=dilation, norm_cfg=norm_cfg, act_cfg=act_cfg,
                                bias=False, inplace=False, order=("act", "conv", "norm"))
        self.conv2 = ConvModule(in_channels, in_channels, 3, padding=1, norm_cfg=norm_cfg,
                                act_cfg=act_cfg, bias=False, inplace=False,
                                order=("act", "conv", "norm"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.conv1(x))


class FeatureFusionBlock(nn.Module):
    """``x (+ res_conv_unit1(skip))`` -> ``res_conv_unit2`` -> bilinear x2 -> 1x1 ``project``.

    Args:
        in_channels: channels of ``x`` and the skip.
        act_cfg: activation of the residual units.
        norm_cfg: norm of the residual units.
        expand: halve the channels in ``project``.
        align_corners: of the x2 upsampling (MMSeg: True).
        with_skip: build ``res_conv_unit1`` (DPT's first block, fed only the coarsest level,
            has none).

    Shape:
        (N, C, h, w) [, skip (N, C, h', w'), resized to (h, w) if needed] ->
        (N, C or C // 2, 2h, 2w).
    """

    def __init__(self, in_channels: int, act_cfg: Optional[Mapping],
                 norm_cfg: Optional[Mapping], expand: bool = False, align_corners: bool = True,
                 with_skip: bool = True):
        super().__init__()
        self.in_channels, self.expand, self.align_corners = in_channels, expand, align_corners
        self.out_channels = in_channels // 2 if expand else in_channels
        self.project = ConvModule(in_channels, self.out_channels, kernel_size=1, act_cfg=None,
                                  bias=True)
        self.res_conv_unit1 = (PreActResidualConvUnit(in_channels, act_cfg, norm_cfg)
                               if with_skip else None)
        self.res_conv_unit2 = PreActResidualConvUnit(in_channels, act_cfg, norm_cfg)

    def forward(self, x: torch.Tensor, skip: Optional[torch.Tensor] = None) -> torch.Tensor:
        if skip is not None:
            if self.res_conv_unit1 is None:
                raise ValueError("this FeatureFusionBlock was built without a skip input")
            if skip.shape != x.shape:
                # Odd grids: the /2 level rounds up, so the x2 path can overshoot by one.
                skip = resize(skip, size=x.shape[2:], mode="bilinear", align_corners=False)
            x = x + self.res_conv_unit1(skip)
        x = self.res_conv_unit2(x)
        x = resize(x, scale_factor=2, mode="bilinear", align_corners=self.align_corners)
        return self.project(x)
