"""``make_divisible``: round a channel count to a multiple of a divisor (``mmseg.models.utils``)."""
from __future__ import annotations

from typing import Optional


def make_divisible(value: float, divisor: int, min_value: Optional[int] = None,
                   min_ratio: float = 0.9) -> int:
    """The multiple of ``divisor`` nearest to ``value``, never below ``min_ratio * value``.

    The rounding of TensorFlow's MobileNet code, which MMSegmentation uses for width
    multipliers (``make_divisible(32 * 0.25, 8) == 8``) and squeeze-excitation widths.

    Args:
        value: the channel count to round (may be fractional after a width multiplier).
        divisor: the result is a multiple of it.
        min_value: the smallest result; None means ``divisor``.
        min_ratio: rounding down may lose at most ``1 - min_ratio`` of ``value``.

    Returns:
        The rounded channel count.
    """
    if min_value is None:
        min_value = divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    # Rounding to the nearest multiple may go down too far for small values: then go up one step.
    if rounded < min_ratio * value:
        rounded += divisor
    return rounded
