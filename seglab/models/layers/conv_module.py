"""``ConvModule``: convolution + normalisation + activation, MMCV's building block.

Submodule names equal MMCV's (``conv``, ``bn``/``gn``/``ln``/``in``, ``activate``) so state_dict keys
match MMSegmentation checkpoints (``decode_head.convs.0.conv.weight``, ``...convs.0.bn.running_mean``).
"""
from __future__ import annotations

import warnings
from typing import Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ...errors import ConfigError
from .activation import NO_INPLACE, build_activation_layer
from .conv import build_conv_layer
from .norm import build_norm_layer
from .weight_init import constant_init, kaiming_init

IntOrPair = Union[int, Tuple[int, int]]

_PADDING_LAYERS = {"zero": nn.ZeroPad2d, "reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d}
_CONV_PADDING_MODES = ("zeros", "circular")  # handled by the conv itself


class ConvModule(nn.Module):
    """Conv -> norm -> activation (order configurable), as ``mmcv.cnn.ConvModule``.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: conv kernel size.
        stride: conv stride.
        padding: conv padding (applied by an explicit padding layer for non-zero padding modes).
        dilation: conv dilation.
        groups: conv groups.
        bias: conv bias; ``'auto'`` means "no bias when a norm layer follows".
        conv_cfg: ``None`` (Conv2d) or ``dict(type=...)``.
        norm_cfg: ``None`` (no norm) or a norm dict (``dict(type='BN', requires_grad=True)``).
        act_cfg: ``None`` (no activation) or an activation dict; default ReLU.
        inplace: in-place activation (ignored by activations without an ``inplace`` argument).
        with_spectral_norm: wrap the conv in spectral normalisation.
        padding_mode: ``'zeros'``, ``'circular'``, or ``'zero'``/``'reflect'``/``'replicate'``
            (explicit padding layer).
        order: the order of ``'conv'``, ``'norm'``, ``'act'``.

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, H', W').
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair,
                 stride: IntOrPair = 1, padding: IntOrPair = 0, dilation: IntOrPair = 1,
                 groups: int = 1, bias: Union[bool, str] = "auto",
                 conv_cfg: Optional[Mapping] = None, norm_cfg: Optional[Mapping] = None,
                 act_cfg: Optional[Mapping] = dict(type="ReLU"), inplace: bool = True,
                 with_spectral_norm: bool = False, padding_mode: str = "zeros",
                 order: Sequence[str] = ("conv", "norm", "act")):
        super().__init__()
        order = tuple(order)
        if len(order) != 3 or set(order) != {"conv", "norm", "act"}:
            raise ConfigError(f"ConvModule order must be a permutation of ('conv', 'norm', 'act'), "
                              f"got {order!r}")
        if bias != "auto" and not isinstance(bias, bool):
            raise ConfigError(f"ConvModule bias must be True, False or 'auto', got {bias!r}")
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        self.inplace, self.with_spectral_norm, self.order = inplace, with_spectral_norm, order
        self.with_norm = norm_cfg is not None
        self.with_activation = act_cfg is not None
        self.with_bias = (not self.with_norm) if bias == "auto" else bias
        self.with_explicit_padding = padding_mode not in _CONV_PADDING_MODES

        if self.with_explicit_padding:
            if padding_mode not in _PADDING_LAYERS:
                raise ConfigError(f"ConvModule padding_mode {padding_mode!r} is not supported; use "
                                  f"one of {', '.join(_CONV_PADDING_MODES + tuple(_PADDING_LAYERS))}.")
            self.padding_layer = _PADDING_LAYERS[padding_mode](padding)
        conv_padding = 0 if self.with_explicit_padding else padding
        extra = {"padding_mode": "circular"} if padding_mode == "circular" else {}
        self.conv = build_conv_layer(conv_cfg, in_channels, out_channels, kernel_size,
                                     stride=stride, padding=conv_padding, dilation=dilation,
                                     groups=groups, bias=self.with_bias, **extra)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = self.conv.kernel_size, self.conv.stride
        self.padding, self.dilation, self.groups = padding, self.conv.dilation, self.conv.groups
        if with_spectral_norm:
            self.conv = nn.utils.spectral_norm(self.conv)

        self.norm_name = None
        if self.with_norm:
            norm_channels = out_channels if order.index("norm") > order.index("conv") else in_channels
            self.norm_name, norm = build_norm_layer(norm_cfg, norm_channels)
            self.add_module(self.norm_name, norm)
            if self.with_bias and isinstance(norm, (nn.modules.batchnorm._BatchNorm,
                                                    nn.modules.instancenorm._InstanceNorm)):
                warnings.warn("Unnecessary conv bias before batch/instance norm")

        if self.with_activation:
            act_cfg = dict(act_cfg)
            if act_cfg.get("type") not in NO_INPLACE:
                act_cfg.setdefault("inplace", inplace)
            self.activate = build_activation_layer(act_cfg)

        self.init_weights()

    @property
    def norm(self) -> Optional[nn.Module]:
        """The normalisation layer (``self.bn``, ``self.gn``, ...) or None."""
        return getattr(self, self.norm_name) if self.norm_name else None

    def init_weights(self) -> None:
        """Kaiming-normal (fan_out) conv, norm weight 1 and bias 0, as MMCV."""
        if self.with_activation and self.act_cfg.get("type") == "LeakyReLU":
            nonlinearity, a = "leaky_relu", self.act_cfg.get("negative_slope", 0.01)
        else:
            nonlinearity, a = "relu", 0
        kaiming_init(self.conv, a=a, nonlinearity=nonlinearity)
        if self.with_norm:
            constant_init(self.norm, 1, bias=0)

    def forward(self, x: torch.Tensor, activate: bool = True, norm: bool = True) -> torch.Tensor:
        """Apply the layers in ``self.order``.

        Args:
            x: (N, C_in, H, W).
            activate: apply the activation.
            norm: apply the normalisation.

        Returns:
            (N, C_out, H', W').
        """
        for layer in self.order:
            if layer == "conv":
                if self.with_explicit_padding:
                    x = self.padding_layer(x)
                x = self.conv(x)
            elif layer == "norm" and norm and self.with_norm:
                x = self.norm(x)
            elif layer == "act" and activate and self.with_activation:
                x = self.activate(x)
        return x
