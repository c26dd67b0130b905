"""HRNet backbone (`High-Resolution Representations for Labeling Pixels and Regions
<https://arxiv.org/abs/1904.04514>`_), MMSegmentation 0.x's ``mmseg.models.backbones.HRNet``.

A fixed stem (two stride-2 3x3 convs to 64 channels), ``layer1`` (one ResLayer), then stages
2..4 of :class:`~.hrnet_module.HRModule`, each preceded by a transition that adapts the widths
of the existing branches and adds a branch at half the resolution. Keys and numerics equal
MMSeg's (``conv1``, ``bn1``, ``conv2``, ``bn2``, ``layer1``, ``transition1``, ``stage2``...).
"""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import build_conv_layer, build_norm_layer, named_norm
from ..layers.weight_init import InitCfg
from .base import BaseBackbone, OutputShapes, shape_specs
from .hrnet_module import HRModule, conv_norm
from .resnet import ResNet
from .resnet_blocks import BasicBlock, Bottleneck, ResLayer

STAGE_KEYS = ("num_modules", "num_branches", "block", "num_blocks", "num_channels")


def _check_extra(extra: Mapping) -> None:
    """Clear errors for the ``extra`` dict (MMSeg only asserts)."""
    if not isinstance(extra, Mapping):
        raise ConfigError(f"HRNet extra must be a dict with stage1..stage4, got {extra!r}")
    for s in range(1, 5):
        name = f"stage{s}"
        if name not in extra:
            raise ConfigError(f"HRNet extra needs the four stages stage1..stage4; {name} is "
                              f"missing (got {sorted(extra)}).")
        cfg = extra[name]
        missing = [k for k in STAGE_KEYS if k not in cfg]
        unknown = [k for k in cfg if k not in STAGE_KEYS + ("fuse_method",)]
        if missing or unknown:
            raise ConfigError(f"HRNet extra.{name}: missing keys {missing}, unknown keys "
                              f"{unknown}; a stage takes {list(STAGE_KEYS)} and optionally "
                              f"fuse_method='SUM'.")
        if cfg["block"] not in HRNet.blocks_dict:
            raise ConfigError(f"HRNet extra.{name}.block = {cfg['block']!r}; use one of "
                              f"{sorted(HRNet.blocks_dict)}.")
        if cfg.get("fuse_method", "SUM") != "SUM":
            raise ConfigError(f"HRNet extra.{name}.fuse_method = {cfg['fuse_method']!r}; only "
                              f"'SUM' exists.")
        branches = cfg["num_branches"]
        if len(cfg["num_blocks"]) != branches or len(cfg["num_channels"]) != branches:
            raise ConfigError(f"HRNet extra.{name}: num_branches={branches} but num_blocks="
                              f"{tuple(cfg['num_blocks'])} and num_channels="
                              f"{tuple(cfg['num_channels'])}; give one entry per branch.")


