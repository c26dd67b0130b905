"""``VisionTransformer``: MMSegmentation 0.x's plain ViT backbone (``mmseg.models.backbones.vit``).

Image -> non-overlapping ``patch_size`` patches (``patch_embed``, a strided conv with bias and
``'corner'`` adaptive padding, so any input size works) -> cls token + learned absolute
``pos_embed`` (resized with ``interpolate_mode`` when the token grid has another length than at
``img_size``) -> ``num_layers`` pre-norm :class:`TransformerEncoderLayer` blocks (``layers.N``);
the optional final norm ``ln1`` follows the last block. Every block in ``out_indices`` gives an
(N, embed_dims, ceil(H / patch_size), ceil(W / patch_size)) map, or ``[map, cls_token]`` with
``output_cls_token``.

state_dict keys equal MMSeg's: ``cls_token``, ``pos_embed``, ``patch_embed.projection.weight``
and ``.bias``, ``layers.0.ln1.weight``, ``layers.0.attn.attn.in_proj_weight``,
``layers.0.ffn.layers.0.0.weight``, ``ln1.weight`` (with ``final_norm``).
"""
from __future__ import annotations

import logging
import math
from typing import List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ...checkpoint import load_checkpoint_file, load_state_dict
from ...errors import ConfigError
from ...registry import MODELS
from ..layers import (PatchEmbed, build_norm_layer, constant_init, initialize, kaiming_init,
                      named_norm, resize_pos_embed)
from ..layers.weight_init import InitCfg
from .base import BaseBackbone, OutputShapes, ShapeSpec
from .vit_layer import TransformerEncoderLayer

Output = Union[torch.Tensor, List[torch.Tensor]]


def _image_size(img_size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    if isinstance(img_size, int):
        return (img_size, img_size)
    size = tuple(int(s) for s in img_size)
    if len(size) == 1:
        return (size[0], size[0])
    if len(size) != 2:
        raise ConfigError(f"VisionTransformer img_size must be an int or (H, W), got {img_size!r}")
    return size  # type: ignore[return-value]


def block_out_indices(name: str, out_indices: Union[int, Sequence[int]],
                      num_layers: int) -> Tuple[int, ...]:
    """The transformer blocks whose outputs a ViT-like backbone returns (a lone -1: the last).

    Raises:
        ConfigError: not an int/list/tuple, or an index outside ``0..num_layers - 1`` (MMSeg
            would silently return fewer outputs for it).
    """
    if isinstance(out_indices, int):
        indices: Tuple[int, ...] = (num_layers - 1 if out_indices == -1 else out_indices,)
    elif isinstance(out_indices, (list, tuple)):
        indices = tuple(out_indices)
    else:
        raise ConfigError(f"{name} out_indices must be an int, list or tuple, got "
                          f"{out_indices!r}")
    bad = [i for i in indices if not 0 <= i < num_layers]
    if bad:
        raise ConfigError(f"{name} out_indices {indices}: {bad} not in "
                          f"0..{num_layers - 1} (num_layers={num_layers}; only a lone -1 "
                          f"means the last block)")
    return indices


def init_vit_weights(model: nn.Module) -> None:
    """MMSeg's default init of ViT-like backbones (timm's 'jax_impl'), after the caller has drawn
    its token/position embeddings: truncated-normal Linear weights (FFN biases ~N(0, 1e-6), other
    biases 0), Kaiming fan-in convs, norms to 1/0."""
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                if "ffn" in name:
                    nn.init.normal_(m.bias, mean=0.0, std=1e-6)
                else:
                    nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.Conv2d):
            kaiming_init(m, mode="fan_in", bias=0.0)
        elif isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)):
            constant_init(m, val=1.0, bias=0.0)


