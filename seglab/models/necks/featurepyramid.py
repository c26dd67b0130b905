"""``Feature2Pyramid``: one-stride ViT/BEiT maps -> a 4-level pyramid (MMSeg 0.x
``mmseg.models.necks.featurepyramid``).

The i-th input goes through the i-th operation, in this fixed order (``rescales`` only decides
which modules exist): with a 4 in ``rescales`` ``upsample_4x`` (deconv x2, norm, GELU, deconv x2),
``upsample_2x`` (deconv x2), ``identity``, ``downsample_2x`` (max-pool 2); without it
``upsample_2x``, ``identity``, ``downsample_2x``, ``downsample_4x`` (max-pool 4). With BEiT-B/16
and ``[4, 2, 1, 0.5]`` the four stride-16 maps become strides 4/8/16/32 for UPerHead.
"""
from __future__ import annotations

from typing import List, Mapping, Sequence, Tuple

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..backbones.base import OutputShapes, ShapeSpec
from ..layers import build_norm_layer
from .base import BaseNeck

_RESCALES = (4, 2, 1, 0.5, 0.25)


@MODELS.register_module()
class Feature2Pyramid(BaseNeck):
    """Rescale same-stride maps by x4 / x2 / x1 / x0.5 (or x2 / x1 / x0.5 / x0.25).

    Args:
        embed_dim: channels of every input and output.
        rescales: which rescaling modules to build (values among 4, 2, 1, 0.5, 0.25); one input
            per entry.
        norm_cfg: norm inside ``upsample_4x``.

    Shape:
        len(rescales) maps (N, embed_dim, h, w) -> maps (N, embed_dim, h * s, w * s) with s the
        operation's factor (max-pooling floors odd sizes).
    """

    def __init__(self, embed_dim: int, rescales: Sequence[float] = (4, 2, 1, 0.5),
                 norm_cfg: Mapping = dict(type="SyncBN", requires_grad=True)):
        super().__init__()
        self.embed_dim, self.rescales = embed_dim, list(rescales)
        bad = [k for k in self.rescales if k not in _RESCALES]
        if bad:
            raise ConfigError(f"Feature2Pyramid rescales {self.rescales}: {bad} not among "
                              f"{list(_RESCALES)}")
        self.upsample_4x = None
        for k in self.rescales:
            if k == 4:
                self.upsample_4x = nn.Sequential(
                    nn.ConvTranspose2d(embed_dim, embed_dim, kernel_size=2, stride=2),
                    build_norm_layer(norm_cfg, embed_dim)[1], nn.GELU(),
                    nn.ConvTranspose2d(embed_dim, embed_dim, kernel_size=2, stride=2))
            elif k == 2:
                self.upsample_2x = nn.Sequential(
                    nn.ConvTranspose2d(embed_dim, embed_dim, kernel_size=2, stride=2))
            elif k == 1:
                self.identity = nn.Identity()
            elif k == 0.5:
                self.downsample_2x = nn.MaxPool2d(kernel_size=2, stride=2)
            else:
                self.downsample_4x = nn.MaxPool2d(kernel_size=4, stride=4)
        # The operation of each input position, as MMSeg fixes them.
        self._op_names, self._factors = (
            (("upsample_4x", "upsample_2x", "identity", "downsample_2x"), (4, 2, 1, 0.5))
            if self.upsample_4x is not None else
            (("upsample_2x", "identity", "downsample_2x", "downsample_4x"), (2, 1, 0.5, 0.25)))
        missing = [n for n in self._op_names[:len(self.rescales)] if not hasattr(self, n)]
        if missing:
            # MMSeg would fail at the first forward with an AttributeError.
            raise ConfigError(f"Feature2Pyramid rescales {self.rescales}: input positions use "
                              f"{list(self._op_names[:len(self.rescales)])}, but {missing} "
                              f"is not built; give e.g. [4, 2, 1, 0.5] or [2, 1, 0.5, 0.25]")

    def output_shapes(self, in_shapes: OutputShapes) -> OutputShapes:
        """Each input's stride divided by its operation's factor (None where unknown)."""
        if in_shapes is None:
            return None
        out: List = []
        for spec, factor in zip(in_shapes, self._factors):
            stride = None if spec is None else spec.stride / factor
            if stride is None or stride != int(stride) or stride < 1:
                out.append(None)
            else:
                out.append(ShapeSpec(self.embed_dim, int(stride)))
        return tuple(out)

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Args: inputs: len(rescales) maps (N, embed_dim, h, w). Returns: the rescaled maps."""
        if len(inputs) != len(self.rescales):
            raise ValueError(f"Feature2Pyramid got {len(inputs)} inputs for "
                             f"{len(self.rescales)} rescales {self.rescales}")
        return tuple(getattr(self, name)(x) for name, x in zip(self._op_names, inputs))
