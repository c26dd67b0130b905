"""Key converters for the public original weights of transformer backbones and STDC.

The authors of SegFormer (MiT), Swin, ViT (timm / DeiT), BEiT, Twins and STDC published ImageNet
weights under their own module names; MMSegmentation 0.x renames them with
``tools/model_converters/{mit,swin,vit,beit,twins,stdc}2mmseg.py`` before a config's
``pretrained=`` / ``init_cfg`` can load them. The functions here apply the same renaming rules
(same names: :func:`convert_mit`, ...), so a file converted by either tool is the same. Keys no
rule mentions are kept unchanged, as MMSegmentation keeps them; the classifier (``head.*``) is
dropped (STDC's tool keeps only the keys its rules rename). Unlike the originals, a state_dict
that does not look like the family's original layout (another family, or weights already
converted) is refused with a :class:`CheckpointError` naming its keys, instead of being written
out unchanged or failing with a bare ``KeyError``.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from typing import Dict, Mapping, Sequence, Tuple

import torch

from ..errors import CheckpointError

StateDict = Mapping[str, torch.Tensor]

# Per family: patterns the original layout has at least one key of each, and example keys for
# the message when it does not.
_LAYOUTS: Dict[str, Tuple[str, Sequence[str], Sequence[str]]] = {
    "mit": ("MiT (SegFormer)", (r"patch_embed\d+\.", r"block\d+\.\d+\."),
            ("patch_embed1.proj.weight", "block1.0.attn.q.weight", "norm1.weight")),
    "swin": ("Swin Transformer", (r"patch_embed\.", r"layers\.\d+\.blocks\.\d+\."),
             ("patch_embed.proj.weight", "layers.0.blocks.0.attn.qkv.weight")),
    "vit": ("ViT (timm / DeiT)", (r"patch_embed\.", r"blocks\.\d+\."),
            ("patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "norm.weight")),
    "beit": ("BEiT", (r"patch_embed\.", r"blocks\.\d+\."),
             ("patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "blocks.0.gamma_1")),
    "twins": ("Twins (PCPVT / SVT)", (r"patch_embeds\.\d+\.", r"blocks\.\d+\.\d+\."),
              ("patch_embeds.0.proj.weight", "blocks.0.0.attn.q.weight",
               "pos_block.0.proj.0.weight")),
    "stdc": ("STDC (STDCNet813 / STDCNet1446)", (r"(cp\.)?features\.\d+\.",),
             ("features.0.conv.weight", "features.2.conv_list.0.conv.weight",
              "features.2.avd_layer.0.weight")),
}
# Top-level names of the classifier each family's converter leaves out.
DROPPED_PREFIXES: Dict[str, Tuple[str, ...]] = {
    "mit": ("head",), "swin": ("head",), "vit": ("head",), "beit": ("head", "fc_norm"),
    "twins": ("head",),
    "stdc": ("conv_last", "fc", "bn", "linear"),
}


def _sample(keys: Sequence[str], n: int = 6) -> str:
    shown = ", ".join(repr(k) for k in keys[:n])
    return shown + (f", ... ({len(keys)} keys)" if len(keys) > n else f" ({len(keys)} keys)")


def check_layout(state_dict: StateDict, family: str) -> None:
    """Raise unless ``state_dict`` has the key layout of the family's original weights.

    Args:
        state_dict: the weights to convert.
        family: ``'mit'``, ``'swin'``, ``'vit'``, ``'beit'`` or ``'twins'``.

    Raises:
        CheckpointError: a required kind of key is absent; the message names the keys found.
    """
    title, patterns, examples = _LAYOUTS[family]
    keys = [str(k) for k in state_dict]
    absent = [p for p in patterns if not any(re.match(p, k) for k in keys)]
    if not absent:
        return
    # MMSegmentation's own names: what a converter writes, or a segmentor's checkpoint.
    converted = any(k.startswith("backbone.") or ".projection." in k or "ffn.layers." in k
                    for k in keys)
    hint = (" They look converted already (an MMSegmentation checkpoint loads without "
            "conversion)." if converted else "")
    raise CheckpointError(
        f"these weights do not have the layout of the original {title} weights: no key matches "
        f"{', '.join(repr(p) for p in absent)} (expected keys such as "
        f"{', '.join(repr(e) for e in examples)}); the keys are {_sample(keys)}.{hint}")


def _partner(state_dict: StateDict, key: str, of: str) -> torch.Tensor:
    if key not in state_dict:
        raise CheckpointError(f"'{of}' has no partner '{key}' to concatenate with (the original "
                              f"weights store the query and the key/value projections apart).")
    return state_dict[key]


def convert_mit(ckpt: StateDict) -> "OrderedDict[str, torch.Tensor]":
    """SegFormer's MiT weights (``mit_b0.pth`` ...) to MMSegmentation's MixVisionTransformer.

    Stage ``i`` (1-based) becomes ``layers.{i-1}``: its patch embedding ``.0``, its blocks ``.1``
    and its norm ``.2``. Attention's separate ``q`` and ``kv`` linears are concatenated into the
    ``in_proj`` of an ``nn.MultiheadAttention`` (``attn.attn``); MixFFN's linears become 1x1
    convs.

    Args:
        ckpt: original state_dict (``patch_embed1.proj.weight``, ``block1.0.attn.q.weight``,
            ``norm1.weight``, ...).

    Returns:
        The renamed state_dict (``layers.0.0.projection.weight``,
        ``layers.0.1.0.attn.attn.in_proj_weight``, ``layers.0.2.weight``, ...).
    """
    check_layout(ckpt, "mit")
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for key, value in ckpt.items():
        if key.startswith("head"):
            continue
        root, _, rest = key.partition(".")
        match = re.fullmatch(r"(patch_embed|block|norm)(\d+)", root)
        if match is None:
            out[key] = value
            continue
        kind, stage = match.group(1), int(match.group(2)) - 1
        if kind == "patch_embed":
            out[f"layers.{stage}.0.{rest.replace('proj.', 'projection.')}"] = value
        elif kind == "norm":
            out[f"layers.{stage}.2.{rest}"] = value
        else:
            index, _, name = rest.partition(".")
            if name.startswith("attn.kv."):
                continue  # went into in_proj together with its q
            if name.startswith("attn.q."):
                param = name[len("attn.q."):]
                kv = _partner(ckpt, f"{root}.{index}.attn.kv.{param}", key)
                name, value = f"attn.attn.in_proj_{param}", torch.cat([value, kv], dim=0)
            elif name.startswith("attn.proj."):
                name = "attn.attn.out_proj." + name[len("attn.proj."):]
            elif name.startswith("mlp."):
                name, value = _mit_ffn(name[len("mlp."):], value)
            out[f"layers.{stage}.1.{index}.{name}"] = value
    return out


# MixFFN in MMSegmentation is Sequential(conv1x1, dwconv3x3, act, dropout, conv1x1, dropout):
# the original's fc1 / dwconv / fc2 are its entries 0, 1 and 4.
_MIT_FFN = (("fc1.", "0."), ("dwconv.dwconv.", "1."), ("fc2.", "4."))


def _mit_ffn(name: str, value: torch.Tensor) -> Tuple[str, torch.Tensor]:
    if name in ("fc1.weight", "fc2.weight"):
        value = value.reshape(*value.shape, 1, 1)  # a Linear's weight as a 1x1 conv's
    for old, new in _MIT_FFN:
        if name.startswith(old):
            name = new + name[len(old):]
            break
    return "ffn.layers." + name, value


# Swin's patch merging concatenates the four strided slices x[0::2, 0::2], x[1::2, 0::2],
# x[0::2, 1::2], x[1::2, 1::2] along channels; MMSegmentation's PatchMerging uses nn.Unfold,
# which orders each channel's 2x2 window row by row ((0,0), (0,1), (1,0), (1,1)) and puts the
# window inside the channel. Window position j is the original's slice _UNFOLD_ORDER[j].
_UNFOLD_ORDER = [0, 2, 1, 3]


def _unfold_order(value: torch.Tensor, key: str) -> torch.Tensor:
    channels = value.shape[-1]
    if value.dim() not in (1, 2) or channels % 4:
        raise CheckpointError(f"'{key}' has shape {list(value.shape)}; patch merging expects "
                              f"a last dimension of 4 x channels.")
    lead = value.shape[:-1]
    slices = value.reshape(*lead, 4, channels // 4)[..., _UNFOLD_ORDER, :]
    return slices.transpose(-1, -2).reshape(*lead, channels)


def convert_swin(ckpt: StateDict) -> "OrderedDict[str, torch.Tensor]":
    """Microsoft's Swin weights (``swin_tiny_patch4_window7_224.pth`` ...) to MMSegmentation's.

    ``layers.N`` becomes ``stages.N``; attention moves under ``attn.w_msa``; the MLP becomes
    ``ffn.layers.0.0`` / ``ffn.layers.1``; the patch-merging ``reduction`` weight and ``norm``
    are re-ordered from the four strided slices to nn.Unfold's channel order.

    Args:
        ckpt: original state_dict (``patch_embed.proj.weight``,
            ``layers.0.blocks.0.attn.qkv.weight``, ``layers.0.downsample.reduction.weight``, ...).

    Returns:
        The renamed state_dict (``patch_embed.projection.weight``,
        ``stages.0.blocks.0.attn.w_msa.qkv.weight``, ...).
    """
    check_layout(ckpt, "swin")
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for key, value in ckpt.items():
        new = key
        if key.startswith("head"):
            continue
        if key.startswith("layers"):
            if "attn." in key:
                new = key.replace("attn.", "attn.w_msa.")
            elif "mlp.fc1." in key:
                new = key.replace("mlp.fc1.", "ffn.layers.0.0.")
            elif "mlp.fc2." in key:
                new = key.replace("mlp.fc2.", "ffn.layers.1.")
            elif "mlp." in key:
                new = key.replace("mlp.", "ffn.")
            elif "downsample" in key and ("reduction." in key or "norm." in key):
                value = _unfold_order(value, key)
            new = new.replace("layers", "stages", 1)
        elif key.startswith("patch_embed"):
            new = key.replace("proj", "projection")
        out[new] = value
    return out


# (found in the key, replaced, by): MMSegmentation's order of the rules for a block's keys.
_VIT_BLOCK_RULES = (("norm", "norm", "ln"), ("mlp.fc1", "mlp.fc1", "ffn.layers.0.0"),
                    ("mlp.fc2", "mlp.fc2", "ffn.layers.1"),
                    ("attn.qkv", "attn.qkv.", "attn.attn.in_proj_"),
                    ("attn.proj", "attn.proj", "attn.attn.out_proj"))


def convert_vit(ckpt: StateDict) -> "OrderedDict[str, torch.Tensor]":
    """timm / DeiT ViT weights to MMSegmentation's VisionTransformer.

    ``blocks.N`` becomes ``layers.N``, the block norms ``ln1`` / ``ln2`` and the final norm
    ``ln1``. The fused ``attn.qkv`` stays fused: its rows are already q, k, v stacked, which is
    the layout of ``nn.MultiheadAttention.in_proj_weight`` (``attn.attn.in_proj_*``).

    Args:
        ckpt: original state_dict (``cls_token``, ``pos_embed``, ``patch_embed.proj.weight``,
            ``blocks.0.attn.qkv.weight``, ``norm.weight``, ...).

    Returns:
        The renamed state_dict (``patch_embed.projection.weight``,
        ``layers.0.attn.attn.in_proj_weight``, ``ln1.weight``, ...).
    """
    check_layout(ckpt, "vit")
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for key, value in ckpt.items():
        new = key
        if key.startswith("head"):
            continue
        if key.startswith("norm"):
            new = key.replace("norm.", "ln1.")
        elif key.startswith("patch_embed"):
            new = key.replace("proj", "projection")
        elif key.startswith("blocks"):
            for needle, old, rename in _VIT_BLOCK_RULES:
                if needle in key:  # only the first rule that applies
                    new = key.replace(old, rename)
                    break
            new = new.replace("blocks.", "layers.")
        out[new] = value
    return out


def convert_beit(ckpt: StateDict) -> "OrderedDict[str, torch.Tensor]":
    """Microsoft's BEiT weights to MMSegmentation's BEiT, with a ``backbone.`` prefix.

    ``blocks.N`` becomes ``layers.N`` (norms ``ln1`` / ``ln2``, MLP ``ffn.layers.0.0`` /
    ``ffn.layers.1``); attention (``qkv``, ``q_bias``, ``v_bias``, relative position tables) and
    ``gamma_1`` / ``gamma_2`` keep their names. ``fc_norm`` and ``head`` are dropped. Every key
    gets the ``backbone.`` prefix, as MMSegmentation's tool writes it.

    Args:
        ckpt: original state_dict (``cls_token``, ``patch_embed.proj.weight``,
            ``blocks.0.attn.qkv.weight``, ``blocks.0.gamma_1``, ...).

    Returns:
        The renamed state_dict (``backbone.patch_embed.projection.weight``,
        ``backbone.layers.0.ln1.weight``, ...).
    """
    check_layout(ckpt, "beit")
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for key, value in ckpt.items():
        if key.startswith(("fc_norm", "head")):
            continue
        new = key
        if key.startswith("blocks"):
            new = key.replace("blocks", "layers")
            for old, rename in (("norm", "ln"), ("mlp.fc1", "ffn.layers.0.0"),
                                ("mlp.fc2", "ffn.layers.1")):
                if old in new:
                    new = new.replace(old, rename)
                    break
        elif key.startswith("patch_embed"):
            new = key.replace("patch_embed.proj", "patch_embed.projection")
        out["backbone." + new] = value
    return out


def convert_twins(ckpt: StateDict, model: str) -> "OrderedDict[str, torch.Tensor]":
    """Meituan's Twins weights to MMSegmentation's PCPVT / SVT.

    ``blocks.S.N`` becomes ``layers.S.N``, ``pos_block.S.proj.0`` becomes
    ``position_encodings.S.proj``; global attention's ``q`` and ``kv`` are concatenated into
    ``attn.attn.in_proj_*`` and its ``proj`` becomes ``attn.attn.out_proj``. In SVT only the odd
    blocks of a stage have global attention; the even ones (locally-grouped, ``attn.qkv``) keep
    ``attn.proj``. MMSegmentation's tool takes the variant as its ``model`` argument.

    Args:
        ckpt: original state_dict (``patch_embeds.0.proj.weight``, ``blocks.0.0.attn.q.weight``,
            ``pos_block.0.proj.0.weight``, ...).
        model: ``'pcpvt'`` or ``'svt'``.

    Returns:
        The renamed state_dict.

    Raises:
        CheckpointError: ``model`` is another name, or the weights are of the other variant (SVT
            has ``attn.qkv`` keys, PCPVT none).
    """
    if model not in ("pcpvt", "svt"):
        raise CheckpointError(f"Twins model must be 'pcpvt' or 'svt', got {model!r}.")
    check_layout(ckpt, "twins")
    local = [k for k in ckpt if k.startswith("blocks") and ".attn.qkv." in k]
    if (model == "pcpvt") == bool(local):
        found = (f"locally-grouped attention keys such as {local[0]!r}" if local
                 else "no locally-grouped attention keys ('blocks.S.N.attn.qkv.*')")
        other = "svt" if local else "pcpvt"
        raise CheckpointError(f"these weights have {found}, so they are Twins-{other.upper()} "
                              f"weights, not {model.upper()}; convert them with model '{other}'.")
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for key, value in ckpt.items():
        new = key
        if key.startswith("head") or "attn.kv." in key:
            continue  # kv went into in_proj together with its q
        if key.startswith("patch_embeds"):
            new = key.replace("proj.", "projection.")
        elif key.startswith("blocks"):
            if "attn.q." in key:
                new = key.replace("q.", "attn.in_proj_")
                value = torch.cat([value, _partner(ckpt, key.replace("attn.q.", "attn.kv."),
                                                   key)], dim=0)
            elif "mlp.fc1" in key:
                new = key.replace("mlp.fc1", "ffn.layers.0.0")
            elif "mlp.fc2" in key:
                new = key.replace("mlp.fc2", "ffn.layers.1")
            elif "attn.proj." in key and (model == "pcpvt" or int(key.split(".")[2]) % 2 == 1):
                new = key.replace("proj.", "attn.out_proj.")
            new = new.replace("blocks.", "layers.")
        elif key.startswith("pos_block"):
            new = key.replace("pos_block", "position_encodings").replace("proj.0.", "proj.")
        out[new] = value
    return out


# MMSeg's stage of each original ``features.N`` (N = 0..7 for STDC1, 0..13 for STDC2).
_STDC_STAGES = {
    "STDC1": ("0", "1", "2.0", "2.1", "3.0", "3.1", "4.0", "4.1"),
    "STDC2": ("0", "1", "2.0", "2.1", "2.2", "2.3", "3.0", "3.1", "3.2", "3.3", "3.4", "4.0",
              "4.1", "4.2"),
}
_STDC_FEATURE = re.compile(r"features\.(\d+)\.")


def convert_stdc(ckpt: StateDict, type: str) -> "OrderedDict[str, torch.Tensor]":  # noqa: A002
    """The original STDC ImageNet weights (STDC-Seg's ``STDCNet813`` / ``STDCNet1446``) to
    MMSegmentation's ``STDCNet``.

    MMSegmentation's rules: ``cp.`` is removed; ``features.N.`` becomes ``stages.S.`` (the STDC
    modules of a stage are numbered inside it); ``conv_list`` becomes ``layers``;
    ``avd_layer.0`` / ``avd_layer.1`` (the strided depthwise conv and its BN) become
    ``downsample.conv`` / ``downsample.bn``. Only keys touched by a rule are kept, so the
    classifier (``conv_last``, ``fc``, ``bn``, ``linear``) and the ``x2``..``x32`` aliases of
    ``features`` without a ``conv_list`` are dropped (aliases with one keep their renamed key,
    which loading ignores), as MMSegmentation's tool does.

    Args:
        ckpt: original state_dict (``features.0.conv.weight``, ``features.2.conv_list.0.conv.
            weight``, ``features.2.avd_layer.0.weight``, ...).
        type: ``'STDC1'`` or ``'STDC2'`` (MMSegmentation's argument name).

    Returns:
        The renamed state_dict.

    Raises:
        CheckpointError: another type name, or weights of the other STDC type (their number
            of ``features`` blocks says which).
    """
    if type not in _STDC_STAGES:
        raise CheckpointError(f"STDC type must be 'STDC1' or 'STDC2', got {type!r}.")
    check_layout(ckpt, "stdc")
    stages = _STDC_STAGES[type]
    blocks = 1 + max(int(m.group(1)) for m in map(_STDC_FEATURE.search, ckpt) if m)
    if blocks != len(stages):
        other = {len(v): k for k, v in _STDC_STAGES.items()}.get(blocks)
        which = f"so they are {other} weights; convert them with type '{other}'" if other else \
            "which is neither STDC1 (8) nor STDC2 (14)"
        raise CheckpointError(f"these weights have {blocks} features blocks, {which} "
                              f"(not {type}, which has {len(stages)}).")
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for key, value in ckpt.items():
        new = key.replace("cp.", "")
        feature = _STDC_FEATURE.search(new)
        if feature:
            new = new.replace(feature.group(0), f"stages.{stages[int(feature.group(1))]}.", 1)
        new = new.replace("conv_list", "layers")
        new = new.replace("avd_layer.0", "downsample.conv").replace("avd_layer.1", "downsample.bn")
        if feature or "conv_list" in key or "avd_layer." in key:
            out[new] = value
    return out


CONVERTERS = {"mit": convert_mit, "swin": convert_swin, "vit": convert_vit, "beit": convert_beit,
              "twins": convert_twins, "stdc": convert_stdc}
