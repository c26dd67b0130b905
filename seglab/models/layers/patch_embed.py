"""Patch embedding and merging of vision transformers (``mmseg.models.utils.embed``).

* :class:`AdaptivePadding` pads a map so that a (kernel, stride, dilation) window covers it fully.
* :class:`PatchEmbed` turns an image into tokens with one strided conv (``projection``) and an
  optional norm (``norm``): ``patch_embed.projection.weight``, ``patch_embed.norm.weight``.
* :class:`PatchMerging` (Swin's downsampling) gathers each k x k neighbourhood with ``nn.Unfold``
  (``sampler``), normalises it (``norm``) and projects it (``reduction``).
"""
from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

from ...errors import ConfigError
from .conv import build_conv_layer
from .norm import build_norm_layer
from .weight_init import InitCfg, initialize

IntOrPair = Union[int, Tuple[int, int]]
Padding = Union[str, int, Tuple[int, int]]
_ADAPTIVE_MODES = ("corner", "same")


def _out_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of a conv / unfold along one axis (the formula of ``nn.Conv2d``'s docs)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


class AdaptivePadding(nn.Module):
    """Zero-pad a map so a sliding window covers every pixel (TensorFlow's ``'SAME'`` idea).

    For each axis the output has ``ceil(size / stride)`` positions; the padding is what the last
    window needs beyond the input. ``'corner'`` puts it all at the bottom/right, ``'same'``
    splits it (the extra pixel of an odd amount goes bottom/right).

    Args:
        kernel_size: window size.
        stride: window stride.
        dilation: window dilation.
        padding: ``'corner'`` or ``'same'``.

    Shape:
        (N, C, H, W) -> (N, C, H + pad_h, W + pad_w).
    """

    def __init__(self, kernel_size: IntOrPair = 1, stride: IntOrPair = 1,
                 dilation: IntOrPair = 1, padding: str = "corner"):
        super().__init__()
        if padding not in _ADAPTIVE_MODES:
            raise ConfigError(f"AdaptivePadding: padding must be one of {_ADAPTIVE_MODES}, "
                              f"got {padding!r}")
        self.padding = padding
        self.kernel_size, self.stride, self.dilation = (
            _pair(kernel_size), _pair(stride), _pair(dilation))

    def get_pad_shape(self, input_shape: Sequence[int]) -> Tuple[int, int]:
        """The total (pad_h, pad_w) for an (H, W) input."""
        pads = []
        for size, k, s, d in zip(input_shape, self.kernel_size, self.stride, self.dilation):
            positions = math.ceil(size / s)
            pads.append(max((positions - 1) * s + (k - 1) * d + 1 - size, 0))
        return pads[0], pads[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h, pad_w = self.get_pad_shape(x.shape[-2:])
        if pad_h == 0 and pad_w == 0:
            return x
        if self.padding == "corner":
            return F.pad(x, [0, pad_w, 0, pad_h])
        return F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"dilation={self.dilation}, padding={self.padding!r}")


def _adaptive_or_fixed(padding: Padding, kernel_size, stride, dilation, owner: str):
    """``(AdaptivePadding or None, fixed (pad_h, pad_w))`` for a string or numeric padding."""
    if isinstance(padding, str):
        if padding not in _ADAPTIVE_MODES:
            raise ConfigError(f"{owner}: padding must be an int, a pair or one of "
                              f"{_ADAPTIVE_MODES}, got {padding!r}")
        return AdaptivePadding(kernel_size, stride, dilation, padding), (0, 0)
    return None, _pair(padding)


class PatchEmbed(nn.Module):
    """Image to patch tokens with a strided conv (``mmseg.models.utils.PatchEmbed``).

    Args:
        in_channels: image channels.
        embed_dims: token dimension (conv output channels).
        conv_type: conv type name for :func:`build_conv_layer` (``'Conv2d'``).
        kernel_size: conv kernel (the patch size).
        stride: conv stride; None means ``kernel_size`` (non-overlapping patches).
        padding: ``'corner'`` / ``'same'`` (adaptive, so odd sizes are fully covered) or a fixed
            int / pair passed to the conv.
        dilation: conv dilation.
        bias: conv bias.
        norm_cfg: norm over the embedding dimension (``dict(type='LN')``), or None.
        input_size: the (H, W) the model is configured for; sets :attr:`init_out_size`, the token
            grid at that size (used to shape absolute position embeddings).
        init_cfg: ``init_cfg`` dicts applied by :meth:`init_weights`; None keeps PyTorch's init.

    Shape:
        (N, in_channels, H, W) -> ((N, out_h * out_w, embed_dims), (out_h, out_w)).
    """

    def __init__(self, in_channels: int = 3, embed_dims: int = 768, conv_type: str = "Conv2d",
                 kernel_size: IntOrPair = 16, stride: Optional[IntOrPair] = None,
                 padding: Padding = "corner", dilation: IntOrPair = 1, bias: bool = True,
                 norm_cfg: Optional[Mapping] = None,
                 input_size: Optional[IntOrPair] = None, init_cfg: InitCfg = None):
        super().__init__()
        self.in_channels, self.embed_dims, self.init_cfg = in_channels, embed_dims, init_cfg
        kernel_size = _pair(kernel_size)
        stride = kernel_size if stride is None else _pair(stride)
        dilation = _pair(dilation)
        self.adap_padding, padding = _adaptive_or_fixed(padding, kernel_size, stride, dilation,
                                                        "PatchEmbed")
        self.projection = build_conv_layer(
            dict(type=conv_type), in_channels=in_channels, out_channels=embed_dims,
            kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
            bias=bias)
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1] if norm_cfg is not None else None

        self.init_input_size: Optional[Tuple[int, int]] = None
        self.init_out_size: Optional[Tuple[int, int]] = None
        if input_size:
            self.init_input_size = _pair(input_size)
            h, w = self.init_input_size
            if self.adap_padding is not None:
                pad_h, pad_w = self.adap_padding.get_pad_shape((h, w))
                h, w = h + pad_h, w + pad_w
            self.init_out_size = tuple(
                _out_size(size, k, s, p, d)
                for size, k, s, p, d in zip((h, w), kernel_size, stride, padding, dilation))

    @property
    def adaptive_padding(self) -> Optional[AdaptivePadding]:
        """MMCV's name for :attr:`adap_padding` (MMSeg's)."""
        return self.adap_padding

    def init_weights(self) -> None:
        """Apply ``init_cfg`` (None keeps PyTorch's default init, as MMCV's BaseModule)."""
        initialize(self, self.init_cfg)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Embed ``x``.

        Args:
            x: (N, in_channels, H, W) images or maps.

        Returns:
            ``(tokens, (out_h, out_w))`` with tokens (N, out_h * out_w, embed_dims) in row-major
            order of the (out_h, out_w) grid.
        """
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"PatchEmbed expects (N, {self.in_channels}, H, W) input, got shape "
                             f"{tuple(x.shape)}")
        if self.adap_padding is not None:
            x = self.adap_padding(x)
        x = self.projection(x)
        out_size = (x.shape[2], x.shape[3])
        x = x.flatten(2).transpose(1, 2)
        if self.norm is not None:
            x = self.norm(x)
        return x, out_size


class PatchMerging(nn.Module):
    """Merge k x k neighbourhoods of tokens into one token (Swin's downsampling).

    ``nn.Unfold`` orders each merged vector channel-major, ``(c, ki, kj)`` ->
    ``c * kh * kw + ki * kw + kj``; checkpoints of the original Swin (which concatenates the four
    2x2 positions instead) need their ``reduction``/``norm`` weights reordered, as MMSeg's
    ``swin_converter`` does.

    Args:
        in_channels: token dimension of the input.
        out_channels: token dimension of the output.
        kernel_size: neighbourhood size.
        stride: neighbourhood stride; None means ``kernel_size``.
        padding: ``'corner'`` / ``'same'`` (adaptive) or a fixed int / pair for the unfold.
        dilation: unfold dilation.
        bias: bias of the ``reduction`` Linear.
        norm_cfg: norm over the ``kh * kw * in_channels`` merged vector, or None.
        init_cfg: ``init_cfg`` dicts applied by :meth:`init_weights`.

    Shape:
        ((N, H * W, in_channels), (H, W)) -> ((N, out_h * out_w, out_channels), (out_h, out_w)).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair = 2,
                 stride: Optional[IntOrPair] = None, padding: Padding = "corner",
                 dilation: IntOrPair = 1, bias: bool = False,
                 norm_cfg: Optional[Mapping] = dict(type="LN"), init_cfg: InitCfg = None):
        super().__init__()
        self.in_channels, self.out_channels, self.init_cfg = in_channels, out_channels, init_cfg
        kernel_size = _pair(kernel_size)
        stride = _pair(stride) if stride else kernel_size  # MMSeg: a falsy stride means kernel
        dilation = _pair(dilation)
        self.adap_padding, padding = _adaptive_or_fixed(padding, kernel_size, stride, dilation,
                                                        "PatchMerging")
        self.sampler = nn.Unfold(kernel_size=kernel_size, dilation=dilation, padding=padding,
                                 stride=stride)
        sample_dim = kernel_size[0] * kernel_size[1] * in_channels
        self.norm = build_norm_layer(norm_cfg, sample_dim)[1] if norm_cfg is not None else None
        self.reduction = nn.Linear(sample_dim, out_channels, bias=bias)

    @property
    def adaptive_padding(self) -> Optional[AdaptivePadding]:
        """MMCV's name for :attr:`adap_padding` (MMSeg's)."""
        return self.adap_padding

    def init_weights(self) -> None:
        """Apply ``init_cfg`` (None keeps PyTorch's default init)."""
        initialize(self, self.init_cfg)

    def forward(self, x: torch.Tensor,
                input_size: Sequence[int]) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Merge neighbourhoods.

        Args:
            x: (N, H * W, in_channels) tokens.
            input_size: (H, W) of the token grid.

        Returns:
            ``(tokens, (out_h, out_w))`` with tokens (N, out_h * out_w, out_channels).
        """
        if not isinstance(input_size, Sequence) or len(input_size) != 2:
            raise ValueError(f"PatchMerging: input_size must be (H, W), got {input_size!r}")
        h, w = (int(s) for s in input_size)
        if x.ndim != 3 or x.shape[1] != h * w or x.shape[2] != self.in_channels:
            raise ValueError(f"PatchMerging expects (N, H * W, {self.in_channels}) tokens with "
                             f"(H, W) = {(h, w)}, got shape {tuple(x.shape)}")
        n = x.shape[0]
        x = x.view(n, h, w, self.in_channels).permute(0, 3, 1, 2)
        if self.adap_padding is not None:
            x = self.adap_padding(x)
            h, w = x.shape[-2:]
        x = self.sampler(x)  # (N, kh * kw * C, out_h * out_w)
        s = self.sampler
        out_size = (_out_size(h, s.kernel_size[0], s.stride[0], s.padding[0], s.dilation[0]),
                    _out_size(w, s.kernel_size[1], s.stride[1], s.padding[1], s.dilation[1]))
        x = x.transpose(1, 2)
        if self.norm is not None:
            x = self.norm(x)
        return self.reduction(x), out_size
