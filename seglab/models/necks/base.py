"""``BaseNeck``: a neck maps the backbone's outputs to new ones and declares them.

:meth:`BaseNeck.output_shapes` takes the shapes the neck receives (the backbone's declaration)
and returns what ``forward`` gives, so the segmentor checks its heads through a neck: FPN has
``num_outs`` maps of ``out_channels`` at the input strides (then x2 for each extra level);
MultiLevelNeck rescales one stride per output.
"""
from __future__ import annotations

from typing import Sequence

from torch import nn

from ..backbones.base import OutputShapes
from ..signature import publish_signature


class BaseNeck(nn.Module):
    """Base class of necks: ``forward(tuple of maps) -> tuple of maps`` plus :meth:`output_shapes`.

    Like :class:`~seglab.models.backbones.BaseBackbone`, a subclass forwarding its base's keys
    with ``**kwargs`` gets the merged constructor signature (``fixed_keys`` in the class
    statement lists the keys it sets itself).
    """

    def __init_subclass__(cls, fixed_keys: Sequence[str] = (), **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        publish_signature(cls, exclude=fixed_keys)

    def output_shapes(self, in_shapes: OutputShapes) -> OutputShapes:
        """What ``forward`` returns for inputs described by ``in_shapes``.

        Args:
            in_shapes: the producer's declaration (one ShapeSpec or None per input), or None
                when the producer declares nothing.

        Returns:
            One ShapeSpec (or None) per output, or None when unknown.
        """
        raise NotImplementedError(f"{type(self).__name__} must declare its outputs: implement "
                                  "output_shapes(in_shapes) (return None to opt out)")
