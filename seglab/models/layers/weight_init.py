"""Weight initialisation: MMCV's init helpers and its ``init_cfg`` dicts.

``init_cfg`` is one dict or a list of dicts such as
``dict(type='Kaiming', layer='Conv2d')`` (every ``Conv2d`` submodule),
``dict(type='Normal', std=0.01, override=dict(name='conv_seg'))`` (only ``module.conv_seg``) or
``dict(type='Pretrained', checkpoint='path.pth', prefix='backbone.')``.
A ``layer`` matches a submodule whose class, or any base class, has that name (``'_BatchNorm'``
matches every batch norm).
"""
from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Optional, Sequence, Union

from torch import nn

from ...checkpoint import load_checkpoint, load_checkpoint_with_prefix, load_state_dict
from ...errors import CheckpointError, ConfigError

InitCfg = Union[Mapping, Sequence[Mapping], None]


def _fill_bias(module: nn.Module, bias: float) -> None:
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, bias)


def constant_init(module: nn.Module, val: float, bias: float = 0.0) -> None:
    """Fill ``module.weight`` with ``val`` and ``module.bias`` with ``bias``."""
    if getattr(module, "weight", None) is not None:
        nn.init.constant_(module.weight, val)
    _fill_bias(module, bias)


def normal_init(module: nn.Module, mean: float = 0.0, std: float = 1.0, bias: float = 0.0) -> None:
    """Weight ~ N(mean, std^2), bias = ``bias``."""
    if getattr(module, "weight", None) is not None:
        nn.init.normal_(module.weight, mean, std)
    _fill_bias(module, bias)


def trunc_normal_init(module: nn.Module, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                      b: float = 2.0, bias: float = 0.0) -> None:
    """Weight ~ N(mean, std^2) truncated to [a, b], bias = ``bias``."""
    if getattr(module, "weight", None) is not None:
        nn.init.trunc_normal_(module.weight, mean, std, a, b)
    _fill_bias(module, bias)


def uniform_init(module: nn.Module, a: float = 0.0, b: float = 1.0, bias: float = 0.0) -> None:
    """Weight ~ U(a, b), bias = ``bias``."""
    if getattr(module, "weight", None) is not None:
        nn.init.uniform_(module.weight, a, b)
    _fill_bias(module, bias)


def xavier_init(module: nn.Module, gain: float = 1.0, bias: float = 0.0,
                distribution: str = "normal") -> None:
    """Xavier (Glorot) init, ``distribution`` 'normal' or 'uniform'."""
    if distribution not in ("uniform", "normal"):
        raise ConfigError(f"Xavier init: distribution must be 'uniform' or 'normal', got {distribution!r}")
    if getattr(module, "weight", None) is not None:
        fn = nn.init.xavier_uniform_ if distribution == "uniform" else nn.init.xavier_normal_
        fn(module.weight, gain=gain)
    _fill_bias(module, bias)


def kaiming_init(module: nn.Module, a: float = 0.0, mode: str = "fan_out",
                 nonlinearity: str = "relu", bias: float = 0.0, distribution: str = "normal") -> None:
    """Kaiming (He) init with MMCV's defaults (``fan_out``, ReLU gain, normal)."""
    if distribution not in ("uniform", "normal"):
        raise ConfigError(f"Kaiming init: distribution must be 'uniform' or 'normal', got {distribution!r}")
    if getattr(module, "weight", None) is not None:
        fn = nn.init.kaiming_uniform_ if distribution == "uniform" else nn.init.kaiming_normal_
        fn(module.weight, a=a, mode=mode, nonlinearity=nonlinearity)
    _fill_bias(module, bias)


def bias_init_with_prob(prior_prob: float) -> float:
    """The bias whose sigmoid equals ``prior_prob``."""
    return float(-math.log((1 - prior_prob) / prior_prob))


# The default init_cfg of MMSeg's CNN backbones without pretrained weights (UNet, CGNet,
# Fast-SCNN, BiSeNetV2, MobileNetV2...): Kaiming (fan_out) convs, norm weights 1 and biases 0.
CONV_NORM_INIT = (dict(type="Kaiming", layer="Conv2d"),
                  dict(type="Constant", val=1, layer=["_BatchNorm", "GroupNorm"]))


def pyramid_transformer_init(model: nn.Module, norm_types: tuple = (nn.LayerNorm,)) -> None:
    """MMSeg's default init of the pyramid transformers (MiT, Twins).

    ``Linear``: truncated normal, std 0.02, bias 0; the ``norm_types``: weight 1, bias 0;
    ``Conv2d``: normal with std ``sqrt(2 / fan_out)`` (fan_out = kh * kw * out_channels / groups),
    bias 0.
    """
    for m in model.modules():
        if isinstance(m, nn.Linear):
            trunc_normal_init(m, std=0.02, bias=0.0)
        elif isinstance(m, norm_types):
            constant_init(m, val=1.0, bias=0.0)
        elif isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            normal_init(m, mean=0.0, std=math.sqrt(2.0 / fan_out), bias=0.0)


