"""Fold eval-mode BatchNorm layers into the convolution before them, for faster inference.

A BatchNorm in eval mode is a per-channel affine map, ``y = (x - mean) * s + beta`` with
``s = gamma / sqrt(var + eps)``; after a convolution ``x = W * in + b`` it is the same as one
convolution with ``W' = W * s`` (per output channel) and ``b' = (b - mean) * s + beta``. The BN
then becomes ``nn.Identity`` (same attribute name), so the network runs one layer instead of two.

Folding is only exact when the BN's input is the conv's output and nothing else reads that
output. That depends on each module's ``forward``, so pairs are only folded where the forward is
known (:data:`_PAIR_RULES`): adjacent ``Conv2d`` -> BN children of a plain ``nn.Sequential``;
``ConvModule`` with ``norm`` right after ``conv`` in its ``order``; the ``conv{i}``/``bn{i}``
pairs of ResNet's ``BasicBlock`` / ``Bottleneck``, the ResNet and HRNet stems. A subclass that
overrides the known ``forward`` is not trusted (not folded). A pair is also skipped when the conv
is not a plain ``nn.Conv2d`` (spectral norm, weight standardisation, dynamic padding), when the
BN has no running statistics (it normalises with batch statistics even in eval mode), or when
either layer has hooks or is registered twice (shared). Norm-before-conv
(``order=('norm', 'conv', 'act')``) and conv-act-norm are not folded. A folded ``ConvModule``
called with ``norm=False`` would still normalise (no seglab module does that).

:func:`fuse_conv_bn` works on a copy by default, so the original model and its state_dict stay
as they were; the folded model's state_dict has no BN entries (and conv biases where folded), so
checkpoints load into the original, not into the folded copy. ``nn.SyncBatchNorm`` and
``CPUSyncBatchNorm`` are plain BN in eval mode and fold the same way.
"""
from __future__ import annotations

import copy
from collections import Counter
from typing import Callable, Dict, Iterator, List, Tuple

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .backbones.hrnet import HRNet
from .backbones.resnet import ResNet
from .backbones.resnet_blocks import BasicBlock, Bottleneck
from .layers import ConvModule

Pair = Tuple[str, str]  # (conv attribute, norm attribute) of one module


def _sequential_pairs(module: nn.Sequential) -> List[Pair]:
    names = [name for name, _ in module.named_children()]
    children = list(module.children())
    return [(names[i], names[i + 1]) for i in range(len(children) - 1)
            if isinstance(children[i], nn.Conv2d) and isinstance(children[i + 1], _BatchNorm)]


def _conv_module_pairs(module: ConvModule) -> List[Pair]:
    order = list(module.order)
    if not module.with_norm or order.index("norm") != order.index("conv") + 1:
        return []  # norm before the conv, or an activation between them
    return [("conv", module.norm_name)]


def _block_pairs(module: nn.Module) -> List[Pair]:
    count = 3 if isinstance(module, Bottleneck) else 2  # HRNet's stem: two, as BasicBlock
    return [(f"conv{i}", getattr(module, f"norm{i}_name")) for i in range(1, count + 1)]


def _resnet_stem_pairs(module: ResNet) -> List[Pair]:
    return [] if module.deep_stem else [("conv1", module.norm1_name)]  # deep stem: a Sequential


# class -> (the methods whose code the rule relies on, the rule). A module of a subclass is only
# folded if it inherits all those methods unchanged.
_PAIR_RULES: Dict[type, Tuple[Tuple[str, ...], Callable[[nn.Module], List[Pair]]]] = {
    nn.Sequential: (("forward",), _sequential_pairs),
    ConvModule: (("forward",), _conv_module_pairs),
    BasicBlock: (("forward",), _block_pairs),
    Bottleneck: (("forward",), _block_pairs),
    ResNet: (("forward", "_make_stem_layer"), _resnet_stem_pairs),
    HRNet: (("forward",), _block_pairs),
}


def _rule(module: nn.Module):
    for cls, (methods, rule) in _PAIR_RULES.items():
        if isinstance(module, cls) and all(getattr(type(module), m) is getattr(cls, m)
                                           for m in methods):
            return rule
    return None