@MODELS.register_module()
class HRNet(BaseBackbone):
    """HRNet backbone returning one map per branch of the last stage (finest first).

    Args:
        extra: ``dict(stage1=..., stage2=..., stage3=..., stage4=...)``, each stage a dict of
            ``num_modules``, ``num_branches``, ``block`` ('BASIC' or 'BOTTLENECK'),
            ``num_blocks`` and ``num_channels`` (one entry per branch) and optionally
            ``fuse_method='SUM'``. stage1 has one branch (only its first module is built,
            as in MMSeg), each later stage one more.
        in_channels: input image channels.
        conv_cfg: conv type.
        norm_cfg: norm type.
        norm_eval: keep batch norms in eval mode while training.
        with_cp: gradient checkpointing per residual block while training.
        frozen_stages: -1 nothing; 0 the stem; i >= 1 also layer1/stage2..stage{i} and their
            transitions (transition{i} follows stage i; stage4 has none).
        zero_init_residual: the default init zeroes the last norm of each residual block.
        multiscale_output: False: the last module fuses into the finest branch only, and
            one map is returned.
        pretrained: checkpoint (deprecated form of ``init_cfg``), e.g.
            ``'open-mmlab://msra/hrnetv2_w18'``.
        init_cfg: init dicts; None: Kaiming convs, norms weight 1 / bias 0.

    Shape:
        (N, in_channels, H, W) -> tuple of (N, C_i, H / 2**(i + 2), W / 2**(i + 2)), with
        ``C_i = stage4.num_channels[i] * expansion`` (the first map only without
        ``multiscale_output``).
    """

    blocks_dict = {"BASIC": BasicBlock, "BOTTLENECK": Bottleneck}

    def __init__(self, extra: Mapping, in_channels: int = 3, conv_cfg: Optional[Mapping] = None,
                 norm_cfg: Mapping = dict(type="BN", requires_grad=True), norm_eval: bool = False,
                 with_cp: bool = False, frozen_stages: int = -1, zero_init_residual: bool = False,
                 multiscale_output: bool = True, pretrained: Optional[str] = None,
                 init_cfg: InitCfg = None):
        super().__init__(pretrained=pretrained, init_cfg=init_cfg, frozen_stages=frozen_stages,
                         norm_eval=norm_eval)
        _check_extra(extra)
        if not -1 <= frozen_stages <= 4:
            raise ConfigError(f"HRNet frozen_stages={frozen_stages} must be between -1 and 4.")
        self.extra, self.conv_cfg, self.norm_cfg = extra, conv_cfg, norm_cfg
        self.with_cp, self.zero_init_residual = with_cp, zero_init_residual
        self.multiscale_output = multiscale_output

        self.norm1_name, norm1 = build_norm_layer(norm_cfg, 64, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, 64, postfix=2)
        self.conv1 = build_conv_layer(conv_cfg, in_channels, 64, kernel_size=3, stride=2,
                                      padding=1, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, 64, 64, kernel_size=3, stride=2, padding=1,
                                      bias=False)
        self.add_module(self.norm2_name, norm2)
        self.relu = nn.ReLU(inplace=True)

        self.stage1_cfg = extra["stage1"]
        block = self.blocks_dict[self.stage1_cfg["block"]]
        width = self.stage1_cfg["num_channels"][0]
        self.layer1 = ResLayer(block, 64, width, self.stage1_cfg["num_blocks"][0],
                               conv_cfg=conv_cfg, norm_cfg=norm_cfg, with_cp=with_cp)
        channels = [width * block.expansion]
        for s in (2, 3, 4):
            cfg = extra[f"stage{s}"]
            setattr(self, f"stage{s}_cfg", cfg)
            expansion = self.blocks_dict[cfg["block"]].expansion
            widths = [c * expansion for c in cfg["num_channels"]]
            setattr(self, f"transition{s - 1}", self._make_transition_layer(channels, widths))
            modules = [HRModule(cfg["num_branches"], self.blocks_dict[cfg["block"]],
                                cfg["num_blocks"], widths, cfg["num_channels"],
                                multiscale_output=multiscale_output or s < 4
                                or m < cfg["num_modules"] - 1,
                                with_cp=with_cp, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
                       for m in range(cfg["num_modules"])]
            setattr(self, f"stage{s}", nn.Sequential(*modules))
            channels = widths
        self._freeze_stages()

    norm1 = named_norm(1)
    norm2 = named_norm(2)

    def _make_transition_layer(self, pre: Sequence[int], cur: Sequence[int]) -> nn.ModuleList:
        """Per new branch: None (same width), a 3x3 conv (new width) or strided 3x3 convs."""
        layers = nn.ModuleList()
        for i, width in enumerate(cur):
            if i < len(pre):
                layers.append(None if width == pre[i] else nn.Sequential(
                    *conv_norm(self.conv_cfg, self.norm_cfg, pre[i], width, 3, relu=True)))
                continue
            # A new branch: from the coarsest existing one, halving once per missing level.
            steps = [nn.Sequential(*conv_norm(self.conv_cfg, self.norm_cfg, pre[-1],
                                              width if k == i - len(pre) else pre[-1], 3, 2,
                                              relu=True))
                     for k in range(i + 1 - len(pre))]
            layers.append(nn.Sequential(*steps))
        return layers

    def output_shapes(self) -> OutputShapes:
        """Branch i of stage4: ``num_channels[i] * expansion`` channels, stride ``4 * 2**i``."""
        cfg = self.stage4_cfg
        expansion = self.blocks_dict[cfg["block"]].expansion
        count = cfg["num_branches"] if self.multiscale_output else 1
        return shape_specs([c * expansion for c in cfg["num_channels"][:count]],
                           [4 * 2 ** i for i in range(count)])

    def frozen_modules(self) -> List[nn.Module]:
        """The stem, then layer1 + transition1, stage2 + transition2, ..., stage4."""
        modules: List[nn.Module] = [self.conv1, self.norm1, self.conv2, self.norm2]
        for i in range(1, self.frozen_stages + 1):
            modules.append(self.layer1 if i == 1 else getattr(self, f"stage{i}"))
            if i < 4:
                modules.append(getattr(self, f"transition{i}"))
        return modules

    # Load ``pretrained`` / apply ``init_cfg``; by default MMSeg's Kaiming convs, unit norms and,
    # with ``zero_init_residual``, zeroed last norms of the residual blocks: ResNet's init.
    init_weights = ResNet.init_weights

    @staticmethod
    def _transition(layers: nn.ModuleList, prev: List[torch.Tensor]) -> List[torch.Tensor]:
        """The inputs of the next stage: kept branches from their own map, new ones from the
        coarsest (MMSeg feeds every non-None transition the coarsest map; that differs only
        where an existing branch changes width, which MMSeg's configs never do)."""
        out = []
        for i, layer in enumerate(layers):
            source = prev[i] if i < len(prev) else prev[-1]
            out.append(source if layer is None else layer(source))
        return out

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x: (N, C, H, W). Returns: the last stage's maps, finest first."""
        x = self.relu(self.norm1(self.conv1(x)))
        x = self.relu(self.norm2(self.conv2(x)))
        y = [self.layer1(x)]
        for s in (2, 3, 4):
            y = getattr(self, f"stage{s}")(self._transition(getattr(self, f"transition{s - 1}"), y))
        return tuple(y)

