"""Loading a pre-trained checkpoint into ``SwinTransformer`` (its ``init_weights`` with
``init_cfg=dict(type='Pretrained', checkpoint=...)``), adapted as MMSegmentation 0.x adapts it.

* the weights are the file's ``state_dict`` or ``model`` entry, or the file itself;
* ``backbone.`` (a whole segmentor) and ``module.`` (a DDP wrapper) prefixes are stripped;
* each ``relative_position_bias_table`` of another window size is resized bicubically;
* an ``absolute_pos_embed`` of another shape is left out with a warning;
* the rest is loaded non-strictly (the classification ``head`` and final ``norm`` of an
  ImageNet checkpoint are reported, not loaded).
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, Mapping, Optional

import torch
from torch import nn

from ...checkpoint import load_checkpoint_file, load_state_dict
from ...errors import CheckpointError, ConfigError
from ..layers.pos_embed import resize_relative_position_bias_table


def _weights(checkpoint: Any, source: str) -> Mapping[str, torch.Tensor]:
    if isinstance(checkpoint, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(checkpoint.get(key), Mapping):
                return checkpoint[key]
        if any(isinstance(v, torch.Tensor) for v in checkpoint.values()):
            return checkpoint
    raise CheckpointError(f"Checkpoint '{source}' holds no Swin weights (expected a state_dict, "
                          f"or one under 'state_dict' / 'model').")


def adapt_swin_state_dict(model: nn.Module, weights: Mapping[str, torch.Tensor],
                          logger: Optional[logging.Logger] = None
                          ) -> "OrderedDict[str, torch.Tensor]":
    """Strip prefixes and fit window-size dependent tensors to ``model`` (see the module doc).

    Args:
        model: the SwinTransformer to load into.
        weights: checkpoint weights (MMSeg layout; original weights need ``convert_swin``).
        logger: where the warnings go.

    Returns:
        The adapted state_dict.
    """
    logger = logger or logging.getLogger("seglab")
    state = OrderedDict((k[len("backbone."):] if k.startswith("backbone.") else k, v)
                        for k, v in weights.items())
    if state and next(iter(state)).startswith("module."):
        state = OrderedDict((k[len("module."):], v) for k, v in state.items())
    own = model.state_dict()
    pos = state.get("absolute_pos_embed")
    if pos is not None and "absolute_pos_embed" in own and pos.shape != own[
            "absolute_pos_embed"].shape:
        logger.warning(f"absolute_pos_embed of shape {tuple(pos.shape)} does not fit the model's "
                       f"{tuple(own['absolute_pos_embed'].shape)}; not loaded.")
        del state["absolute_pos_embed"]
    for key in [k for k in state if "relative_position_bias_table" in k and k in own]:
        table, mine = state[key], own[key]
        if table.ndim != 2 or table.shape[1] != mine.shape[1]:
            logger.warning(f"{key}: {tuple(table.shape)} does not fit the model's "
                           f"{tuple(mine.shape)} (another number of heads); not loaded.")
            del state[key]
        elif table.shape[0] != mine.shape[0]:
            state[key] = resize_relative_position_bias_table(table, mine.shape[0])
    return state


def load_swin_pretrained(model: nn.Module, checkpoint: Optional[str],
                         logger: Optional[logging.Logger] = None) -> None:
    """Read ``checkpoint`` safely, adapt it (:func:`adapt_swin_state_dict`) and load it
    non-strictly into ``model``, warning about what did not match."""
    if not checkpoint:
        raise ConfigError("init_cfg type 'Pretrained' needs a 'checkpoint' (a path or URL).")
    weights = _weights(load_checkpoint_file(checkpoint), checkpoint)
    load_state_dict(model, adapt_swin_state_dict(model, weights, logger), strict=False,
                    logger=logger, source=checkpoint)