def _foldable(conv: nn.Module, norm: nn.Module) -> bool:
    if type(conv) is not nn.Conv2d or not isinstance(norm, _BatchNorm):
        return False
    if norm.running_mean is None or norm.running_var is None or not norm.track_running_stats:
        return False  # batch statistics even in eval mode
    if norm.num_features != conv.out_channels:
        return False
    hooks = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks")
    return not any(getattr(m, h, None) for m in (conv, norm) for h in hooks) and \
        not getattr(conv, "parametrizations", None)


def foldable_pairs(model: nn.Module) -> Iterator[Tuple[str, nn.Module, str, str]]:
    """``(module name, module, conv attribute, norm attribute)`` of every pair that
    :func:`fuse_conv_bn` folds, in module order. A conv or BN registered in more than one place
    (a shared layer, whose output other code may read) is not folded."""
    uses = Counter(id(m) for _, m in model.named_modules(remove_duplicate=False))
    for name, module in model.named_modules():
        rule = _rule(module)
        if rule is None:
            continue
        for conv_name, norm_name in rule(module):
            conv, norm = getattr(module, conv_name, None), getattr(module, norm_name, None)
            if conv is None or norm is None or uses[id(conv)] > 1 or uses[id(norm)] > 1:
                continue
            if _foldable(conv, norm):
                yield name, module, conv_name, norm_name


# Output channels folded per float64 chunk: the float64 copy of a large conv weight (FCN R50's
# 2048 -> 512 3x3 conv: 75 MB) would otherwise raise the process's peak memory.
FOLD_CHUNK = 64


@torch.no_grad()
def fold_bn_into_conv(conv: nn.Conv2d, norm: _BatchNorm) -> None:
    """Give ``conv`` (in place) the weight and bias of ``norm(conv(x))`` in eval mode.

    Computed in float64 (:data:`FOLD_CHUNK` output channels at a time) and stored in the conv's
    dtype, so the folded conv differs from the pair by the rounding of one float32 multiply-add
    chain, not of two.
    """
    scale = torch.rsqrt(norm.running_var.double() + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight.double()
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    bias = (bias - norm.running_mean.double()) * scale
    if norm.bias is not None:
        bias = bias + norm.bias.double()
    weight = conv.weight
    new_weight = torch.empty_like(weight, memory_format=torch.contiguous_format)
    for start in range(0, weight.shape[0], FOLD_CHUNK):
        rows = slice(start, start + FOLD_CHUNK)
        new_weight[rows] = weight[rows].double() * scale[rows].view(-1, 1, 1, 1)
    conv.weight = nn.Parameter(new_weight, requires_grad=weight.requires_grad)
    conv.bias = nn.Parameter(bias.to(new_weight.dtype), requires_grad=weight.requires_grad)


def fuse_conv_bn(model: nn.Module, inplace: bool = False) -> nn.Module:
    """An inference model with every safely foldable BN folded into its conv (see the module
    docstring for which pairs are folded and which are skipped).

    Args:
        model: a model in eval mode (every sub-module).
        inplace: fold into ``model`` itself (saves the copy's memory when the caller owns the
            model and no longer needs its BN layers or state_dict); default: a deep copy, so
            ``model`` and its state_dict are unchanged.

    Returns:
        The folded model (in eval mode). ``model.fused_conv_bn`` gives the number of folded
        pairs.

    Raises:
        ValueError: ``model`` or one of its sub-modules is in training mode (training BN uses
            batch statistics; there is nothing fixed to fold).
    """
    training = [name or type(model).__name__ for name, m in model.named_modules() if m.training]
    if training:
        raise ValueError(f"fuse_conv_bn needs a model in eval mode, but {training[0]!r} (and "
                         f"{len(training) - 1} more modules) are training: call model.eval() "
                         "first; BatchNorm folding is for inference only.")
    fused = model if inplace else copy.deepcopy(model)
    count = 0
    for _, module, conv_name, norm_name in list(foldable_pairs(fused)):
        fold_bn_into_conv(getattr(module, conv_name), getattr(module, norm_name))
        setattr(module, norm_name, nn.Identity())
        count += 1
    fused.fused_conv_bn = count
    return fused
