"""``SwinTransformer`` backbone (`Swin Transformer <https://arxiv.org/abs/2103.14030>`_).

Same constructor keys, module names (``patch_embed``, ``stages.i.blocks.j.{norm1, attn.w_msa,
norm2, ffn}``, ``stages.i.downsample``, ``norm{i}`` per output) and numerics as MMSegmentation
0.x's ``mmseg.models.backbones.SwinTransformer``, so its checkpoints load strictly. Original
(Microsoft) weights are converted by ``seglab.checkpoint.converters.convert_swin``
(``tools/model_converters/swin2mmseg.py``).
"""
from __future__ import annotations

import logging
from typing import List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.utils.checkpoint as cp
from torch import nn
from torch.nn.modules.utils import _pair

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import build_norm_layer, constant_init, initialize, trunc_normal_init
from ..layers.ffn import FFN
from ..layers.patch_embed import PatchEmbed, PatchMerging
from ..layers.pos_embed import resize_pos_embed
from ..layers.weight_init import InitCfg
from .base import BaseBackbone, OutputShapes, shape_specs
from .swin_attention import ShiftWindowMSA
from .swin_pretrained import load_swin_pretrained


class SwinBlock(nn.Module):
    """One Swin block: ``x + attn(norm1(x))`` then ``x + ffn(norm2(x))``.

    Args:
        embed_dims: token dimension.
        num_heads: attention heads.
        feedforward_channels: FFN hidden dimension.
        window_size: window side.
        shift: shift the windows by ``window_size // 2`` (every second block of a stage).
        qkv_bias: bias of the qkv Linear.
        qk_scale: logit scale override.
        drop_rate: dropout after the attention projection and in the FFN.
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth of both residual branches.
        act_cfg: FFN activation.
        norm_cfg: norm of ``norm1`` / ``norm2``.
        with_cp: gradient checkpointing of the block while training.

    Shape:
        ((B, H * W, C), (H, W)) -> (B, H * W, C).
    """

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int,
                 window_size: int = 7, shift: bool = False, qkv_bias: bool = True,
                 qk_scale: Optional[float] = None, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 act_cfg: Mapping = dict(type="GELU"), norm_cfg: Mapping = dict(type="LN"),
                 with_cp: bool = False):
        super().__init__()
        self.with_cp = with_cp
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = ShiftWindowMSA(
            embed_dims=embed_dims, num_heads=num_heads, window_size=window_size,
            shift_size=window_size // 2 if shift else 0, qkv_bias=qkv_bias, qk_scale=qk_scale,
            attn_drop_rate=attn_drop_rate, proj_drop_rate=drop_rate,
            dropout_layer=dict(type="DropPath", drop_prob=drop_path_rate))
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = FFN(embed_dims=embed_dims, feedforward_channels=feedforward_channels,
                       num_fcs=2, ffn_drop=drop_rate,
                       dropout_layer=dict(type="DropPath", drop_prob=drop_path_rate),
                       act_cfg=act_cfg, add_identity=True)

    def _inner_forward(self, x: torch.Tensor, hw_shape: Tuple[int, int]) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), hw_shape)
        return self.ffn(self.norm2(x), identity=x)

    def forward(self, x: torch.Tensor, hw_shape: Tuple[int, int]) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, hw_shape, use_reentrant=False)
        return self._inner_forward(x, hw_shape)


class SwinBlockSequence(nn.Module):
    """One Swin stage: ``depth`` blocks (plain and shifted windows alternating), then an optional
    ``downsample`` (a :class:`PatchMerging`).

    Args:
        embed_dims: token dimension.
        num_heads: attention heads.
        feedforward_channels: FFN hidden dimension.
        depth: number of blocks.
        window_size: window side.
        qkv_bias: bias of the qkv Linears.
        qk_scale: logit scale override.
        drop_rate: dropout rate.
        attn_drop_rate: attention dropout rate.
        drop_path_rate: one rate for all blocks or a list of ``depth`` rates.
        downsample: module applied after the blocks, or None.
        act_cfg: FFN activation.
        norm_cfg: norm of the blocks.
        with_cp: gradient checkpointing per block.

    Shape:
        ((B, H * W, C), (H, W)) -> (x_down, down_hw_shape, x, hw_shape): the downsampled tokens
        and grid (the stage output itself when there is no ``downsample``) and the stage output.
    """

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int, depth: int,
                 window_size: int = 7, qkv_bias: bool = True, qk_scale: Optional[float] = None,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: Union[float, Sequence[float]] = 0.0,
                 downsample: Optional[nn.Module] = None, act_cfg: Mapping = dict(type="GELU"),
                 norm_cfg: Mapping = dict(type="LN"), with_cp: bool = False):
        super().__init__()
        if isinstance(drop_path_rate, (list, tuple)):
            if len(drop_path_rate) != depth:
                raise ConfigError(f"SwinBlockSequence: {len(drop_path_rate)} drop path rates "
                                  f"for depth={depth}")
            rates = list(drop_path_rate)
        else:
            rates = [drop_path_rate] * depth
        self.blocks = nn.ModuleList(
            SwinBlock(embed_dims=embed_dims, num_heads=num_heads,
                      feedforward_channels=feedforward_channels, window_size=window_size,
                      shift=i % 2 == 1, qkv_bias=qkv_bias, qk_scale=qk_scale,
                      drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                      drop_path_rate=rates[i], act_cfg=act_cfg, norm_cfg=norm_cfg,
                      with_cp=with_cp)
            for i in range(depth))
        self.downsample = downsample

    def forward(self, x: torch.Tensor, hw_shape: Tuple[int, int]):
        for block in self.blocks:
            x = block(x, hw_shape)
        if self.downsample is None:
            return x, hw_shape, x, hw_shape
        x_down, down_hw_shape = self.downsample(x, hw_shape)
        return x_down, down_hw_shape, x, hw_shape


