"""``FastSCNN``: `Fast-SCNN <https://arxiv.org/abs/1902.04502>`_ (fast semantic segmentation).

Same constructor keys, module names and numerics as MMSegmentation 0.x's
``mmseg.models.backbones.FastSCNN``:

- :class:`LearningToDownsample` (``learning_to_downsample``): a stride-2 3x3 ConvModule and two
  stride-2 depthwise separable convs (stride 8, the "higher resolution" features);
- :class:`GlobalFeatureExtractor` (``global_feature_extractor``): three groups of MobileNetV2
  :class:`~seglab.models.layers.InvertedResidual` blocks (``bottleneck1..3``), PSPNet's pyramid
  pooling (``ppm``) concatenated with its input and a 3x3 ``out`` ConvModule (the "lower
  resolution" features);
- :class:`FeatureFusionModule` (``feature_fusion``): the lower map upsampled, a 3x3 depthwise
  ``dwconv`` and a 1x1 ``conv_lower_res``, added to the 1x1 ``conv_higher_res`` of the higher
  map, then ReLU.

``forward`` returns ``[higher, lower, fused][i] for i in out_indices``.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..decode_heads.psp_head import PPM
from ..layers import ConvModule, DepthwiseSeparableConvModule, InvertedResidual, initialize, resize
from ..layers.weight_init import CONV_NORM_INIT, InitCfg
from .base import BaseBackbone, OutputShapes, shape_specs

class LearningToDownsample(nn.Module):
    """Conv then two depthwise separable convs, each with stride 2.

    Args:
        in_channels: input channels.
        dw_channels: output channels of the first conv and of ``dsconv1``.
        out_channels: output channels of ``dsconv2``.
        conv_cfg: conv type of ``conv``.
        norm_cfg: norm type.
        act_cfg: activation of ``conv`` (the separable convs end with ReLU, as MMSeg).
        dw_act_cfg: activation after the depthwise convs (None: none).
    """

    def __init__(self, in_channels: int, dw_channels: Sequence[int], out_channels: int,
                 conv_cfg: Optional[Mapping] = None, norm_cfg: Mapping = dict(type="BN"),
                 act_cfg: Mapping = dict(type="ReLU"), dw_act_cfg: Optional[Mapping] = None):
        super().__init__()
        if len(dw_channels) != 2:
            raise ConfigError(f"FastSCNN downsample_dw_channels needs 2 entries, got "
                              f"{tuple(dw_channels)}")
        dw1, dw2 = dw_channels
        self.conv = ConvModule(in_channels, dw1, 3, stride=2, padding=1, conv_cfg=conv_cfg,
                               norm_cfg=norm_cfg, act_cfg=act_cfg)
        sep = dict(kernel_size=3, stride=2, padding=1, norm_cfg=norm_cfg, dw_act_cfg=dw_act_cfg)
        self.dsconv1 = DepthwiseSeparableConvModule(dw1, dw2, **sep)
        self.dsconv2 = DepthwiseSeparableConvModule(dw2, out_channels, **sep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dsconv2(self.dsconv1(self.conv(x)))


class GlobalFeatureExtractor(nn.Module):
    """Inverted residual groups, pyramid pooling and a fusing 3x3 conv.

    Args:
        in_channels: input channels.
        block_channels: output channels of the three groups.
        out_channels: output channels of ``out``.
        expand_ratio: expansion of the inverted residual blocks.
        num_blocks: blocks per group.
        strides: stride of each group's first block.
        pool_scales: pyramid pooling sizes (branches of ``block_channels[2] // 4`` channels).
        conv_cfg: conv type of the pyramid and ``out``.
        norm_cfg: norm type.
        act_cfg: activation type (also of the inverted residual blocks).
        align_corners: of the pyramid upsampling.
    """

    def __init__(self, in_channels: int = 64, block_channels: Sequence[int] = (64, 96, 128),
                 out_channels: int = 128, expand_ratio: int = 6,
                 num_blocks: Sequence[int] = (3, 3, 3), strides: Sequence[int] = (2, 2, 1),
                 pool_scales: Sequence[int] = (1, 2, 3, 6), conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Mapping = dict(type="BN"), act_cfg: Mapping = dict(type="ReLU"),
                 align_corners: bool = False):
        super().__init__()
        if not len(block_channels) == len(num_blocks) == len(strides) == 3:
            raise ConfigError(f"FastSCNN global_block_channels, num_blocks and "
                              f"global_block_strides need 3 entries each, got "
                              f"{tuple(block_channels)}, {tuple(num_blocks)}, {tuple(strides)}")
        channels = [in_channels, *block_channels]
        for i in range(3):
            blocks = [InvertedResidual(channels[i] if j == 0 else channels[i + 1], channels[i + 1],
                                       strides[i] if j == 0 else 1, expand_ratio,
                                       norm_cfg=norm_cfg, act_cfg=act_cfg)
                      for j in range(num_blocks[i])]
            self.add_module(f"bottleneck{i + 1}", nn.Sequential(*blocks))
        self.ppm = PPM(pool_scales, block_channels[2], block_channels[2] // 4, conv_cfg=conv_cfg,
                       norm_cfg=norm_cfg, act_cfg=act_cfg, align_corners=align_corners)
        # MMSeg concatenates the input with the 4 pooled branches of C/4: 2C channels in all.
        self.out = ConvModule(block_channels[2] * 2, out_channels, 3, padding=1,
                              conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bottleneck3(self.bottleneck2(self.bottleneck1(x)))
        return self.out(torch.cat([x, *self.ppm(x)], dim=1))


class FeatureFusionModule(nn.Module):
    """Add the upsampled lower-resolution map to the higher-resolution one.

    Args:
        higher_in_channels: channels of the higher-resolution map.
        lower_in_channels: channels of the lower-resolution map.
        out_channels: output channels.
        conv_cfg: conv type.
        norm_cfg: norm type.
        dwconv_act_cfg: activation of the 3x3 depthwise ``dwconv``.
        conv_act_cfg: activation of the two 1x1 convs (None before the sum, as MMSeg).
        align_corners: of the upsampling.
    """

    def __init__(self, higher_in_channels: int, lower_in_channels: int, out_channels: int,
                 conv_cfg: Optional[Mapping] = None, norm_cfg: Mapping = dict(type="BN"),
                 dwconv_act_cfg: Optional[Mapping] = dict(type="ReLU"),
                 conv_act_cfg: Optional[Mapping] = None, align_corners: bool = False):
        super().__init__()
        if lower_in_channels % out_channels:
            raise ConfigError(f"FastSCNN: the fusion's grouped 3x3 conv needs lower_in_channels "
                              f"({lower_in_channels}) divisible by fusion_out_channels "
                              f"({out_channels})")
        self.align_corners = align_corners
        args = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.dwconv = ConvModule(lower_in_channels, out_channels, 3, padding=1,
                                 groups=out_channels, act_cfg=dwconv_act_cfg, **args)
        self.conv_lower_res = ConvModule(out_channels, out_channels, 1, act_cfg=conv_act_cfg,
                                         **args)
        self.conv_higher_res = ConvModule(higher_in_channels, out_channels, 1,
                                          act_cfg=conv_act_cfg, **args)
        self.relu = nn.ReLU(True)

    def forward(self, higher_res_feature: torch.Tensor,
                lower_res_feature: torch.Tensor) -> torch.Tensor:
        lower = resize(lower_res_feature, size=higher_res_feature.shape[2:], mode="bilinear",
                       align_corners=self.align_corners)
        lower = self.conv_lower_res(self.dwconv(lower))
        return self.relu(self.conv_higher_res(higher_res_feature) + lower)


@MODELS.register_module()
class FastSCNN(BaseBackbone):
    """Fast-SCNN backbone: learning to downsample, global features, fusion.

    Args:
        in_channels: input image channels.
        downsample_dw_channels: channels of the first conv and the first separable conv.
        global_in_channels: output channels of learning-to-downsample (= higher_in_channels).
        global_block_channels: channels of the three inverted residual groups.
        global_block_strides: strides of the three groups.
        global_out_channels: output channels of the global feature extractor
            (= lower_in_channels).
        higher_in_channels: higher-resolution input channels of the fusion.
        lower_in_channels: lower-resolution input channels of the fusion.
        fusion_out_channels: output channels of the fusion.
        out_indices: which of (higher, lower, fused) to return.
        conv_cfg: conv type.
        norm_cfg: norm type (the configs use BN with momentum 0.01).
        act_cfg: activation type.
        align_corners: of the upsamplings.
        dw_act_cfg: activation after learning-to-downsample's depthwise convs (None: none).
        pretrained: checkpoint to load in :meth:`init_weights` (deprecated form of ``init_cfg``).
        init_cfg: init dicts; None = MMSeg's (Kaiming convs, norms 1).

    Shape:
        (N, in_channels, H, W) -> higher (stride 8), lower (stride 8 * prod(strides)), fused
        (stride 8), selected by ``out_indices``.
    """

    def __init__(self, in_channels: int = 3, downsample_dw_channels: Sequence[int] = (32, 48),
                 global_in_channels: int = 64,
                 global_block_channels: Sequence[int] = (64, 96, 128),
                 global_block_strides: Sequence[int] = (2, 2, 1), global_out_channels: int = 128,
                 higher_in_channels: int = 64, lower_in_channels: int = 128,
                 fusion_out_channels: int = 128, out_indices: Sequence[int] = (0, 1, 2),
                 conv_cfg: Optional[Mapping] = None, norm_cfg: Mapping = dict(type="BN"),
                 act_cfg: Mapping = dict(type="ReLU"), align_corners: bool = False,
                 dw_act_cfg: Optional[Mapping] = None, pretrained: Optional[str] = None,
                 init_cfg: InitCfg = None):
        super().__init__(pretrained=pretrained, init_cfg=init_cfg)
        if global_in_channels != higher_in_channels:
            raise ConfigError(f"FastSCNN: global_in_channels ({global_in_channels}) must equal "
                              f"higher_in_channels ({higher_in_channels}); both are the "
                              f"learning-to-downsample output")
        if global_out_channels != lower_in_channels:
            raise ConfigError(f"FastSCNN: global_out_channels ({global_out_channels}) must equal "
                              f"lower_in_channels ({lower_in_channels}); both are the global "
                              f"feature extractor's output")
        out_indices = (out_indices,) if isinstance(out_indices, int) else tuple(out_indices)
        if not out_indices or not all(0 <= i <= 2 for i in out_indices):
            raise ConfigError(f"FastSCNN out_indices {out_indices} must index (higher, lower, "
                              f"fused): values in 0..2")
        self.out_indices, self.align_corners = out_indices, align_corners
        self.global_block_strides = tuple(global_block_strides)
        self._channels = (global_in_channels, global_out_channels, fusion_out_channels)
        self.learning_to_downsample = LearningToDownsample(
            in_channels, downsample_dw_channels, global_in_channels, conv_cfg=conv_cfg,
            norm_cfg=norm_cfg, act_cfg=act_cfg, dw_act_cfg=dw_act_cfg)
        self.global_feature_extractor = GlobalFeatureExtractor(
            global_in_channels, global_block_channels, global_out_channels,
            strides=self.global_block_strides, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
            act_cfg=act_cfg, align_corners=align_corners)
        self.feature_fusion = FeatureFusionModule(
            higher_in_channels, lower_in_channels, fusion_out_channels, conv_cfg=conv_cfg,
            norm_cfg=norm_cfg, dwconv_act_cfg=act_cfg, align_corners=align_corners)

    def output_shapes(self) -> OutputShapes:
        """higher / lower / fused: stride 8, 8 * prod(global_block_strides), 8."""
        lower = 8
        for s in self.global_block_strides:
            lower *= s
        strides = (8, lower, 8)
        return shape_specs([self._channels[i] for i in self.out_indices],
                           [strides[i] for i in self.out_indices])

    def init_weights(self) -> None:
        """Load ``pretrained`` / apply ``init_cfg``; by default MMSeg's Fast-SCNN init."""
        initialize(self, self.init_cfg if self.init_cfg is not None else CONV_NORM_INIT)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x: (N, C, H, W). Returns: the maps selected by ``out_indices``."""
        higher = self.learning_to_downsample(x)
        lower = self.global_feature_extractor(higher)
        outs = (higher, lower, self.feature_fusion(higher, lower))
        return tuple(outs[i] for i in self.out_indices)
