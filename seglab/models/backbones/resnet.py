"""ResNet backbones: ``ResNet`` (V1b), ``ResNetV1c`` (deep stem) and ``ResNetV1d`` (deep stem + avg-down).

Same constructor keys, module names and numerics as MMSegmentation 0.x's ``mmseg.models.backbones
.ResNet``: dilated variants (D8: ``strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4)``; D16:
``strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2)``) with ``contract_dilation``, ``multi_grid`` on the last
stage, ``frozen_stages``, ``norm_eval`` and per-block gradient checkpointing (``with_cp``).
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import (build_conv_layer, build_norm_layer, constant_init, initialize, kaiming_init,
                      named_norm)
from ..layers.weight_init import InitCfg
from .base import BaseBackbone, OutputShapes, shape_specs
from .resnet_blocks import BasicBlock, Bottleneck, ResLayer


@MODELS.register_module()
class ResNet(BaseBackbone):
    """ResNet backbone returning one feature map per stage in ``out_indices``.

    Args:
        depth: 18, 34, 50, 101 or 152.
        in_channels: input image channels.
        stem_channels: channels after the stem.
        base_channels: width of the first stage (stage i has ``base_channels * 2**i`` times the
            block expansion output channels).
        num_stages: 1 to 4.
        strides: stride of the first block of each stage.
        dilations: dilation of each stage.
        out_indices: stages whose outputs are returned.
        style: 'pytorch' (stride on the 3x3 conv) or 'caffe' (stride on the first 1x1 conv).
        deep_stem: three 3x3 convs instead of one 7x7 conv in the stem.
        avg_down: average-pool then stride-1 conv in the downsample branches.
        frozen_stages: stem and stages ``1..frozen_stages`` are frozen (eval mode, no gradients);
            -1 freezes nothing, 0 only the stem.
        conv_cfg: conv type.
        norm_cfg: norm type (``requires_grad`` key supported).
        norm_eval: keep batch norms in eval mode while training (frozen statistics).
        dcn: deformable convs are not supported (compiled ops); must be None.
        stage_with_dcn: accepted for config compatibility.
        plugins: not supported; must be None.
        multi_grid: dilations of the blocks of the last stage, e.g. (1, 2, 4).
        contract_dilation: a stage with dilation d > 1 starts with a block of dilation d // 2.
        with_cp: gradient checkpointing per residual block while training (saves memory).
        zero_init_residual: default init zeroes the last norm of each block.
        pretrained: checkpoint to load in :meth:`init_weights` (deprecated form of ``init_cfg``).
        init_cfg: ``dict(type='Pretrained', checkpoint=...)`` or other init dicts.

    Shape:
        (N, in_channels, H, W) -> tuple of (N, C_i, H / s_i, W / s_i) for i in ``out_indices``.
    """

    arch_settings = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, depth: int, in_channels: int = 3, stem_channels: int = 64,
                 base_channels: int = 64, num_stages: int = 4,
                 strides: Sequence[int] = (1, 2, 2, 2), dilations: Sequence[int] = (1, 1, 1, 1),
                 out_indices: Sequence[int] = (0, 1, 2, 3), style: str = "pytorch",
                 deep_stem: bool = False, avg_down: bool = False, frozen_stages: int = -1,
                 conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Mapping = dict(type="BN", requires_grad=True), norm_eval: bool = False,
                 dcn: Optional[Mapping] = None,
                 stage_with_dcn: Sequence[bool] = (False, False, False, False),
                 plugins: Optional[Sequence] = None, multi_grid: Optional[Sequence[int]] = None,
                 contract_dilation: bool = False, with_cp: bool = False,
                 zero_init_residual: bool = True, pretrained: Optional[str] = None,
                 init_cfg: InitCfg = None):
        super().__init__(pretrained=pretrained, init_cfg=init_cfg, frozen_stages=frozen_stages,
                         norm_eval=norm_eval)
        if depth not in self.arch_settings:
            raise ConfigError(f"{type(self).__name__} depth={depth!r} is invalid; use one of "
                              f"{sorted(self.arch_settings)}.")
        if not 1 <= num_stages <= 4:
            raise ConfigError(f"ResNet num_stages={num_stages} must be between 1 and 4.")
        if not len(strides) == len(dilations) == num_stages:
            raise ConfigError(f"ResNet strides {tuple(strides)} and dilations {tuple(dilations)} "
                              f"must each have num_stages={num_stages} entries.")
        if max(out_indices) >= num_stages:
            raise ConfigError(f"ResNet out_indices {tuple(out_indices)} must be < num_stages={num_stages}.")
        if dcn is not None or plugins is not None:
            raise ConfigError("ResNet: dcn and plugins need compiled ops that seglab does not have; "
                              "set dcn=None and plugins=None.")
        self.zero_init_residual = zero_init_residual
        self.depth, self.num_stages = depth, num_stages
        self.strides, self.dilations = tuple(strides), tuple(dilations)
        self.out_indices, self.style = tuple(out_indices), style
        self.deep_stem, self.avg_down = deep_stem, avg_down
        self.conv_cfg, self.norm_cfg, self.with_cp = conv_cfg, norm_cfg, with_cp
        self.multi_grid, self.contract_dilation = multi_grid, contract_dilation
        self.stem_channels, self.base_channels = stem_channels, base_channels
        self.block, stage_blocks = self.arch_settings[depth]
        self.stage_blocks = stage_blocks[:num_stages]

        self._make_stem_layer(in_channels, stem_channels)
        inplanes = stem_channels
        self.res_layers = []
        for i, num_blocks in enumerate(self.stage_blocks):
            planes = base_channels * 2 ** i
            layer = ResLayer(self.block, inplanes, planes, num_blocks, stride=strides[i],
                             dilation=dilations[i], avg_down=avg_down, conv_cfg=conv_cfg,
                             norm_cfg=norm_cfg,
                             multi_grid=multi_grid if i == len(self.stage_blocks) - 1 else None,
                             contract_dilation=contract_dilation, style=style, with_cp=with_cp,
                             block_args=self._block_args())
            inplanes = planes * self.block.expansion
            self.add_module(f"layer{i + 1}", layer)
            self.res_layers.append(f"layer{i + 1}")
        self.feat_dim = inplanes
        self._freeze_stages()

    def _block_args(self) -> Dict[str, Any]:
        """Extra keys of every residual block; variants (ResNeXt, ResNeSt) add theirs."""
        return {}

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        if self.deep_stem:
            half = stem_channels // 2

            def conv_bn_relu(cin: int, cout: int, stride: int):
                return [build_conv_layer(self.conv_cfg, cin, cout, kernel_size=3, stride=stride,
                                         padding=1, bias=False),
                        build_norm_layer(self.norm_cfg, cout)[1], nn.ReLU(inplace=True)]

            self.stem = nn.Sequential(*conv_bn_relu(in_channels, half, 2),
                                      *conv_bn_relu(half, half, 1),
                                      *conv_bn_relu(half, stem_channels, 1))
        else:
            self.conv1 = build_conv_layer(self.conv_cfg, in_channels, stem_channels, kernel_size=7,
                                          stride=2, padding=3, bias=False)
            self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, stem_channels, postfix=1)
            self.add_module(self.norm1_name, norm1)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    norm1 = named_norm(1)

    def output_shapes(self) -> OutputShapes:
        """Stage i: ``base_channels * 2**i * expansion`` channels, stride 4 * strides[0..i]."""
        channels, strides, stride = [], [], 4  # the stem conv and the max pool halve twice
        for i in range(self.num_stages):
            stride *= self.strides[i]
            channels.append(self.base_channels * 2 ** i * self.block.expansion)
            strides.append(stride)
        # forward returns the selected stages in stage order, whatever the order of out_indices.
        selected = [i for i in range(self.num_stages) if i in self.out_indices]
        return shape_specs([channels[i] for i in selected], [strides[i] for i in selected])

    def frozen_modules(self) -> List[nn.Module]:
        """The stem and stages ``layer1..layer{frozen_stages}``."""
        stem = [self.stem] if self.deep_stem else [self.conv1, self.norm1]
        return stem + [getattr(self, f"layer{i}") for i in range(1, self.frozen_stages + 1)]

    def init_weights(self) -> None:
        """Load ``pretrained`` / apply ``init_cfg``; by default MMSeg's Kaiming/constant init."""
        if self.init_cfg is not None:
            initialize(self, self.init_cfg)
            return
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                kaiming_init(m)
            elif isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)):
                constant_init(m, 1)
        if self.zero_init_residual:
            # Each block then starts as the identity, which helps the first iterations.
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    constant_init(m.norm3, 0)
                elif isinstance(m, BasicBlock):
                    constant_init(m.norm2, 0)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x: (N, C, H, W). Returns: the outputs of the stages in ``out_indices``."""
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        x = self.maxpool(x)
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


@MODELS.register_module()
class ResNetV1c(ResNet, fixed_keys=("deep_stem", "avg_down")):
    """ResNet with the deep stem (three 3x3 convs) of `Bag of Tricks <https://arxiv.org/abs/1812.01187>`_.

    Accepts every :class:`ResNet` key except ``deep_stem`` and ``avg_down``.
    """

    def __init__(self, depth: int, **kwargs):
        super().__init__(depth=depth, deep_stem=True, avg_down=False, **kwargs)


@MODELS.register_module()
class ResNetV1d(ResNet, fixed_keys=("deep_stem", "avg_down")):
    """ResNetV1c plus average-pooling downsample branches (``downsample.0`` is the ``AvgPool2d``).

    Accepts every :class:`ResNet` key except ``deep_stem`` and ``avg_down``.
    """

    def __init__(self, depth: int, **kwargs):
        super().__init__(depth=depth, deep_stem=True, avg_down=True, **kwargs)
