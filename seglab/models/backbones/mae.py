"""``MAE``: MMSegmentation 0.x's MAE backbone (``mmseg.models.backbones.mae``).

BEiT's blocks (layer scale, a relative position bias table per layer) with a plain ``qkv`` bias
instead of BEiT's q/v biases, and a learned absolute ``pos_embed`` (cls + Wh * Ww tokens) added
after the cls token is prepended. MMSeg initialises the relative tables to 0 (the pre-trained
MAE weights have none), so they start as no bias. ``with_cls_token`` / ``output_cls_token`` as in
ViT.

Extra keys over :class:`~seglab.models.backbones.BEiT`: ``pos_embed`` and
``layers.0.attn.qkv.bias`` (no ``q_bias`` / ``v_bias``).
"""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers.weight_init import InitCfg
from .beit import BEiT
from .beit_layer import Bias

Output = Union[torch.Tensor, List[torch.Tensor]]


@MODELS.register_module()
class MAE(BEiT):
    """MAE (`Masked Autoencoders Are Scalable Vision Learners <https://arxiv.org/abs/2111.06377>`_).

    Args:
        img_size: training image size; sets the ``pos_embed`` and relative position grids.
        patch_size: side of the square patches (the output stride).
        in_channels: image channels.
        embed_dims: token dimension (channels of every output).
        num_layers: transformer blocks.
        num_heads: attention heads per block.
        mlp_ratio: FFN hidden width = ``mlp_ratio * embed_dims``.
        out_indices: blocks whose outputs are returned (an int; -1 = the last block).
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth, growing linearly to this value over the blocks.
        with_cls_token: keep the cls token in the transformer input.
        output_cls_token: each output becomes ``[map, cls_token (N, embed_dims)]``.
        norm_cfg: norm of the blocks (and of the patch embedding / the final norm).
        act_cfg: FFN activation.
        patch_norm: a norm after the patch embedding.
        final_norm: a norm (``ln1``) after the last block.
        num_fcs: Linear layers per FFN.
        norm_eval: keep the LayerNorms in eval mode while training.
        pretrained: checkpoint path (deprecated form of ``init_cfg``).
        init_values: initial value of the layer-scale vectors.
        init_cfg: init dicts; None gives MMSeg's default init.

    Shape:
        (N, in_channels, H, W) with (H, W) = ``img_size`` -> tuple of
        (N, embed_dims, H // p, W // p) maps (``[map, (N, embed_dims)]`` pairs with
        ``output_cls_token``), one per ``out_indices``.
    """

    def __init__(self, img_size: Union[int, Sequence[int]] = 224, patch_size: int = 16,
                 in_channels: int = 3, embed_dims: int = 768, num_layers: int = 12,
                 num_heads: int = 12, mlp_ratio: int = 4,
                 out_indices: Union[int, Sequence[int]] = -1, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, with_cls_token: bool = True,
                 output_cls_token: bool = False, norm_cfg: Mapping = dict(type="LN"),
                 act_cfg: Mapping = dict(type="GELU"), patch_norm: bool = False,
                 final_norm: bool = False, num_fcs: int = 2, norm_eval: bool = False,
                 pretrained: Optional[str] = None, init_values: float = 0.1,
                 init_cfg: InitCfg = None):
        if output_cls_token and not with_cls_token:
            raise ConfigError("MAE: output_cls_token=True needs with_cls_token=True "
                              f"(got with_cls_token={with_cls_token!r})")
        super().__init__(img_size=img_size, patch_size=patch_size, in_channels=in_channels,
                         embed_dims=embed_dims, num_layers=num_layers, num_heads=num_heads,
                         mlp_ratio=mlp_ratio, out_indices=out_indices, qv_bias=False,
                         attn_drop_rate=attn_drop_rate, drop_path_rate=drop_path_rate,
                         norm_cfg=norm_cfg, act_cfg=act_cfg, patch_norm=patch_norm,
                         final_norm=final_norm, num_fcs=num_fcs, norm_eval=norm_eval,
                         pretrained=pretrained, init_values=init_values, init_cfg=init_cfg)
        self.with_cls_token, self.output_cls_token = with_cls_token, output_cls_token
        self.num_patches = self.patch_shape[0] * self.patch_shape[1]
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_patches + 1, embed_dims))

    @staticmethod
    def _layer_bias(qv_bias: bool) -> Bias:
        return True  # MAE's blocks: one bias on the fused qkv projection

    def forward(self, x: torch.Tensor) -> Tuple[Output, ...]:
        """Args: x: (N, C, H, W). Returns: one output per selected block (see the class doc)."""
        x, hw_shape = self._tokens(x)
        if x.shape[1] != self.pos_embed.shape[1]:
            raise ValueError(f"MAE: {x.shape[1] - 1} patches, but pos_embed holds "
                             f"{self.num_patches} ({self.patch_shape[0]} x {self.patch_shape[1]}"
                             f" = img_size // patch_size); feed images of img_size")
        x = x + self.pos_embed
        if not self.with_cls_token:
            x = x[:, 1:]
        return self._run_blocks(x, hw_shape)
