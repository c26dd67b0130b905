"""``BEiT``: MMSegmentation 0.x's BEiT backbone (``mmseg.models.backbones.beit``).

Image -> non-overlapping ``patch_size`` patches (``patch_embed``, a strided conv with bias and no
padding) -> cls token prepended (no absolute position embedding: every block has its own
relative position bias) -> ``num_layers`` :class:`BEiTTransformerEncoderLayer` blocks with layer
scale; the optional final norm ``ln1`` follows the last block. Every block in ``out_indices``
gives an (N, embed_dims, H // patch_size, W // patch_size) map.

The relative position tables are built for the ``img_size // patch_size`` grid, so the input
must have ``img_size`` (MMSeg trains and tests BEiT on fixed crops, slide inference included).
A pre-trained checkpoint for another (square) grid has its tables resized on loading, with
MMSeg's numbers (:mod:`.beit_rel_pos`).

state_dict keys equal MMSeg's: ``cls_token``, ``patch_embed.projection.weight``,
``layers.0.gamma_1``, ``layers.0.attn.q_bias``, ``layers.0.attn.relative_position_bias_table``,
``layers.0.attn.relative_position_index``, ``layers.0.attn.qkv.weight``,
``layers.0.ffn.layers.0.0.weight``, ``ln1.weight`` (with ``final_norm``).
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ...checkpoint import load_checkpoint_file, load_state_dict
from ...errors import ConfigError
from ...registry import MODELS
from ..layers import PatchEmbed
from ..layers.weight_init import InitCfg
from .beit_layer import Bias, BEiTTransformerEncoderLayer
from .beit_rel_pos import resize_rel_pos_bias_table
from .vit import TokenBackbone, _image_size, block_out_indices


@MODELS.register_module()
class BEiT(TokenBackbone):
    """BEiT (`BERT Pre-Training of Image Transformers <https://arxiv.org/abs/2106.08254>`_).

    Args:
        img_size: training image size (H, W) or one int; the relative position grid is
            ``img_size // patch_size``.
        patch_size: side of the square patches (the output stride).
        in_channels: image channels.
        embed_dims: token dimension (channels of every output).
        num_layers: transformer blocks.
        num_heads: attention heads per block.
        mlp_ratio: FFN hidden width = ``mlp_ratio * embed_dims``.
        out_indices: blocks whose outputs are returned (an int; -1 = the last block).
        qv_bias: learned q and v biases (``attn.q_bias`` / ``attn.v_bias``; ``qkv`` has none).
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth, growing linearly to this value over the blocks.
        norm_cfg: norm of the blocks (and of the patch embedding / the final norm).
        act_cfg: FFN activation.
        patch_norm: a norm after the patch embedding (``patch_embed.norm``).
        final_norm: a norm (``ln1``) after the last block.
        num_fcs: Linear layers per FFN.
        norm_eval: keep the LayerNorms in eval mode while training.
        pretrained: checkpoint path (deprecated form of ``init_cfg``).
        init_values: initial value of the layer-scale vectors ``gamma_1`` / ``gamma_2``.
        init_cfg: ``dict(type='Pretrained', checkpoint=...)`` or other init dicts; None gives
            MMSeg's default init (truncated normal).

    Shape:
        (N, in_channels, H, W) with (H, W) = ``img_size`` -> tuple of
        (N, embed_dims, H // p, W // p) maps, one per ``out_indices``.
    """

    def __init__(self, img_size: Union[int, Sequence[int]] = 224, patch_size: int = 16,
                 in_channels: int = 3, embed_dims: int = 768, num_layers: int = 12,
                 num_heads: int = 12, mlp_ratio: int = 4,
                 out_indices: Union[int, Sequence[int]] = -1, qv_bias: bool = True,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 norm_cfg: Mapping = dict(type="LN"), act_cfg: Mapping = dict(type="GELU"),
                 patch_norm: bool = False, final_norm: bool = False, num_fcs: int = 2,
                 norm_eval: bool = False, pretrained: Optional[str] = None,
                 init_values: float = 0.1, init_cfg: InitCfg = None):
        super().__init__(pretrained=pretrained, init_cfg=init_cfg, norm_eval=norm_eval)
        self.img_size = _image_size(img_size)
        self.patch_size, self.embed_dims = int(patch_size), embed_dims
        self.window_size = (self.img_size[0] // self.patch_size,
                            self.img_size[1] // self.patch_size)
        self.patch_shape = self.window_size
        self.out_indices = block_out_indices(type(self).__name__, out_indices, num_layers)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.patch_embed = PatchEmbed(in_channels=in_channels, embed_dims=embed_dims,
                                      conv_type="Conv2d", kernel_size=patch_size,
                                      stride=patch_size, padding=0, bias=True,
                                      norm_cfg=norm_cfg if patch_norm else None)
        # float32 linspace as MMSeg (same rates); on the CPU so meta-device builds work too.
        rates = [r.item() for r in torch.linspace(0, drop_path_rate, num_layers, device="cpu")]
        self.layers = nn.ModuleList(
            BEiTTransformerEncoderLayer(embed_dims=embed_dims, num_heads=num_heads,
                                        feedforward_channels=mlp_ratio * embed_dims,
                                        attn_drop_rate=attn_drop_rate, drop_path_rate=rates[i],
                                        num_fcs=num_fcs, bias=self._layer_bias(qv_bias),
                                        act_cfg=act_cfg, norm_cfg=norm_cfg,
                                        window_size=self.window_size, init_values=init_values)
            for i in range(num_layers))
        self._add_final_norm(final_norm, norm_cfg, embed_dims)

    @staticmethod
    def _layer_bias(qv_bias: bool) -> Bias:
        """The blocks' q/k/v bias mode (MAE overrides: a plain ``qkv`` bias)."""
        return "qv_bias" if qv_bias else False

    def _load_pretrained(self, checkpoint: str) -> None:
        """The checkpoint's weights (relative position tables resized to the grid)."""
        loaded = load_checkpoint_file(checkpoint, map_location="cpu")
        state_dict = dict(loaded.get("state_dict", loaded))
        own = self.state_dict()
        for key in list(state_dict):
            # The index is rebuilt from the grid, as MMSeg drops it from checkpoints.
            if "relative_position_index" in key:
                state_dict.pop(key)
            elif ("relative_position_bias_table" in key and key in own
                  and state_dict[key].shape != own[key].shape):
                # Pre-trained on another grid (e.g. 224 // 16 = 14, fine-tuned at 640 // 16):
                # resampled as MMSeg does (geometric source offsets, bicubic spline).
                if self.patch_shape[0] != self.patch_shape[1]:
                    raise ConfigError(
                        f"{checkpoint}: {key} has shape {tuple(state_dict[key].shape)}, the "
                        f"model {tuple(own[key].shape)}; resizing relative position tables "
                        f"needs a square patch grid (as MMSeg), got {self.patch_shape} from "
                        f"img_size={self.img_size}: use a square img_size")
                state_dict[key] = resize_rel_pos_bias_table(state_dict[key], self.patch_shape[0])
        load_state_dict(self, state_dict, strict=False, source=str(checkpoint))

    def _tokens(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Patch tokens with the cls token in front: (N, 1 + h * w, C) and (h, w)."""
        x, hw_shape = self.patch_embed(x)
        return torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1), hw_shape

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x: (N, C, H, W). Returns: one (N, embed_dims, h, w) map per selected block."""
        x, hw_shape = self._tokens(x)
        return self._run_blocks(x, hw_shape)
