"""``resize``: ``F.interpolate`` with MMSegmentation's align_corners advice (``mmseg.ops.resize``)."""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Iterator, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

Size = Union[Sequence[int], torch.Size]


def _align_corners_advice(in_hw: Tuple[int, int], out_hw: Tuple[int, int]) -> Optional[str]:
    """The warning text when upsampling with align_corners=True misaligns the grids, else None."""
    (in_h, in_w), (out_h, out_w) = in_hw, out_hw
    # MMSeg's condition reads `output_w > output_h` (a typo); the intent, used here, is
    # "upsampling in either dimension".
    if not (out_h > in_h or out_w > in_w):
        return None
    if min(out_h, out_w, in_h, in_w) <= 1:
        return None
    if (out_h - 1) % (in_h - 1) and (out_w - 1) % (in_w - 1):
        return (f"When align_corners=True, the output would be more aligned if input size "
                f"{(in_h, in_w)} is `x+1` and out size {(out_h, out_w)} is `nx+1`")
    return None


# While set (seglab.apis.onnx_export's dynamic export), a traced resize keeps its output size
# symbolic: int() would freeze it at the traced input's size, for every other input size too.
_symbolic_sizes = False


@contextmanager
def symbolic_sizes_when_tracing() -> Iterator[None]:
    """Within this block, :func:`resize` under ``torch.jit`` tracing records its size as
    computed from the input's shape (a dynamic-shape ONNX graph) instead of a constant."""
    global _symbolic_sizes
    previous, _symbolic_sizes = _symbolic_sizes, True
    try:
        yield
    finally:
        _symbolic_sizes = previous


def resize(input: torch.Tensor, size: Optional[Size] = None,  # noqa: A002 - MMSeg's name
           scale_factor: Optional[Union[float, Sequence[float]]] = None, mode: str = "nearest",
           align_corners: Optional[bool] = None, warning: bool = True) -> torch.Tensor:
    """Resize a batch of maps like ``mmseg.ops.resize``.

    Args:
        input: (N, C, H, W) tensor.
        size: output (H', W').
        scale_factor: multiplier instead of ``size``.
        mode: interpolation mode of ``F.interpolate``.
        align_corners: passed to ``F.interpolate`` (only valid for linear modes).
        warning: warn when ``align_corners=True`` upsampling does not map corners onto grid
            points (sizes not of the ``x+1`` -> ``nx+1`` form), as MMSegmentation does.

    Returns:
        (N, C, H', W') tensor.
    """
    if size is not None and not (_symbolic_sizes and torch.jit.is_tracing()):
        size = tuple(int(s) for s in size)
        if warning and align_corners:
            message = _align_corners_advice(tuple(int(s) for s in input.shape[2:]), size)
            if message:
                warnings.warn(message, stacklevel=2)
    return F.interpolate(input, size, scale_factor, mode, align_corners)


class Upsample(nn.Module):
    """Module form of :func:`resize` (``mmseg.ops.Upsample``).

    Args:
        size: fixed output size, or None to use ``scale_factor``.
        scale_factor: output = ``int(input * scale_factor)`` per spatial dimension.
        mode: interpolation mode.
        align_corners: see :func:`resize`.
    """

    def __init__(self, size: Optional[Size] = None,
                 scale_factor: Optional[Union[float, Tuple[float, float]]] = None,
                 mode: str = "nearest", align_corners: Optional[bool] = None):
        super().__init__()
        self.size = size
        if isinstance(scale_factor, tuple):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode, self.align_corners = mode, align_corners

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.size:
            size = self.size
        elif isinstance(self.scale_factor, tuple):
            size = [int(t * f) for t, f in zip(x.shape[-2:], self.scale_factor)]
        else:
            size = [int(t * self.scale_factor) for t in x.shape[-2:]]
        return resize(x, size, None, self.mode, self.align_corners)
