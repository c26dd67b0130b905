"""Normalisation layers built from MMCV-style ``norm_cfg`` dicts.

``build_norm_layer(dict(type='BN', requires_grad=True), 64)`` returns ``('bn', BatchNorm2d(64))``;
the name is what MMCV uses as the attribute name, so state_dict keys match MMSegmentation's
(``decode_head.convs.0.bn.weight``). Defaults equal MMCV's: ``eps=1e-5``, PyTorch's momentum 0.1.

``SyncBN`` depends on the process group when the layer is built (layers are built before the
model moves to its device, so the backend decides, not the device):

* NCCL group (GPU processes): ``nn.SyncBatchNorm``;
* any other group (gloo: CPU processes): :class:`~seglab.models.layers.sync_bn.CPUSyncBatchNorm`,
  which all-reduces the statistics and their gradients over gloo;
* no group (a single-process run, ``tools/test.py`` on one GPU or CPU): ``nn.BatchNorm2d``, and the
  process warns once.

All three have the same parameters and buffers, so SyncBN checkpoints load unchanged.
"""
from __future__ import annotations

import warnings
from typing import Dict, Mapping, Tuple, Union

import torch
from torch import nn
from torch.nn import functional as F

from ...errors import ConfigError
from ...utils import is_distributed
from .sync_bn import sync_batchnorm_class

class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of (N, C, H, W) maps (MMClassification's ``LN2d``).

    Normalises each pixel's C values, as ``nn.LayerNorm(C)`` on the NHWC view does; the
    parameters are those of ``nn.LayerNorm(C)`` (``weight``/``bias`` of shape (C,)).

    Args:
        num_channels: C.
        eps: added to the variance (``nn.LayerNorm``'s default 1e-5).
        elementwise_affine: learnable ``weight`` and ``bias``.
    """

    def __init__(self, num_channels: int, eps: float = 1e-5, elementwise_affine: bool = True):
        super().__init__(num_channels, eps=eps, elementwise_affine=elementwise_affine)
        self.num_channels = num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"LayerNorm2d expects (N, C, H, W) inputs, got shape "
                             f"{tuple(x.shape)}")
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias,
                         self.eps)
        return x.permute(0, 3, 1, 2).contiguous()


_NORM_LAYERS: Dict[str, Tuple[str, type]] = {
    "BN": ("bn", nn.BatchNorm2d),
    "BN1d": ("bn", nn.BatchNorm1d),
    "BN2d": ("bn", nn.BatchNorm2d),
    "BN3d": ("bn", nn.BatchNorm3d),
    "SyncBN": ("bn", nn.SyncBatchNorm),
    "GN": ("gn", nn.GroupNorm),
    "LN": ("ln", nn.LayerNorm),
    "LN2d": ("ln", LayerNorm2d),
    "IN": ("in", nn.InstanceNorm2d),
    "IN1d": ("in", nn.InstanceNorm1d),
    "IN2d": ("in", nn.InstanceNorm2d),
    "IN3d": ("in", nn.InstanceNorm3d),
}

_syncbn_fallback_warned = False

SYNCBN_FALLBACK_MESSAGE = (
    "norm_cfg type 'SyncBN' needs an initialised torch.distributed process group, and this process "
    "has none: seglab uses BatchNorm2d instead (same parameters and state_dict keys, so SyncBN "
    "checkpoints load unchanged; batch statistics are per process). Launch with tools/dist_train.sh "
    "to synchronise statistics across processes, or set norm_cfg=dict(type='BN') to silence this.")


def _sync_batch_norm(num_features: int, **kwargs) -> nn.Module:
    """The layer for ``type='SyncBN'``: synchronised in a process group, plain BN outside one."""
    global _syncbn_fallback_warned
    if is_distributed():
        # nn.SyncBatchNorm under NCCL, CPUSyncBatchNorm under gloo (nn.SyncBatchNorm refuses CPU).
        return sync_batchnorm_class()(num_features, **kwargs)
    if not _syncbn_fallback_warned:
        _syncbn_fallback_warned = True
        warnings.warn(SYNCBN_FALLBACK_MESSAGE, UserWarning, stacklevel=3)
    kwargs.pop("process_group", None)
    return nn.BatchNorm2d(num_features, **kwargs)


def reset_syncbn_warning() -> None:
    """Let the next SyncBN-without-process-group build warn again (for tests)."""
    global _syncbn_fallback_warned
    _syncbn_fallback_warned = False


def build_norm_layer(cfg: Mapping, num_features: int,
                     postfix: Union[int, str] = "") -> Tuple[str, nn.Module]:
    """Build a normalisation layer and the attribute name MMCV gives it.

    Args:
        cfg: ``dict(type=..., requires_grad=True, eps=..., momentum=..., num_groups=... (GN))``.
        num_features: channels of the normalised tensor (``num_channels`` for GN,
            ``normalized_shape`` for LN).
        postfix: appended to the name (``'bn1'`` for ``postfix=1``).

    Returns:
        ``(name, layer)`` with ``name`` in ``bn``/``gn``/``ln``/``in`` plus ``postfix``.

    Raises:
        ConfigError: unknown type, GN without ``num_groups``, or arguments the layer rejects.
    """
    if not isinstance(cfg, Mapping) or "type" not in cfg:
        raise ConfigError(f"norm_cfg must be a dict with a 'type' key, got {cfg!r}")
    args = dict(cfg)  # never mutate the config: one norm_cfg dict is shared by many layers
    layer_type = args.pop("type")
    if layer_type not in _NORM_LAYERS:
        raise ConfigError(f"norm_cfg type '{layer_type}' is not supported; use one of "
                          f"{', '.join(_NORM_LAYERS)}.")
    abbr, layer_cls = _NORM_LAYERS[layer_type]
    requires_grad = args.pop("requires_grad", True)
    args.setdefault("eps", 1e-5)
    try:
        if layer_type == "GN":
            if "num_groups" not in args:
                raise ConfigError(f"norm_cfg {dict(cfg)!r}: GN needs 'num_groups'.")
            layer = nn.GroupNorm(num_channels=num_features, **args)
        elif layer_type == "SyncBN":
            layer = _sync_batch_norm(num_features, **args)
        else:
            layer = layer_cls(num_features, **args)
    except TypeError as err:
        raise ConfigError(f"norm_cfg {dict(cfg)!r}: invalid arguments for {layer_type} "
                          f"({err}).") from err
    for param in layer.parameters():
        param.requires_grad = requires_grad
    return f"{abbr}{postfix}", layer


def named_norm(index: int) -> property:
    """``normN = named_norm(N)``: the norm layer a module registered under ``self.normN_name``.

    The norms ``build_norm_layer`` builds are registered under names that depend on their type
    (``bn1``, ``ln1``, ``gn1``: MMCV's state_dict keys), so modules keep the name and read the
    layer through this property.
    """
    attr = f"norm{index}_name"
    return property(lambda self: getattr(self, getattr(self, attr)),
                    doc=f"The norm layer named by ``{attr}``.")


def is_norm(module: nn.Module) -> bool:
    """True for the normalisation layers :func:`build_norm_layer` creates."""
    return isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm,
                               nn.modules.instancenorm._InstanceNorm))