@MODELS.register_module()
class SwinTransformer(BaseBackbone):
    """Swin Transformer: patch embedding, then stages of (shifted-)window attention blocks with
    patch merging between them; each output is normalised by its own ``norm{i}``.

    Args:
        pretrain_img_size: image size of pre-training (shapes ``absolute_pos_embed``).
        in_channels: image channels.
        embed_dims: token dimension of the first stage (stage i has ``embed_dims * 2**i``).
        patch_size: patch embedding size; must equal ``strides[0]``.
        window_size: attention window side.
        mlp_ratio: FFN hidden dimension / token dimension.
        depths: blocks per stage.
        num_heads: attention heads per stage.
        strides: patch embedding stride, then the patch merging stride of each later stage.
        out_indices: stages whose (normalised) outputs are returned.
        qkv_bias: bias of the qkv Linears.
        qk_scale: logit scale override (None: ``head_dims ** -0.5``).
        patch_norm: norm in the patch embedding and the patch merging layers.
        drop_rate: dropout rate (after the position embedding, in attention and FFN outputs).
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth, rising linearly from 0 over all blocks.
        use_abs_pos_embed: add a learned absolute position embedding after the patch embedding.
        act_cfg: FFN activation.
        norm_cfg: norm of the blocks, the patch layers and the outputs.
        with_cp: gradient checkpointing per block.
        pretrained: checkpoint path (deprecated form of ``init_cfg``).
        frozen_stages: freeze the patch embedding (0) and stages ``1..frozen_stages`` with their
            output norms; -1 freezes nothing.
        init_cfg: ``dict(type='Pretrained', checkpoint=...)`` or other init dicts.

    Shape:
        (N, in_channels, H, W) -> tuple of (N, embed_dims * 2**i, ceil(H / s_i), ceil(W / s_i))
        for i in ``out_indices``, s_i = ``patch_size * strides[1] * ... * strides[i]``.
    """

    def __init__(self, pretrain_img_size: Union[int, Tuple[int, int]] = 224,
                 in_channels: int = 3, embed_dims: int = 96, patch_size: int = 4,
                 window_size: int = 7, mlp_ratio: float = 4, depths: Sequence[int] = (2, 2, 6, 2),
                 num_heads: Sequence[int] = (3, 6, 12, 24),
                 strides: Sequence[int] = (4, 2, 2, 2),
                 out_indices: Sequence[int] = (0, 1, 2, 3), qkv_bias: bool = True,
                 qk_scale: Optional[float] = None, patch_norm: bool = True,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.1, use_abs_pos_embed: bool = False,
                 act_cfg: Mapping = dict(type="GELU"), norm_cfg: Mapping = dict(type="LN"),
                 with_cp: bool = False, pretrained: Optional[str] = None,
                 frozen_stages: int = -1, init_cfg: InitCfg = None):
        super().__init__(pretrained=pretrained, init_cfg=init_cfg, frozen_stages=frozen_stages)
        if isinstance(pretrain_img_size, (tuple, list)) and len(pretrain_img_size) == 1:
            pretrain_img_size = pretrain_img_size[0]
        pretrain_img_size = _pair(pretrain_img_size)
        if len(pretrain_img_size) != 2:
            raise ConfigError(f"SwinTransformer: pretrain_img_size must be an int or (H, W), got "
                              f"{pretrain_img_size!r}")
        num_layers = len(depths)
        if not len(num_heads) == len(strides) == num_layers:
            raise ConfigError(f"SwinTransformer: depths {tuple(depths)}, num_heads "
                              f"{tuple(num_heads)} and strides {tuple(strides)} must have the "
                              f"same length")
        if strides[0] != patch_size:
            raise ConfigError(f"SwinTransformer: strides[0]={strides[0]} must equal "
                              f"patch_size={patch_size} (non-overlapping patch embedding)")
        if any(not 0 <= i < num_layers for i in out_indices):
            raise ConfigError(f"SwinTransformer: out_indices {tuple(out_indices)} must be in "
                              f"[0, {num_layers})")
        self.pretrain_img_size, self.patch_size = pretrain_img_size, patch_size
        self.embed_dims, self.strides = embed_dims, tuple(strides)
        self.out_indices, self.use_abs_pos_embed = tuple(out_indices), use_abs_pos_embed
        self.window_size = window_size

        self.patch_embed = PatchEmbed(
            in_channels=in_channels, embed_dims=embed_dims, conv_type="Conv2d",
            kernel_size=patch_size, stride=strides[0], padding="corner",
            norm_cfg=norm_cfg if patch_norm else None)
        if use_abs_pos_embed:
            patches = (pretrain_img_size[0] // patch_size) * (pretrain_img_size[1] // patch_size)
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, patches, embed_dims))
        self.drop_after_pos = nn.Dropout(p=drop_rate)

        # Stochastic depth rises linearly over all blocks of all stages.
        dpr = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").tolist()
        self.stages = nn.ModuleList()
        dims = embed_dims
        for i in range(num_layers):
            downsample = None
            if i < num_layers - 1:
                downsample = PatchMerging(in_channels=dims, out_channels=2 * dims,
                                          stride=strides[i + 1],
                                          norm_cfg=norm_cfg if patch_norm else None)
            self.stages.append(SwinBlockSequence(
                embed_dims=dims, num_heads=num_heads[i],
                feedforward_channels=int(mlp_ratio * dims), depth=depths[i],
                window_size=window_size, qkv_bias=qkv_bias, qk_scale=qk_scale,
                drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                drop_path_rate=dpr[sum(depths[:i]):sum(depths[:i + 1])],
                downsample=downsample, act_cfg=act_cfg, norm_cfg=norm_cfg, with_cp=with_cp))
            if downsample is not None:
                dims = downsample.out_channels

        self.num_features = [int(embed_dims * 2 ** i) for i in range(num_layers)]
        for i in self.out_indices:
            self.add_module(f"norm{i}", build_norm_layer(norm_cfg, self.num_features[i])[1])
        self._freeze_stages()

    def output_shapes(self) -> OutputShapes:
        """Stage i: ``embed_dims * 2**i`` channels at stride ``patch_size * strides[1..i]``."""
        stride, strides = 1, []
        for s in self.strides:
            stride *= s
            strides.append(stride)
        selected = [i for i in range(len(self.stages)) if i in self.out_indices]
        return shape_specs([self.num_features[i] for i in selected],
                           [strides[i] for i in selected])

    def frozen_modules(self) -> List[nn.Module]:
        """The patch embedding, then ``stages[i - 1]`` and ``norm{i - 1}``, i <= frozen_stages."""
        modules: List[nn.Module] = [self.patch_embed, self.drop_after_pos]
        for i in range(1, self.frozen_stages + 1):
            if i - 1 in self.out_indices:
                modules.append(getattr(self, f"norm{i - 1}"))
            modules.append(self.stages[i - 1])
        return modules

    def _freeze_stages(self) -> None:
        super()._freeze_stages()
        if self.frozen_stages >= 0 and self.use_abs_pos_embed:
            self.absolute_pos_embed.requires_grad = False

    def init_weights(self) -> None:
        """MMSeg's init: truncated-normal Linears (std 0.02) and unit LayerNorms without a
        checkpoint; a ``Pretrained`` checkpoint is adapted (prefixes, window size) and loaded
        non-strictly; other ``init_cfg`` dicts are applied as given."""
        cfg = self.init_cfg
        if cfg is None:
            if self.use_abs_pos_embed:
                nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    trunc_normal_init(m, std=0.02, bias=0.0)
                elif isinstance(m, nn.LayerNorm):
                    constant_init(m, val=1.0, bias=0.0)
        elif isinstance(cfg, Mapping) and cfg.get("type") == "Pretrained":
            load_swin_pretrained(self, cfg.get("checkpoint"), logging.getLogger("seglab"))
        else:
            initialize(self, cfg)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x: (N, C, H, W). Returns: the normalised outputs of the stages in out_indices."""
        x, hw_shape = self.patch_embed(x)
        if self.use_abs_pos_embed:
            x = x + self._pos_embed(hw_shape)
        x = self.drop_after_pos(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x, hw_shape, out, out_hw_shape = stage(x, hw_shape)
            if i in self.out_indices:
                out = getattr(self, f"norm{i}")(out)
                out = out.view(-1, *out_hw_shape, self.num_features[i])
                outs.append(out.permute(0, 3, 1, 2).contiguous())
        return tuple(outs)

    def _pos_embed(self, hw_shape: Tuple[int, int]) -> torch.Tensor:
        pos = self.absolute_pos_embed
        if pos.shape[1] == hw_shape[0] * hw_shape[1]:
            return pos
        # MMSeg fails on another input size here; resizing the pre-training grid is kinder.
        grid = (self.pretrain_img_size[0] // self.patch_size,
                self.pretrain_img_size[1] // self.patch_size)
        return resize_pos_embed(pos, hw_shape, grid, mode="bicubic", num_extra_tokens=0)
