"""Layer-wise lr decay for ConvNeXt / BEiT / MAE (``mmseg.core.layer_decay_optimizer_constructor``).

``optimizer = dict(type='AdamW', lr=..., weight_decay=...,
constructor='LearningRateDecayOptimizerConstructor',
paramwise_cfg=dict(num_layers=12, decay_rate=0.9, decay_type='layer_wise_vit'))``, or MMSeg's
older spelling ``constructor='LayerDecayOptimizerConstructor', paramwise_cfg=dict(num_layers=12,
layer_decay_rate=0.65)``.

MMSeg 0.x's rules, kept exactly (checkpoints' optimizer states and lr curves must match):

* layer id, BEiT / MAE (``decay_type`` 'layer_wise' or 'layer_wise_vit'):
  ``backbone.cls_token`` / ``mask_token`` / ``pos_embed`` and ``backbone.patch_embed.*`` are layer
  0, ``backbone.layers.i.*`` is layer i + 1, everything else (heads, neck, final norm) is layer
  ``num_layers + 1``;
* layer id, ConvNeXt 'layer_wise' (also 'layer_wise_vit': MMSeg tests ``'layer_wise' in
  decay_type``): ``downsample_layers.0`` 0, ``stages.0`` 1, ``downsample_layers.1`` / ``stages.1``
  2, ``downsample_layers.2`` 3, ``stages.2.j`` 3 + j // 3, ``downsample_layers.3`` / ``stages.3``
  ``num_layers``, everything else ``num_layers + 1``;
* layer id, ConvNeXt 'stage_wise': ``downsample_layers.*`` 0, ``stages.i.*`` i + 1, everything
  else ``num_layers + 1``;
* lr = ``lr * decay_rate ** (num_layers + 1 - layer_id)`` (the heads get the full lr);
* no weight decay for 1-D parameters and ``*.bias``; ``cls_token`` / ``pos_embed`` (3-D) *do*
  decay, as in MMSeg (its name check compares the bare names with the prefixed ones, so it never
  matches);
* frozen parameters (``requires_grad=False``) are not given to the optimizer.

One group per (layer, decay / no_decay), with MMSeg's ``group_name``, ``lr_scale`` and
``param_names`` entries.
"""
from __future__ import annotations

import warnings
from typing import Any, Dict, List, Mapping, Optional

import torch
from torch import nn

from ..errors import ConfigError
from ..registry import OPTIMIZERS, build_from_cfg
from .optimizer import DefaultOptimizerConstructor

LAYER_DECAY_KEYS = ("num_layers", "decay_rate", "decay_type")
DECAY_TYPES = ("layer_wise", "layer_wise_vit", "stage_wise")
_EMBEDDINGS = ("backbone.cls_token", "backbone.mask_token", "backbone.pos_embed")  # layer 0


def get_layer_id_for_vit(var_name: str, max_layer_id: int) -> int:
    """Layer id of a parameter of a segmentor with a BEiT / MAE backbone.

    Args:
        var_name: the parameter's name in the segmentor (``backbone.layers.3.attn.qkv.weight``).
        max_layer_id: ``num_layers + 2``.

    Returns:
        0 for the embeddings, i + 1 for ``backbone.layers.i``, ``max_layer_id - 1`` otherwise.
    """
    return _id_by_prefix(var_name, max_layer_id, "backbone.patch_embed", "backbone.layers")


def _id_by_prefix(var_name: str, max_id: int, stem: str, blocks: str) -> int:
    """0 for the embeddings and ``stem*``, i + 1 for ``blocks.i``, ``max_id - 1`` otherwise."""
    if var_name in _EMBEDDINGS or var_name.startswith(stem):
        return 0
    if var_name.startswith(blocks):
        return int(var_name.split(".")[2]) + 1
    return max_id - 1


def _convnext_stage(var_name: str) -> int:
    stage_id = int(var_name.split(".")[2])
    if stage_id > 3:
        raise ConfigError(f"layer-wise lr decay: {var_name} is in ConvNeXt stage {stage_id}; "
                          f"MMSeg's ConvNeXt layer ids cover 4 stages only (use stage_wise).")
    return stage_id