_INITIALIZERS = {
    "Constant": (constant_init, ("val", "bias")),
    "Normal": (normal_init, ("mean", "std", "bias")),
    "TruncNormal": (trunc_normal_init, ("mean", "std", "a", "b", "bias")),
    "Uniform": (uniform_init, ("a", "b", "bias")),
    "Xavier": (xavier_init, ("gain", "bias", "distribution")),
    "Kaiming": (kaiming_init, ("a", "mode", "nonlinearity", "bias", "distribution")),
}


def _class_names(module: nn.Module) -> set:
    return {cls.__name__ for cls in type(module).__mro__}


def _apply_one(module: nn.Module, cfg: Dict[str, Any], whole_module: bool) -> None:
    cfg = dict(cfg)
    init_type = cfg.pop("type", None)
    if init_type == "Pretrained":
        load_pretrained(module, cfg.pop("checkpoint", None), prefix=cfg.pop("prefix", None),
                        map_location=cfg.pop("map_location", "cpu"))
        return
    if init_type not in _INITIALIZERS:
        raise ConfigError(f"init_cfg type {init_type!r} is not supported; use one of "
                          f"{', '.join(list(_INITIALIZERS) + ['Pretrained'])}.")
    fn, keys = _INITIALIZERS[init_type]
    layers = cfg.pop("layer", None)
    override = cfg.pop("override", None)
    if "bias_prob" in cfg:
        cfg["bias"] = bias_init_with_prob(cfg.pop("bias_prob"))
    unknown = set(cfg) - set(keys)
    if unknown:
        raise ConfigError(f"init_cfg {init_type}: unknown key(s) {sorted(unknown)}; "
                          f"accepted: {', '.join(keys + ('layer', 'override'))}.")
    layers = [layers] if isinstance(layers, str) else list(layers or [])
    if whole_module:
        fn(module, **cfg)
    elif layers:
        for sub in module.modules():
            if _class_names(sub) & set(layers):
                fn(sub, **cfg)
    for ov in ([override] if isinstance(override, Mapping) else list(override or [])):
        ov = dict(ov)
        name = ov.pop("name", None)
        target = getattr(module, name, None) if name else None
        if target is None:
            raise ConfigError(f"init_cfg override name {name!r}: {type(module).__name__} has no "
                              f"such submodule.")
        # Like MMCV, an override without its own type reuses the parent's type and arguments.
        merged = ov if "type" in ov else {"type": init_type, **cfg, **ov}
        _apply_one(target, merged, whole_module=True)


def initialize(module: nn.Module, init_cfg: InitCfg) -> None:
    """Apply one ``init_cfg`` dict or a list of them to ``module`` (in order)."""
    if init_cfg is None:
        return
    cfgs = [init_cfg] if isinstance(init_cfg, Mapping) else list(init_cfg)
    for cfg in cfgs:
        if not isinstance(cfg, Mapping):
            raise ConfigError(f"init_cfg must be a dict or a list of dicts, got {cfg!r}")
        _apply_one(module, cfg, whole_module=False)


def load_pretrained(module: nn.Module, checkpoint: Optional[str], prefix: Optional[str] = None,
                    map_location: str = "cpu") -> None:
    """Load ``checkpoint`` into ``module`` (non-strict), optionally only the keys under ``prefix``.

    Args:
        module: the module to fill.
        checkpoint: a local path, ``open-mmlab://``, ``torchvision://`` or URL (resolved by
            :func:`seglab.checkpoint.load_checkpoint`, which explains where to place a file
            that is not cached).
        prefix: e.g. ``'backbone.'``: as MMCV, only the ``backbone.*`` keys of a whole-model
            checkpoint (an MMSeg segmentor, an mmcls classifier), with the prefix removed, are
            loaded; the others are not reported as unexpected. A checkpoint without such keys
            is an error.
        map_location: where to load tensors.
    """
    if not checkpoint:
        raise ConfigError("init_cfg type 'Pretrained' needs a 'checkpoint' (a path or URL).")
    try:
        if prefix:
            state_dict = load_checkpoint_with_prefix(prefix, checkpoint, map_location)
            load_state_dict(module, state_dict, strict=False, source=f"{checkpoint} ({prefix}*)")
        else:
            load_checkpoint(module, checkpoint, map_location=map_location, strict=False)
    except (CheckpointError, FileNotFoundError, OSError) as err:
        how = ("set model.pretrained=None and model.backbone.init_cfg=None in the config (or "
               "--options model.pretrained=None model.backbone.init_cfg=None)")
        if "pretrained=None" in str(err):  # the loader already says where to put the file
            raise CheckpointError(f"{err}\nIf the weights come from the backbone's init_cfg "
                                  f"(dict(type='Pretrained', ...)), {how}.") from err
        raise CheckpointError(
            f"{err}\nThe pretrained weights '{checkpoint}' of {type(module).__name__} could not be "
            f"loaded. To train from scratch instead, {how}.") from err
