"""Necks (FPN, MultiLevelNeck, ...): ``forward(tuple of maps) -> tuple of maps``, declared by
``output_shapes(in_shapes)``. Only the base class so far."""
from .base import BaseNeck
from .multilevel_neck import MultiLevelNeck

__all__ = ["BaseNeck"]
__all__ += ["MultiLevelNeck"]
from .mla_neck import MLAModule, MLANeck  # noqa: E402

__all__ += ["MLAModule", "MLANeck"]
from .featurepyramid import Feature2Pyramid  # noqa: E402

__all__ += ["Feature2Pyramid"]
from .fpn import FPN  # noqa: E402

__all__ += ["FPN"]
from .ic_neck import CascadeFeatureFusion, ICNeck  # noqa: E402
from .jpu import JPU  # noqa: E402

__all__ += ["CascadeFeatureFusion", "ICNeck", "JPU"]
