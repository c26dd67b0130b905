"""``build_optimizer(model, cfg)`` with mmcv 1.x ``DefaultOptimizerConstructor`` semantics.

``optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4, paramwise_cfg=dict(...))``.
``paramwise_cfg`` sets per-parameter multipliers:

* ``custom_keys``: ``{substring: dict(lr_mult=, decay_mult=)}``; the longest key that is a
  substring of ``'<module prefix>.<param name>'`` wins (ties: alphabetical order); when one
  matches, the rules below are skipped for that parameter.
* ``bias_lr_mult``: lr of biases outside normalisation layers.
* ``bias_decay_mult``: weight decay of biases outside normalisation and depth-wise conv layers.
* ``norm_decay_mult``: weight decay of normalisation-layer weights and biases.
* ``dwconv_decay_mult``: weight decay of depth-wise conv weights and biases.
* ``dcn_offset_lr_mult``: lr of ``conv_offset`` convolutions (deformable convs).
* ``bypass_duplicate``: skip parameters shared between modules instead of failing.

mmcv makes one parameter group per parameter; here parameters with identical settings share a group
(same learning rates and decays, fewer groups, so the fused optimizer kernels can batch them).
"""
from __future__ import annotations

import copy
import inspect
import warnings
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from ..errors import ConfigError
from ..registry import OPTIMIZERS, build_from_cfg

for _name, _cls in inspect.getmembers(torch.optim, inspect.isclass):
    if issubclass(_cls, torch.optim.Optimizer) and _cls is not torch.optim.Optimizer:
        OPTIMIZERS.register_module(name=_name, module=_cls)

PARAMWISE_KEYS = ("custom_keys", "bias_lr_mult", "bias_decay_mult", "norm_decay_mult",
                  "dwconv_decay_mult", "dcn_offset_lr_mult", "bypass_duplicate")
_NORM_TYPES = (_BatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm)


class DefaultOptimizerConstructor:
    """Builds an optimizer whose parameter groups follow ``paramwise_cfg``.

    Args:
        optimizer_cfg: ``dict(type=..., lr=..., weight_decay=..., ...)`` without ``paramwise_cfg``.
        paramwise_cfg: the per-parameter rules described in the module docstring.
    """

    def __init__(self, optimizer_cfg: Mapping[str, Any], paramwise_cfg: Optional[Mapping[str, Any]] = None):
        self.optimizer_cfg = dict(optimizer_cfg)
        self.paramwise_cfg = dict(paramwise_cfg or {})
        self.base_lr = self.optimizer_cfg.get("lr")
        self.base_wd = self.optimizer_cfg.get("weight_decay")
        self._validate()

    def _validate(self) -> None:
        unknown = [k for k in self.paramwise_cfg if k not in PARAMWISE_KEYS]
        if unknown:
            raise ConfigError(f"optimizer.paramwise_cfg has unknown key(s) {unknown}; accepted: "
                              f"{', '.join(PARAMWISE_KEYS)}. (Layer-wise lr decay keys such as "
                              f"'decay_rate' need constructor="
                              f"'LearningRateDecayOptimizerConstructor'.)")
        custom = self.paramwise_cfg.get("custom_keys", {})
        if not isinstance(custom, Mapping):
            raise ConfigError(f"optimizer.paramwise_cfg.custom_keys must be a dict, got {custom!r}")
        for key, rule in custom.items():
            if isinstance(rule, Mapping) and "wd_mult" in rule:
                # MMSeg 0.x's dnl_r50-d8_769x769_80k_cityscapes.py sets it; mmcv reads only
                # lr_mult / decay_mult, so it has never had an effect there either.
                warnings.warn(f"optimizer.paramwise_cfg.custom_keys['{key}'] has 'wd_mult', which "
                              f"mmcv ignores (it reads 'decay_mult'); ignored here too, so these "
                              f"parameters keep the weight decay. Use decay_mult to change it.")
                rule = {k: v for k, v in rule.items() if k != "wd_mult"}
            if not isinstance(rule, Mapping) or set(rule) - {"lr_mult", "decay_mult"}:
                raise ConfigError(f"optimizer.paramwise_cfg.custom_keys['{key}'] = {rule!r}: expected "
                                  f"a dict with lr_mult and/or decay_mult.")
            if "decay_mult" in rule and self.base_wd is None:
                raise ConfigError(f"optimizer.paramwise_cfg.custom_keys['{key}'] sets decay_mult but "
                                  f"optimizer.weight_decay is not set.")
        decay_rules = [k for k in ("bias_decay_mult", "norm_decay_mult", "dwconv_decay_mult")
                       if k in self.paramwise_cfg]
        if decay_rules and self.base_wd is None:
            raise ConfigError(f"optimizer.paramwise_cfg sets {decay_rules} but optimizer.weight_decay "
                              f"is not set.")
        if self.paramwise_cfg and self.base_lr is None:
            raise ConfigError("optimizer.lr must be set when optimizer.paramwise_cfg is used.")

    def _options(self, module: nn.Module, prefix: str, name: str) -> Dict[str, float]:
        """lr / weight_decay overrides of parameter ``name`` of ``module`` (empty: defaults)."""
        cfg = self.paramwise_cfg
        custom = cfg.get("custom_keys", {})
        full_name = f"{prefix}.{name}"  # mmcv matches against this (a leading '.' at top level)
        for key in sorted(sorted(custom), key=len, reverse=True):
            if key in full_name:
                opts = {"lr": self.base_lr * custom[key].get("lr_mult", 1.0)}
                if self.base_wd is not None:
                    opts["weight_decay"] = self.base_wd * custom[key].get("decay_mult", 1.0)
                return opts
        is_norm = isinstance(module, _NORM_TYPES)
        is_dwconv = isinstance(module, nn.Conv2d) and module.in_channels == module.groups
        opts: Dict[str, float] = {}
        if name == "bias" and not is_norm:
            opts["lr"] = self.base_lr * cfg.get("bias_lr_mult", 1.0)
        if "conv_offset" in prefix and isinstance(module, nn.Conv2d):
            opts["lr"] = self.base_lr * cfg.get("dcn_offset_lr_mult", 1.0)
        if self.base_wd is not None:
            if is_norm:
                opts["weight_decay"] = self.base_wd * cfg.get("norm_decay_mult", 1.0)
            elif is_dwconv:
                opts["weight_decay"] = self.base_wd * cfg.get("dwconv_decay_mult", 1.0)
            elif name == "bias":
                opts["weight_decay"] = self.base_wd * cfg.get("bias_decay_mult", 1.0)
        return opts

    def param_groups(self, model: nn.Module) -> List[Dict[str, Any]]:
        """Parameter groups in module order; parameters with equal options share a group."""
        groups: Dict[Tuple, Dict[str, Any]] = {}
        seen = set()
        bypass = self.paramwise_cfg.get("bypass_duplicate", False)
        for prefix, module in model.named_modules(remove_duplicate=False):
            for name, param in module.named_parameters(recurse=False):
                if id(param) in seen:
                    if bypass:
                        warnings.warn(f"{prefix}.{name} is a duplicate of an earlier parameter; "
                                      f"skipped because bypass_duplicate=True")
                        continue
                    raise ConfigError(f"Parameter '{prefix}.{name}' is shared with another module; "
                                      f"set optimizer.paramwise_cfg.bypass_duplicate=True.")
                seen.add(id(param))
                opts = self._options(module, prefix, name) if param.requires_grad else {}
                key = tuple(sorted(opts.items()))
                groups.setdefault(key, dict(opts, params=[]))["params"].append(param)
        return list(groups.values())

    def __call__(self, model: nn.Module) -> torch.optim.Optimizer:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        cfg = dict(self.optimizer_cfg)
        cfg["params"] = self.param_groups(model) if self.paramwise_cfg else model.parameters()
        return build_from_cfg(cfg, OPTIMIZERS, key="optimizer")


