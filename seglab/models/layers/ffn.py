"""``FFN``: the transformer feed-forward block with its residual (``mmcv.cnn.bricks.transformer``).

The layout equals MMCV's so checkpoints load strictly: for ``num_fcs=2``

* ``layers.0`` = Sequential(Linear(embed_dims, feedforward_channels), activation, Dropout)
  -> ``layers.0.0.weight``, ``layers.0.0.bias``;
* ``layers.1`` = Linear(feedforward_channels, embed_dims) -> ``layers.1.weight``, ``layers.1.bias``;
* ``layers.2`` = Dropout.

Each extra fc adds one more ``Sequential(Linear(feedforward_channels, feedforward_channels), ...)``
before the last Linear.
"""
from __future__ import annotations

from typing import Mapping, Optional

import torch
from torch import nn

from ...errors import ConfigError
from .activation import build_activation_layer
from .drop import build_dropout
from .weight_init import InitCfg, initialize


class FFN(nn.Module):
    """Feed-forward network with identity connection.

    Args:
        embed_dims: input and output token dimension.
        feedforward_channels: hidden dimension.
        num_fcs: number of Linear layers (at least 2).
        act_cfg: activation after every Linear but the last.
        ffn_drop: dropout probability after each activation and after the last Linear.
        dropout_layer: dropout on the branch before the residual add
            (``dict(type='DropPath', drop_prob=0.1)``); None means none.
        add_identity: add the residual (``identity`` or the input).
        init_cfg: ``init_cfg`` dicts applied by :meth:`init_weights`; None keeps PyTorch's init.

    Shape:
        (..., embed_dims) -> (..., embed_dims).
    """

    def __init__(self, embed_dims: int = 256, feedforward_channels: int = 1024, num_fcs: int = 2,
                 act_cfg: Mapping = dict(type="ReLU", inplace=True), ffn_drop: float = 0.0,
                 dropout_layer: Optional[Mapping] = None, add_identity: bool = True,
                 init_cfg: InitCfg = None):
        super().__init__()
        if num_fcs < 2:
            raise ConfigError(f"FFN: num_fcs must be at least 2, got {num_fcs}")
        self.embed_dims, self.feedforward_channels = embed_dims, feedforward_channels
        self.num_fcs, self.act_cfg, self.init_cfg = num_fcs, act_cfg, init_cfg
        # One activation module shared by every hidden layer, as MMCV builds it (no parameters,
        # so sharing changes no state_dict key).
        self.activate = build_activation_layer(act_cfg)
        layers = []
        in_channels = embed_dims
        for _ in range(num_fcs - 1):
            layers.append(nn.Sequential(nn.Linear(in_channels, feedforward_channels),
                                        self.activate, nn.Dropout(ffn_drop)))
            in_channels = feedforward_channels
        layers.append(nn.Linear(feedforward_channels, embed_dims))
        layers.append(nn.Dropout(ffn_drop))
        self.layers = nn.Sequential(*layers)
        self.dropout_layer = build_dropout(dropout_layer) if dropout_layer else nn.Identity()
        self.add_identity = add_identity

    def init_weights(self) -> None:
        """Apply ``init_cfg`` (None keeps PyTorch's default init, as MMCV's BaseModule)."""
        initialize(self, self.init_cfg)

    def forward(self, x: torch.Tensor, identity: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``identity + dropout_layer(layers(x))`` (``identity`` defaults to ``x``).

        Args:
            x: (..., embed_dims) tokens.
            identity: residual of ``x``'s shape; ignored when ``add_identity`` is False.

        Returns:
            Tensor of ``x``'s shape.
        """
        out = self.dropout_layer(self.layers(x))
        if not self.add_identity:
            return out
        return (x if identity is None else identity) + out
