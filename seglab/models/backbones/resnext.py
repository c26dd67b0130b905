"""``ResNeXt`` (`paper <https://arxiv.org/abs/1611.05431>`_): ResNet with grouped 3x3 convs.

MMSegmentation 0.x's ``ResNeXt``: every :class:`ResNet` key plus ``groups`` (cardinality) and
``base_width``; the Bottleneck's inner width becomes ``floor(planes * base_width / base_channels)
* groups`` (32x4d: ``groups=32, base_width=4``). Keys equal ResNet's (``layer1.0.conv2.weight``).
"""
from __future__ import annotations

from typing import Any, Dict

from ...registry import MODELS
from .resnet import ResNet
from .resnet_blocks import Bottleneck


@MODELS.register_module()
class ResNeXt(ResNet):
    """ResNeXt-50/101/152.

    Args:
        groups: groups of each Bottleneck's 3x3 conv.
        base_width: width per group at ``base_channels``.
        **kwargs: :class:`ResNet` keys (``depth`` 50, 101 or 152).
    """

    arch_settings = {
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, groups: int = 1, base_width: int = 4, **kwargs):
        # Set before ResNet builds its stages, which read them through _block_args().
        self.groups, self.base_width = groups, base_width
        super().__init__(**kwargs)

    def _block_args(self) -> Dict[str, Any]:
        return dict(groups=self.groups, base_width=self.base_width,
                    base_channels=self.base_channels)
