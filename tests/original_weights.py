"""Tiny state_dicts laid out like the public original weights (nothing can be downloaded here).

Key names and shape relations follow the original repositories (SegFormer's ``mix_transformer``,
Microsoft's Swin and BEiT, timm's ViT, Meituan's Twins); the sizes are tiny. Values are random,
so a test can tell where each tensor went.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Sequence

import torch

StateDict = "OrderedDict[str, torch.Tensor]"


def _fill(shapes: Dict[str, Sequence[int]], seed: int) -> StateDict:
    gen = torch.Generator().manual_seed(seed)
    return OrderedDict((k, torch.randn(*s, generator=gen)) for k, s in shapes.items())


def _linear(name: str, out: int, inp: int) -> Dict[str, Sequence[int]]:
    return {f"{name}.weight": (out, inp), f"{name}.bias": (out,)}


def _norm(name: str, dim: int) -> Dict[str, Sequence[int]]:
    return {f"{name}.weight": (dim,), f"{name}.bias": (dim,)}


def mit(dims: Sequence[int] = (4, 8), classes: int = 5) -> StateDict:
    """SegFormer MiT: ``patch_embed{i}``, ``block{i}.{j}``, ``norm{i}`` per stage, ``head``."""
    shapes: Dict[str, Sequence[int]] = {}
    in_ch = 3
    for i, c in enumerate(dims, 1):
        shapes.update({f"patch_embed{i}.proj.weight": (c, in_ch, 3, 3),
                       f"patch_embed{i}.proj.bias": (c,), **_norm(f"patch_embed{i}.norm", c)})
        b = f"block{i}.0"
        shapes.update({**_norm(f"{b}.norm1", c), **_linear(f"{b}.attn.q", c, c),
                       **_linear(f"{b}.attn.kv", 2 * c, c), **_linear(f"{b}.attn.proj", c, c)})
        if i == 1:  # spatial reduction only where sr_ratio > 1
            shapes.update({f"{b}.attn.sr.weight": (c, c, 2, 2), f"{b}.attn.sr.bias": (c,),
                           **_norm(f"{b}.attn.norm", c)})
        shapes.update({**_norm(f"{b}.norm2", c), **_linear(f"{b}.mlp.fc1", 4 * c, c),
                       f"{b}.mlp.dwconv.dwconv.weight": (4 * c, 1, 3, 3),
                       f"{b}.mlp.dwconv.dwconv.bias": (4 * c,),
                       **_linear(f"{b}.mlp.fc2", c, 4 * c), **_norm(f"norm{i}", c)})
        in_ch = c
    shapes.update(_linear("head", classes, dims[-1]))
    return _fill(shapes, 0)


def swin(dim: int = 4, heads: int = 2, window: int = 2, classes: int = 5) -> StateDict:
    """Swin: ``patch_embed``, ``layers.S.blocks.N``, ``layers.S.downsample``, ``norm``, ``head``."""
    shapes: Dict[str, Sequence[int]] = {"patch_embed.proj.weight": (dim, 3, 4, 4),
                                        "patch_embed.proj.bias": (dim,),
                                        **_norm("patch_embed.norm", dim)}
    for s, c in enumerate((dim, 2 * dim)):
        b = f"layers.{s}.blocks.0"
        shapes.update({**_norm(f"{b}.norm1", c),
                       f"{b}.attn.relative_position_bias_table": ((2 * window - 1) ** 2, heads),
                       **_linear(f"{b}.attn.qkv", 3 * c, c), **_linear(f"{b}.attn.proj", c, c),
                       **_norm(f"{b}.norm2", c), **_linear(f"{b}.mlp.fc1", 4 * c, c),
                       **_linear(f"{b}.mlp.fc2", c, 4 * c)})
    shapes.update({"layers.0.downsample.reduction.weight": (2 * dim, 4 * dim),
                   **_norm("layers.0.downsample.norm", 4 * dim), **_norm("norm", 2 * dim),
                   **_linear("head", classes, 2 * dim)})
    out = _fill(shapes, 1)
    index = torch.arange(window ** 4).reshape(window ** 2, window ** 2)
    out["layers.0.blocks.0.attn.relative_position_index"] = index  # a buffer, kept
    out["layers.1.blocks.0.attn_mask"] = torch.zeros(1, window ** 2, window ** 2)
    return out


def vit(dim: int = 6, depth: int = 2, classes: int = 5, deit: bool = False) -> StateDict:
    """timm ViT (DeiT adds ``dist_token`` and ``head_dist``)."""
    shapes: Dict[str, Sequence[int]] = {"cls_token": (1, 1, dim), "pos_embed": (1, 5, dim),
                                        "patch_embed.proj.weight": (dim, 3, 2, 2),
                                        "patch_embed.proj.bias": (dim,)}
    if deit:
        shapes["dist_token"] = (1, 1, dim)
    for n in range(depth):
        b = f"blocks.{n}"
        shapes.update({**_norm(f"{b}.norm1", dim), **_linear(f"{b}.attn.qkv", 3 * dim, dim),
                       **_linear(f"{b}.attn.proj", dim, dim), **_norm(f"{b}.norm2", dim),
                       **_linear(f"{b}.mlp.fc1", 4 * dim, dim),
                       **_linear(f"{b}.mlp.fc2", dim, 4 * dim)})
    shapes.update({**_norm("norm", dim), **_linear("head", classes, dim)})
    if deit:
        shapes.update(_linear("head_dist", classes, dim))
    return _fill(shapes, 2)


def beit(dim: int = 4, heads: int = 2, classes: int = 5) -> StateDict:
    """BEiT: layer-scale ``gamma_1/2``, ``q_bias``/``v_bias``, relative positions, ``fc_norm``."""
    b = "blocks.0"
    shapes: Dict[str, Sequence[int]] = {
        "cls_token": (1, 1, dim), "patch_embed.proj.weight": (dim, 3, 2, 2),
        "patch_embed.proj.bias": (dim,), f"{b}.gamma_1": (dim,), f"{b}.gamma_2": (dim,),
        **_norm(f"{b}.norm1", dim), f"{b}.attn.q_bias": (dim,), f"{b}.attn.v_bias": (dim,),
        f"{b}.attn.qkv.weight": (3 * dim, dim),
        f"{b}.attn.relative_position_bias_table": (12, heads),
        **_linear(f"{b}.attn.proj", dim, dim), **_norm(f"{b}.norm2", dim),
        **_linear(f"{b}.mlp.fc1", 4 * dim, dim), **_linear(f"{b}.mlp.fc2", dim, 4 * dim),
        **_norm("fc_norm", dim), **_linear("head", classes, dim)}
    return _fill(shapes, 3)


def twins(model: str = "pcpvt", dims: Sequence[int] = (4, 8), classes: int = 5) -> StateDict:
    """Twins: ``patch_embeds.S``, ``pos_block.S.proj.0``, ``blocks.S.N``, ``norm``, ``head``.

    PCPVT's blocks all have global sub-sampled attention (``q``, ``kv``, ``sr``); SVT's even
    blocks have locally-grouped attention (``qkv``), its odd ones global attention.
    """
    shapes: Dict[str, Sequence[int]] = {}
    in_ch = 3
    for s, c in enumerate(dims):
        shapes.update({f"patch_embeds.{s}.proj.weight": (c, in_ch, 2, 2),
                       f"patch_embeds.{s}.proj.bias": (c,), **_norm(f"patch_embeds.{s}.norm", c),
                       f"pos_block.{s}.proj.0.weight": (c, 1, 3, 3),
                       f"pos_block.{s}.proj.0.bias": (c,)})
        for n in range(2 if model == "svt" else 1):
            b = f"blocks.{s}.{n}"
            shapes.update(_norm(f"{b}.norm1", c))
            if model == "svt" and n % 2 == 0:
                shapes.update(_linear(f"{b}.attn.qkv", 3 * c, c))
            else:
                shapes.update({**_linear(f"{b}.attn.q", c, c),
                               **_linear(f"{b}.attn.kv", 2 * c, c),
                               f"{b}.attn.sr.weight": (c, c, 2, 2), f"{b}.attn.sr.bias": (c,),
                               **_norm(f"{b}.attn.norm", c)})
            shapes.update({**_linear(f"{b}.attn.proj", c, c), **_norm(f"{b}.norm2", c),
                           **_linear(f"{b}.mlp.fc1", 4 * c, c),
                           **_linear(f"{b}.mlp.fc2", c, 4 * c)})
        in_ch = c
    shapes.update({**_norm("norm", dims[-1]), **_linear("head", classes, dims[-1])})
    return _fill(shapes, 4)