class TokenBackbone(BaseBackbone):
    """What the plain-transformer backbones (ViT, BEiT, MAE) share.

    The optional final norm ``ln1`` after the last block, ``init_cfg`` handling (a
    ``Pretrained`` dict goes to the subclass's ``_load_pretrained``, other dicts to
    :func:`initialize`, None to ``_default_init``), the block loop that turns the selected blocks'
    tokens into maps (``[map, cls_token]`` pairs with ``output_cls_token``), and ``norm_eval``
    for the LayerNorms.
    """

    with_cls_token = True
    output_cls_token = False

    def _add_final_norm(self, final_norm: bool, norm_cfg: Mapping, embed_dims: int) -> None:
        self.final_norm = final_norm
        if final_norm:
            self.norm1_name, norm1 = build_norm_layer(norm_cfg, embed_dims, postfix=1)
            self.add_module(self.norm1_name, norm1)

    norm1 = named_norm(1)

    def output_shapes(self) -> OutputShapes:
        """``embed_dims`` channels at stride ``patch_size`` per selected block (None for pairs)."""
        spec = None if self.output_cls_token else ShapeSpec(self.embed_dims, self.patch_size)
        return tuple(spec for i in range(len(self.layers)) if i in self.out_indices)

    def init_weights(self) -> None:
        """Pretrained weights, the given init dicts, or MMSeg's default init."""
        cfg = self.init_cfg
        if isinstance(cfg, Mapping) and cfg.get("type") == "Pretrained":
            checkpoint = cfg.get("checkpoint")
            if not checkpoint:
                raise ConfigError("init_cfg type 'Pretrained' needs a 'checkpoint' (a path or URL).")
            self._load_pretrained(checkpoint)
        elif cfg is not None:
            initialize(self, cfg)
        else:
            self._default_init()

    def _default_init(self) -> None:
        # timm's 'jax_impl' init, as MMSeg.
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        init_vit_weights(self)

    def _load_pretrained(self, checkpoint: str) -> None:
        raise NotImplementedError

    def _run_blocks(self, x: torch.Tensor, hw_shape: Tuple[int, int]) -> Tuple[Output, ...]:
        """(N, L, C) tokens through every block; one output per block in ``out_indices``."""
        outs: List[Output] = []
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == last and self.final_norm:
                x = self.norm1(x)
            if i in self.out_indices:
                tokens = x[:, 1:] if self.with_cls_token else x
                out = tokens.reshape(x.shape[0], hw_shape[0], hw_shape[1], -1)
                out = out.permute(0, 3, 1, 2).contiguous()
                outs.append([out, x[:, 0]] if self.output_cls_token else out)
        return tuple(outs)

    def train(self, mode: bool = True) -> "TokenBackbone":
        """Switch mode; with ``norm_eval`` the LayerNorms stay in eval (as MMSeg's)."""
        super().train(mode)
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.LayerNorm):
                    m.eval()
        return self