def get_layer_id_for_convnext(var_name: str, max_layer_id: int) -> int:
    """Layer id of a parameter of a segmentor with a ConvNeXt backbone ('layer_wise').

    Args:
        var_name: the parameter's name in the segmentor (``backbone.stages.2.4.gamma``).
        max_layer_id: ``paramwise_cfg.num_layers`` (the id of the last stage).

    Returns:
        See the module docstring; ``max_layer_id + 1`` outside the backbone's stages.
    """
    if var_name in _EMBEDDINGS:
        return 0
    if var_name.startswith("backbone.downsample_layers"):
        return (0, 2, 3, max_layer_id)[_convnext_stage(var_name)]
    if var_name.startswith("backbone.stages"):
        block_id = int(var_name.split(".")[3])
        return (1, 2, 3 + block_id // 3, max_layer_id)[_convnext_stage(var_name)]
    return max_layer_id + 1


def get_stage_id_for_convnext(var_name: str, max_stage_id: int) -> int:
    """Stage id of a parameter of a segmentor with a ConvNeXt backbone ('stage_wise').

    Args:
        var_name: the parameter's name in the segmentor.
        max_stage_id: ``num_layers + 2``.

    Returns:
        0 for the embeddings and ``downsample_layers``, i + 1 for ``stages.i``,
        ``max_stage_id - 1`` otherwise.
    """
    return _id_by_prefix(var_name, max_stage_id, "backbone.downsample_layers", "backbone.stages")


class LearningRateDecayOptimizerConstructor(DefaultOptimizerConstructor):
    """Parameter groups with layer-wise decayed learning rates (see the module docstring).

    Args:
        optimizer_cfg: ``dict(type=..., lr=..., weight_decay=..., ...)``.
        paramwise_cfg: ``num_layers`` (transformer blocks of BEiT / MAE; ConvNeXt's layer
            count, e.g. 12 or 6 in MMSeg's configs), ``decay_rate`` and ``decay_type``
            (``'layer_wise'`` or ``'layer_wise_vit'``: ConvNeXt or ViT layer ids by the
            backbone; ``'stage_wise'``: ConvNeXt only).
    """

    def _validate(self) -> None:
        cfg = self.paramwise_cfg
        unknown = [k for k in cfg if k not in LAYER_DECAY_KEYS]
        if unknown:
            raise ConfigError(f"optimizer.paramwise_cfg has unknown key(s) {unknown} for "
                              f"{type(self).__name__}; accepted: {', '.join(LAYER_DECAY_KEYS)}")
        missing = [k for k in ("num_layers", "decay_rate") if k not in cfg]
        if missing:
            raise ConfigError(f"{type(self).__name__} needs optimizer.paramwise_cfg {missing} "
                              f"(got {dict(cfg)})")
        if cfg.get("decay_type", "layer_wise") not in DECAY_TYPES:
            raise ConfigError(f"optimizer.paramwise_cfg.decay_type = {cfg['decay_type']!r}; "
                              f"expected one of {', '.join(DECAY_TYPES)}")
        if self.base_lr is None:
            raise ConfigError(f"{type(self).__name__} needs optimizer.lr")

    def _layer_id(self, model: nn.Module, name: str, num_layers: int) -> int:
        backbone = type(getattr(model, "backbone", None)).__name__
        decay_type = self.paramwise_cfg.get("decay_type", "layer_wise")
        # MMSeg matches class names by substring, in this order.
        if "layer_wise" in decay_type and "ConvNeXt" in backbone:
            return get_layer_id_for_convnext(name, self.paramwise_cfg["num_layers"])
        if "layer_wise" in decay_type and ("BEiT" in backbone or "MAE" in backbone):
            return get_layer_id_for_vit(name, num_layers)
        if decay_type == "stage_wise" and "ConvNeXt" in backbone:
            return get_stage_id_for_convnext(name, num_layers)
        raise ConfigError(f"{type(self).__name__}: decay_type {decay_type!r} is supported for "
                          f"ConvNeXt ('layer_wise', 'layer_wise_vit', 'stage_wise') and "
                          f"BEiT / MAE backbones ('layer_wise' or 'layer_wise_vit'), not for "
                          f"backbone {backbone}")

    def param_groups(self, model: nn.Module) -> List[Dict[str, Any]]:
        """One group per (layer id, decay / no_decay), in first-parameter order."""
        num_layers = self.paramwise_cfg["num_layers"] + 2
        decay_rate = self.paramwise_cfg["decay_rate"]
        weight_decay = self.base_wd if self.base_wd is not None else 0.0
        groups: Dict[str, Dict[str, Any]] = {}
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            if param.ndim == 1 or name.endswith(".bias") or name in ("pos_embed", "cls_token"):
                kind, this_decay = "no_decay", 0.0
            else:
                kind, this_decay = "decay", weight_decay
            layer_id = self._layer_id(model, name, num_layers)
            group_name = f"layer_{layer_id}_{kind}"
            if group_name not in groups:
                scale = decay_rate ** (num_layers - layer_id - 1)
                groups[group_name] = dict(weight_decay=this_decay, params=[], param_names=[],
                                          lr_scale=scale, group_name=group_name,
                                          lr=scale * self.base_lr)
            groups[group_name]["params"].append(param)
            groups[group_name]["param_names"].append(name)
        return list(groups.values())

    def __call__(self, model: nn.Module) -> torch.optim.Optimizer:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        cfg = dict(self.optimizer_cfg, params=self.param_groups(model))
        return build_from_cfg(cfg, OPTIMIZERS, key="optimizer")


class LayerDecayOptimizerConstructor(LearningRateDecayOptimizerConstructor):
    """MMSeg's older BEiT constructor: ``layer_decay_rate`` -> ``decay_rate``, ViT layer ids.

    Args:
        optimizer_cfg: ``dict(type=..., lr=..., weight_decay=..., ...)``.
        paramwise_cfg: ``num_layers`` and ``layer_decay_rate``.
    """

    def __init__(self, optimizer_cfg: Mapping[str, Any],
                 paramwise_cfg: Optional[Mapping[str, Any]] = None):
        cfg = dict(paramwise_cfg or {})
        if "layer_decay_rate" not in cfg:
            raise ConfigError(f"LayerDecayOptimizerConstructor needs optimizer.paramwise_cfg "
                              f"layer_decay_rate (got {cfg})")
        # The same deprecation MMSeg 0.x warns about; the groups are identical.
        warnings.warn("LayerDecayOptimizerConstructor is MMSeg's deprecated name: use "
                      "LearningRateDecayOptimizerConstructor with decay_rate and "
                      "decay_type='layer_wise_vit' in paramwise_cfg", DeprecationWarning)
        cfg["decay_type"] = "layer_wise_vit"
        cfg["decay_rate"] = cfg.pop("layer_decay_rate")
        super().__init__(optimizer_cfg, cfg)
