"""``SegmenterMaskTransformerHead``: Segmenter's mask transformer decoder (`Segmenter
<https://arxiv.org/abs/2105.05633>`_, ``mmseg.models.decode_heads.SegmenterMaskTransformerHead``).

The selected (N, in_channels, h, w) map becomes h * w tokens, projected by ``dec_proj``; one
learned class embedding per class (``cls_emb``) is appended and the sequence runs through
``num_layers`` ViT blocks (``layers``) and ``decoder_norm``. The patch tokens (``patch_proj``)
and the class tokens (``classes_proj``) are L2-normalised; their dot products are the
(N, h * w, num_classes) masks, layer-normalised over the classes (``mask_norm``): these are the
logits, so the head has no ``conv_seg`` (MMSeg deletes it; the keys follow).
"""
from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..backbones.vit_layer import TransformerEncoderLayer
from ..layers import build_norm_layer, constant_init, trunc_normal_init
from .decode_head import BaseDecodeHead, Inputs


def class_masks(patches: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every patch token with every class token.

    Args:
        patches: (N, L, C) projected patch tokens.
        classes: (N, K, C) projected class tokens.

    Returns:
        (N, L, K) masks, ``normalize(patches) @ normalize(classes)^T``.
    """
    patches = F.normalize(patches, dim=2, p=2)
    classes = F.normalize(classes, dim=2, p=2)
    return patches @ classes.transpose(1, 2)


@MODELS.register_module()
class SegmenterMaskTransformerHead(BaseDecodeHead):
    """Class embeddings decoded jointly with the patch tokens; masks are their similarities.

    Args:
        in_channels: channels of the selected backbone map.
        num_layers: transformer blocks of the decoder.
        num_heads: attention heads per block.
        embed_dims: token dimension of the decoder.
        mlp_ratio: FFN hidden width = ``mlp_ratio * embed_dims``.
        drop_path_rate: stochastic depth, growing linearly to this value over the blocks.
        drop_rate: dropout inside the blocks.
        attn_drop_rate: dropout on the attention weights.
        num_fcs: Linear layers per FFN.
        qkv_bias: biases of the attention projections.
        act_cfg: FFN activation.
        norm_cfg: norm of the blocks, ``decoder_norm`` and ``mask_norm`` (a LayerNorm: it acts
            on tokens, not on maps).
        init_std: std of the truncated-normal init of ``cls_emb`` and the Linear layers.
        **kwargs: :class:`BaseDecodeHead` keys (``channels``, ``num_classes``, ...).

    Shape:
        inputs[in_index] (N, in_channels, h, w) -> logits (N, num_classes, h, w).
    """

    def __init__(self, in_channels: int, num_layers: int, num_heads: int, embed_dims: int,
                 mlp_ratio: int = 4, drop_path_rate: float = 0.1, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, num_fcs: int = 2, qkv_bias: bool = True,
                 act_cfg: Mapping = dict(type="GELU"), norm_cfg: Mapping = dict(type="LN"),
                 init_std: float = 0.02, **kwargs):
        super().__init__(in_channels=in_channels, **kwargs)
        if not isinstance(self.in_channels, int):
            raise ConfigError(f"SegmenterMaskTransformerHead reads one map: in_channels must be "
                              f"an int, got {self.in_channels!r}")
        if norm_cfg is None or norm_cfg.get("type") != "LN":
            raise ConfigError(f"SegmenterMaskTransformerHead norm_cfg normalises tokens and must "
                              f"be a LayerNorm (dict(type='LN')), got {norm_cfg!r}")
        # The blocks' own configs; the base's conv_args are unused (there is no ConvModule).
        self.norm_cfg, self.act_cfg = norm_cfg, act_cfg
        # float32 linspace on the CPU, as MMSeg (same rates; meta-device builds work too).
        rates = [r.item() for r in torch.linspace(0, drop_path_rate, num_layers, device="cpu")]
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(embed_dims=embed_dims, num_heads=num_heads,
                                    feedforward_channels=mlp_ratio * embed_dims,
                                    drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                                    drop_path_rate=rates[i], num_fcs=num_fcs, qkv_bias=qkv_bias,
                                    act_cfg=act_cfg, norm_cfg=norm_cfg, batch_first=True)
            for i in range(num_layers))
        self.dec_proj = nn.Linear(self.in_channels, embed_dims)
        self.cls_emb = nn.Parameter(torch.randn(1, self.num_classes, embed_dims))
        self.patch_proj = nn.Linear(embed_dims, embed_dims, bias=False)
        self.classes_proj = nn.Linear(embed_dims, embed_dims, bias=False)
        _, self.decoder_norm = build_norm_layer(norm_cfg, embed_dims, postfix=1)
        _, self.mask_norm = build_norm_layer(norm_cfg, self.num_classes, postfix=2)
        self.init_std = init_std
        # The masks are the logits: no classifier (and no conv_seg key, as MMSeg).
        del self.conv_seg

    def init_weights(self) -> None:
        """MMSeg's init: truncated normal (``init_std``) for ``cls_emb`` and every Linear (bias
        0), LayerNorms weight 1 / bias 0."""
        nn.init.trunc_normal_(self.cls_emb, std=self.init_std)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_init(m, std=self.init_std, bias=0)
            elif isinstance(m, nn.LayerNorm):
                constant_init(m, val=1.0, bias=0.0)

    def cls_seg(self, feat: torch.Tensor) -> torch.Tensor:
        """Identity: the masks already are the logits (MMSeg applies no dropout to them)."""
        return feat

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        x = self._transform_inputs(inputs)
        n, c, h, w = x.shape
        x = self.dec_proj(x.permute(0, 2, 3, 1).reshape(n, h * w, c))
        x = torch.cat((x, self.cls_emb.expand(n, -1, -1)), dim=1)
        for layer in self.layers:
            x = layer(x)
        x = self.decoder_norm(x)
        k = self.num_classes
        masks = class_masks(self.patch_proj(x[:, :-k]), self.classes_proj(x[:, -k:]))
        masks = self.mask_norm(masks)
        return masks.permute(0, 2, 1).reshape(n, k, h, w).contiguous()

    def forward(self, inputs: Inputs) -> torch.Tensor:
        """Args: inputs: backbone outputs. Returns: logits (N, num_classes, h, w)."""
        return self._forward_feature(inputs)