@MODELS.register_module()
class VisionTransformer(TokenBackbone):
    """Vision Transformer (`An Image is Worth 16x16 Words <https://arxiv.org/abs/2010.11929>`_).

    Args:
        img_size: training image size (H, W) or one int; sets the ``pos_embed`` grid
            (``img_size // patch_size``).
        patch_size: side of the square patches (the output stride).
        in_channels: image channels.
        embed_dims: token dimension (channels of every output).
        num_layers: transformer blocks.
        num_heads: attention heads per block.
        mlp_ratio: FFN hidden width = ``mlp_ratio * embed_dims``.
        out_indices: blocks whose outputs are returned (an int; -1 = the last block).
        qkv_bias: biases of the attention projections.
        drop_rate: dropout after the position embedding and inside each block.
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth, growing linearly to this value over the blocks.
        with_cls_token: keep the cls token in the transformer input (removed before the
            blocks otherwise).
        output_cls_token: each output becomes ``[map, cls_token (N, embed_dims)]``; needs
            ``with_cls_token``.
        norm_cfg: norm of the blocks (and of the patch embedding / the final norm).
        act_cfg: FFN activation.
        patch_norm: a norm after the patch embedding (``patch_embed.norm``).
        final_norm: a norm (``ln1``) after the last block.
        interpolate_mode: ``F.interpolate`` mode of the ``pos_embed`` resize.
        num_fcs: Linear layers per FFN.
        norm_eval: keep the LayerNorms in eval mode while training (as MMSeg; no statistics).
        with_cp: gradient checkpointing per block while training.
        pretrained: checkpoint path (deprecated form of ``init_cfg``).
        init_cfg: ``dict(type='Pretrained', checkpoint=...)`` or other init dicts; None gives
            MMSeg's default init (truncated normal).

    Shape:
        (N, in_channels, H, W) -> tuple of (N, embed_dims, ceil(H / p), ceil(W / p)) maps
        (``[map, (N, embed_dims)]`` pairs with ``output_cls_token``), one per ``out_indices``.
    """

    def __init__(self, img_size: Union[int, Sequence[int]] = 224, patch_size: int = 16,
                 in_channels: int = 3, embed_dims: int = 768, num_layers: int = 12,
                 num_heads: int = 12, mlp_ratio: int = 4,
                 out_indices: Union[int, Sequence[int]] = -1, qkv_bias: bool = True,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, with_cls_token: bool = True,
                 output_cls_token: bool = False, norm_cfg: Mapping = dict(type="LN"),
                 act_cfg: Mapping = dict(type="GELU"), patch_norm: bool = False,
                 final_norm: bool = False, interpolate_mode: str = "bicubic", num_fcs: int = 2,
                 norm_eval: bool = False, with_cp: bool = False,
                 pretrained: Optional[str] = None, init_cfg: InitCfg = None):
        super().__init__(pretrained=pretrained, init_cfg=init_cfg, norm_eval=norm_eval)
        if output_cls_token and not with_cls_token:
            raise ConfigError("VisionTransformer: output_cls_token=True needs with_cls_token=True "
                              f"(got with_cls_token={with_cls_token!r})")
        self.img_size = _image_size(img_size)
        self.patch_size, self.embed_dims = int(patch_size), embed_dims
        self.interpolate_mode, self.with_cp = interpolate_mode, with_cp
        self.with_cls_token, self.output_cls_token = with_cls_token, output_cls_token
        self.out_indices = block_out_indices("VisionTransformer", out_indices, num_layers)

        # 0.x always gives the patch conv a bias (1.x's patch_bias=False would drop the key).
        self.patch_embed = PatchEmbed(in_channels=in_channels, embed_dims=embed_dims,
                                      conv_type="Conv2d", kernel_size=patch_size,
                                      stride=patch_size, padding="corner", bias=True,
                                      norm_cfg=norm_cfg if patch_norm else None)
        self.pos_grid = (self.img_size[0] // self.patch_size, self.img_size[1] // self.patch_size)
        num_patches = self.pos_grid[0] * self.pos_grid[1]
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, embed_dims))
        self.drop_after_pos = nn.Dropout(p=drop_rate)

        # float32 linspace as MMSeg (same rates); on the CPU so meta-device builds work too.
        rates = [r.item() for r in torch.linspace(0, drop_path_rate, num_layers, device="cpu")]
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(embed_dims=embed_dims, num_heads=num_heads,
                                    feedforward_channels=mlp_ratio * embed_dims,
                                    drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                                    drop_path_rate=rates[i], num_fcs=num_fcs, qkv_bias=qkv_bias,
                                    act_cfg=act_cfg, norm_cfg=norm_cfg, batch_first=True,
                                    with_cp=with_cp)
            for i in range(num_layers))
        self._add_final_norm(final_norm, norm_cfg, embed_dims)

    def _default_init(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        super()._default_init()

    def _load_pretrained(self, checkpoint: str) -> None:
        """The checkpoint's weights, its ``pos_embed`` resized to ``img_size``'s grid."""
        loaded = load_checkpoint_file(checkpoint, map_location="cpu")
        state_dict = dict(loaded.get("state_dict", loaded))
        pos = state_dict.get("pos_embed")
        if isinstance(pos, torch.Tensor) and pos.shape != self.pos_embed.shape:
            # A square grid trained at another size (e.g. 224 -> 512 crops), as MMSeg assumes.
            side = int(math.sqrt(pos.shape[1] - 1))
            logging.getLogger("seglab").info(f"Resize the pos_embed shape from "
                                             f"{tuple(pos.shape)} to {tuple(self.pos_embed.shape)}")
            state_dict["pos_embed"] = resize_pos_embed(pos, self.pos_grid, (side, side),
                                                       self.interpolate_mode)
        load_state_dict(self, state_dict, strict=False, source=str(checkpoint))

    def _pos_embedding(self, tokens: torch.Tensor, hw_shape: Tuple[int, int]) -> torch.Tensor:
        """Add ``pos_embed`` to (N, 1 + h * w, C) tokens, resized when the lengths differ."""
        pos_embed = self.pos_embed
        if tokens.shape[1] != pos_embed.shape[1]:
            pos_embed = resize_pos_embed(pos_embed, hw_shape, self.pos_grid,
                                         self.interpolate_mode)
        return self.drop_after_pos(tokens + pos_embed)

    def forward(self, x: torch.Tensor) -> Tuple[Output, ...]:
        """Args: x: (N, C, H, W). Returns: one output per selected block (see the class doc)."""
        n = x.shape[0]
        x, hw_shape = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(n, -1, -1), x), dim=1)
        x = self._pos_embedding(x, hw_shape)
        if not self.with_cls_token:
            x = x[:, 1:]
        return self._run_blocks(x, hw_shape)
