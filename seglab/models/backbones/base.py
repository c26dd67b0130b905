"""``BaseBackbone``: the contract every backbone follows, and what they all share.

A backbone maps an image to a tuple of outputs and *declares* them: :meth:`output_shapes`
returns one :class:`ShapeSpec` (channels, stride) per output, computed from the constructor's
arguments (like timm's ``feature_info`` or detectron2's ``output_shape``). The segmentor checks
its heads' ``in_channels``/``in_index`` against this declaration at build time, and the model
sweep checks every registered backbone's declaration against its real outputs.

An output that is not a plain feature map (ViT's ``(feat, cls_token)`` pair with
``output_cls_token``, a nested list) is declared as ``None``: heads reading it are not checked.
A backbone that cannot declare anything returns ``None`` from :meth:`output_shapes`.

The base also owns what backbones repeat: ``pretrained`` -> ``init_cfg``, ``frozen_stages``
(:meth:`frozen_modules` names what to freeze) and ``norm_eval``, both re-applied by :meth:`train`.
"""
from __future__ import annotations

from typing import List, NamedTuple, Optional, Sequence, Tuple

from torch import nn

from ...errors import ConfigError
from ...registry import current_build_path
from ..layers.weight_init import InitCfg
from ..signature import publish_signature


class ShapeSpec(NamedTuple):
    """What one output is: (N, channels, ceil(H / stride), ceil(W / stride)) for an (H, W) image.

    Attributes:
        channels: channels of the output map.
        stride: downsampling factor relative to the input image.
    """

    channels: int
    stride: int


# One entry per output; None for an output that is not a plain map; None overall = not declared.
OutputShapes = Optional[Tuple[Optional[ShapeSpec], ...]]


def shape_specs(channels: Sequence[int], strides: Sequence[int]) -> Tuple[ShapeSpec, ...]:
    """Zip per-output channels and strides into ShapeSpecs (they must have the same length)."""
    if len(channels) != len(strides):
        raise ValueError(f"{len(channels)} output channels {tuple(channels)} but {len(strides)} "
                         f"strides {tuple(strides)}")
    return tuple(ShapeSpec(int(c), int(s)) for c, s in zip(channels, strides))


def _where() -> str:
    path = current_build_path()
    return f"{path}: " if path else ""


class BaseBackbone(nn.Module):
    """Base class of backbones: declared outputs, ``init_cfg``, ``frozen_stages``, ``norm_eval``.

    Subclasses build their layers, implement ``forward(x) -> tuple`` and :meth:`output_shapes`,
    and, if they support ``frozen_stages``, :meth:`frozen_modules`. A subclass that forwards its
    base's keys with ``**kwargs`` gets the merged constructor signature automatically (so the
    registry still rejects typos); keys it fixes itself are listed in the class statement:
    ``class ResNetV1c(ResNet, fixed_keys=("deep_stem", "avg_down"))``.

    Args:
        pretrained: checkpoint path or URL (deprecated form of
            ``init_cfg=dict(type='Pretrained', checkpoint=pretrained)``).
        init_cfg: init dict(s) applied by ``init_weights``; None = the backbone's default init.
        frozen_stages: stages ``0..frozen_stages`` (the stem is stage 0) are kept in eval mode
            without gradients; -1 freezes nothing.
        norm_eval: keep every batch norm in eval mode while training (frozen statistics).
    """

    def __init_subclass__(cls, fixed_keys: Sequence[str] = (), **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        publish_signature(cls, exclude=fixed_keys)

    def __init__(self, pretrained: Optional[str] = None, init_cfg: InitCfg = None,
                 frozen_stages: int = -1, norm_eval: bool = False):
        super().__init__()
        if pretrained is not None and init_cfg is not None:
            raise ConfigError(f"{_where()}set either pretrained or init_cfg, not both (MMSeg: "
                              f"'init_cfg and pretrained cannot be setting at the same time'); "
                              f"pretrained={pretrained!r} is init_cfg=dict(type='Pretrained', "
                              f"checkpoint={pretrained!r}).")
        if pretrained is not None and not isinstance(pretrained, str):
            raise ConfigError(f"{_where()}pretrained must be a path/URL string or None, got "
                              f"{pretrained!r}")
        self.pretrained = pretrained
        self.init_cfg = dict(type="Pretrained", checkpoint=pretrained) if pretrained else init_cfg
        self.frozen_stages, self.norm_eval = frozen_stages, norm_eval

    def output_shapes(self) -> OutputShapes:
        """One :class:`ShapeSpec` per output of ``forward``, in order (see the module doc)."""
        raise NotImplementedError(f"{type(self).__name__} must declare its outputs: implement "
                                  "output_shapes() (return None to opt out)")

    @property
    def out_channels(self) -> Optional[Tuple[Optional[int], ...]]:
        """Channels per output (None where undeclared), e.g. ``(64, 128, 320, 512)``."""
        shapes = self.output_shapes()
        return None if shapes is None else tuple(None if s is None else s.channels for s in shapes)

    @property
    def out_strides(self) -> Optional[Tuple[Optional[int], ...]]:
        """Stride per output (None where undeclared), e.g. ``(4, 8, 16, 32)``."""
        shapes = self.output_shapes()
        return None if shapes is None else tuple(None if s is None else s.stride for s in shapes)

    def frozen_modules(self) -> List[nn.Module]:
        """Modules of the stem and stages ``1..frozen_stages``; backbones with stages override."""
        if self.frozen_stages >= 0:
            raise ConfigError(f"{type(self).__name__} does not support frozen_stages="
                              f"{self.frozen_stages}; use -1.")
        return []

    def _freeze_stages(self) -> None:
        """Eval mode and no gradients for :meth:`frozen_modules` (nothing when -1)."""
        if self.frozen_stages < 0:
            return
        for module in self.frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> "BaseBackbone":
        """Switch mode; frozen stages (and with ``norm_eval`` every batch norm) stay in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self