OPTIMIZER_CONSTRUCTORS = {"DefaultOptimizerConstructor": DefaultOptimizerConstructor}


def build_optimizer(model: nn.Module, cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    """Build the optimizer described by the config's ``optimizer`` dict.

    Args:
        model: the model (a DDP wrapper is unwrapped).
        cfg: ``dict(type='SGD'|'AdamW'|..., lr=..., ..., paramwise_cfg=None, constructor=None)``.
    """
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"optimizer must be a dict like dict(type='SGD', lr=0.01), got {cfg!r}")
    cfg = copy.deepcopy(dict(cfg))
    constructor = cfg.pop("constructor", None) or "DefaultOptimizerConstructor"
    paramwise_cfg = cfg.pop("paramwise_cfg", None)
    if constructor not in OPTIMIZER_CONSTRUCTORS:
        raise ConfigError(f"optimizer.constructor = '{constructor}' is not supported; available: "
                          f"{', '.join(OPTIMIZER_CONSTRUCTORS)}.")
    return OPTIMIZER_CONSTRUCTORS[constructor](cfg, paramwise_cfg)(model)


def load_optimizer_state(optimizer: torch.optim.Optimizer, model: nn.Module,
                         state: Mapping[str, Any]) -> None:
    """``optimizer.load_state_dict(state)``, also for mmcv's one-group-per-parameter layout.

    mmcv's ``DefaultOptimizerConstructor`` with ``paramwise_cfg`` saves one parameter group per
    parameter, in module order; seglab merges equal groups. When the layouts differ, the per-
    parameter states are matched through the module order (``model.parameters()``), and each
    group keeps its saved ``initial_lr``.

    Raises:
        ValueError: the saved state does not fit this optimizer and model.
    """
    try:
        optimizer.load_state_dict(state)
        return
    except ValueError:
        saved_groups = state["param_groups"]
        params = list((model.module if hasattr(model, "module") else model).parameters())
        ours = [p for group in optimizer.param_groups for p in group["params"]]
        singletons = all(len(g["params"]) == 1 for g in saved_groups)
        if (not singletons and len(saved_groups) != 1) or len(ours) != len(params) or \
                sum(len(g["params"]) for g in saved_groups) != len(params):
            raise
    position = {id(p): i for i, p in enumerate(params)}
    saved_state = state["state"]
    current = optimizer.state_dict()
    new_state, flat = {}, 0
    for group, saved_group in zip(optimizer.param_groups, current["param_groups"]):
        first = position[id(group["params"][0])]
        source = saved_groups[first] if singletons else saved_groups[0]
        if "initial_lr" in source:
            saved_group["initial_lr"] = source["initial_lr"]
        for p in group["params"]:
            i = position[id(p)]
            key = saved_groups[i]["params"][0] if singletons else saved_groups[0]["params"][i]
            if key in saved_state:
                new_state[flat] = saved_state[key]
            flat += 1
    optimizer.load_state_dict({"state": new_state, "param_groups": current["param_groups"]})


# MMSeg's layer-wise lr decay (BEiT / MAE); the module subclasses DefaultOptimizerConstructor.
from .layer_decay_optimizer_constructor import (  # noqa: E402
    LayerDecayOptimizerConstructor, LearningRateDecayOptimizerConstructor)

OPTIMIZER_CONSTRUCTORS["LearningRateDecayOptimizerConstructor"] = (
    LearningRateDecayOptimizerConstructor)
OPTIMIZER_CONSTRUCTORS["LayerDecayOptimizerConstructor"] = LayerDecayOptimizerConstructor
