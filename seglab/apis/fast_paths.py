"""Float32 fast paths for inference: BN folding, channels_last, ``torch.compile``.

:func:`optimize_for_inference` turns an eval-mode segmentor into a faster one with the same
predictions (each option's bound is tested: BN folding and channels_last give logits equal to
1e-5 on every registered model type's tiny config, tests/models/test_fuse.py and
tests/apis/test_fast_paths.py).

Defaults of the tools (``tools/test.py``, ``tools/benchmark.py``; :func:`resolve_fast_paths`):
BN folding is on, channels_last is on for models whose backbone is convolutional
(:func:`conv_backbone`: most of its weights in ``nn.Conv2d``; transformers gain nothing from
NHWC), ``torch.compile`` is off. :func:`~seglab.apis.init_segmentor` has the same defaults except
BN folding, which it does only with ``fuse_conv_bn=True`` (its model keeps the checkpoint's
state_dict). Turn them off with ``--no-fuse-conv-bn`` / ``--no-channels-last`` (or ``--plain``
for all), the config keys ``model.test_cfg.fuse_conv_bn`` (bool) /
``model.test_cfg.channels_last`` (bool or ``'auto'``), or ``init_segmentor(channels_last=False)``. The models themselves
(``model.simple_test`` / ``inference`` called directly, as the parity tests do) never change:
the defaults only apply where a tool or the API builds its own model.

- ``fuse_conv_bn``: :func:`seglab.models.fuse.fuse_conv_bn` (conv + eval BN -> one conv); the
  result is an inference-only model, so its auxiliary heads (training losses only) are removed.
- ``channels_last``: parameters in NHWC and the image converted at the backbone's input, so
  every convolution runs on oneDNN's NHWC kernels (on the 2-core test CPU a 3x3 256->256 conv
  runs 1.4-1.8x faster in NHWC, see DESIGN.md; benchmarks/fast_paths.py measures whole models).
- ``compile``: ``torch.compile`` of ``head_logits`` (the network up to the head's logits, which
  whole mode resizes to the input and slide mode to each window; ``encode_decode`` for a
  segmentor without it), with the given backend (``True``: inductor, which needs a C++ compiler
  on the CPU). The first images are slow while it compiles.
"""
from __future__ import annotations

import argparse
from typing import Dict, Optional, Union

import torch
from torch import nn

from ..errors import ConfigError
from ..models.fuse import fuse_conv_bn as fold_bn
from .predict_loop import unwrap_model


def _to_channels_last(module: nn.Module, args):
    return tuple(a.contiguous(memory_format=torch.channels_last)
                 if isinstance(a, torch.Tensor) and a.dim() == 4 else a for a in args)


def use_channels_last(model: nn.Module) -> nn.Module:
    """4-D parameters and buffers in channels_last, and the image converted to it where it enters
    the backbone (a forward pre-hook), in place. Returns ``model``."""
    model.to(memory_format=torch.channels_last)
    entry = getattr(model, "backbone", model)
    entry.register_forward_pre_hook(_to_channels_last)
    return model


# A backbone is "convolutional" when at least this share of its weights sit in nn.Conv2d layers
# and it has no attention / LayerNorm (token-sequence) blocks.
CONV_SHARE = 0.5
_SEQUENCE_LAYERS = (nn.MultiheadAttention, nn.LayerNorm)


def conv_backbone(model: nn.Module) -> bool:
    """True when most of the backbone's parameters (or the model's, without a backbone) are
    ``nn.Conv2d`` weights and it has no ``nn.MultiheadAttention`` / ``nn.LayerNorm``: ResNet,
    HRNet, MobileNet, PoolFormer, ... yes; ViT, Swin, BEiT, ConvNeXt (pointwise ``nn.Linear``),
    MiT (1x1-conv FFNs but attention: 1.2x slower in NHWC on the 2-core test CPU) no. The rule
    :func:`resolve_fast_paths` uses for channels_last."""
    net = unwrap_model(model)
    backbone = getattr(net, "backbone", net)
    if any(isinstance(m, _SEQUENCE_LAYERS) for m in backbone.modules()):
        return False
    total = sum(p.numel() for p in backbone.parameters())
    conv = sum(p.numel() for m in backbone.modules() if isinstance(m, nn.Conv2d)
               for p in m.parameters(recurse=False))
    return total > 0 and conv >= CONV_SHARE * total


def _config_value(test_cfg, key: str, allowed: tuple):
    value = test_cfg.get(key) if test_cfg else None
    if value is not None and value not in allowed:
        raise ConfigError(f"model.test_cfg.{key} = {value!r}; use "
                          + " or ".join(repr(a) for a in allowed)
                          + " (or leave it unset for the default).")
    return value


def resolve_fast_paths(model: nn.Module, fuse_conv_bn: Optional[bool] = None,
                       channels_last: Optional[bool] = None,
                       fuse_default: bool = True) -> Dict[str, bool]:
    """The inference defaults: an explicit argument, else ``model.test_cfg``'s key, else
    ``fuse_default`` (``fuse_conv_bn``; the tools: on, :func:`~seglab.apis.init_segmentor`: off,
    so the model it returns keeps the checkpoint's state_dict) / on for a convolutional backbone
    (``channels_last``, :func:`conv_backbone`).

    Returns:
        ``dict(fuse_conv_bn=bool, channels_last=bool)``.

    Raises:
        ConfigError: a ``model.test_cfg`` key holds something else than a bool (or ``'auto'``).
    """
    test_cfg = getattr(unwrap_model(model), "test_cfg", None)
    if fuse_conv_bn is None:
        fuse_conv_bn = _config_value(test_cfg, "fuse_conv_bn", (True, False))
    if channels_last is None:
        channels_last = _config_value(test_cfg, "channels_last", (True, False, "auto"))
    if channels_last is None or channels_last == "auto":
        channels_last = conv_backbone(model)
    return dict(fuse_conv_bn=fuse_default if fuse_conv_bn is None else bool(fuse_conv_bn),
                channels_last=bool(channels_last))


def optimize_for_inference(model: nn.Module, fuse_conv_bn: bool = False,
                           channels_last: bool = False,
                           compile: Union[bool, str] = False,  # noqa: A002 - the option's name
                           inplace: bool = True) -> nn.Module:
    """The segmentor with the chosen float32 fast paths (see the module docstring).

    Args:
        model: a segmentor in eval mode (or a DataParallel wrapper of one).
        fuse_conv_bn: fold BatchNorm layers into their convolutions.
        channels_last: NHWC memory format for the convolutions.
        compile: ``torch.compile`` ``head_logits``; a string names the backend
            (``'inductor'``, ``'eager'``, ...).
        inplace: change ``model`` itself (default; the tools own their model); False works on a
            copy when ``fuse_conv_bn`` is set (the other two options always change ``model``).

    Returns:
        The model to run (``model`` itself unless ``fuse_conv_bn`` and not ``inplace``).

    Raises:
        ValueError: the model is in training mode and ``fuse_conv_bn`` is set.
        ConfigError: ``compile`` is not a bool or a backend name, or this torch has no compile.
    """
    net = unwrap_model(model)
    if fuse_conv_bn:
        net = fold_bn(net, inplace=inplace)
        if net is not unwrap_model(model):
            model = net
        if getattr(net, "auxiliary_head", None) is not None:
            # An inference-only model: auxiliary heads only add training losses (FCN R50-D8's
            # holds 9.5 MB of weights that inference never reads).
            del net.auxiliary_head
    if channels_last:
        use_channels_last(net)
    if compile:
        if not isinstance(compile, (bool, str)):
            raise ConfigError(f"compile must be True, False or a torch.compile backend name, got "
                              f"{compile!r}")
        if not hasattr(torch, "compile"):
            raise ConfigError(f"--compile needs torch >= 2.0; this is torch {torch.__version__}.")
        backend = "inductor" if compile is True else compile
        # The network up to the head's logits: whole mode (encode_decode resizes them) and slide
        # mode (each window's logits) both call it; a segmentor without it: encode_decode.
        name = "head_logits" if hasattr(net, "head_logits") else "encode_decode"
        setattr(net, name, torch.compile(getattr(net, name), backend=backend))
    return model


def add_fast_path_args(parser) -> None:
    """``--[no-]fuse-conv-bn``, ``--[no-]channels-last``, ``--plain`` and ``--compile [BACKEND]``
    of the test tools (unset: :func:`resolve_fast_paths`'s defaults)."""
    parser.add_argument("--fuse-conv-bn", action=argparse.BooleanOptionalAction, default=None,
                        help="fold BatchNorm into the preceding convolutions (logits equal to "
                        "1e-5; default: on, or model.test_cfg.fuse_conv_bn)")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                        help="run the convolutions in channels_last (NHWC) memory format "
                        "(logits equal to 1e-5 relative; default: on for convolutional "
                        "backbones, or model.test_cfg.channels_last)")
    parser.add_argument("--plain", action="store_true",
                        help="no fast path at all: the model as built (same as "
                        "--no-fuse-conv-bn --no-channels-last)")
    parser.add_argument("--compile", nargs="?", const="inductor", default=None,
                        metavar="BACKEND", help="torch.compile the network (default backend: "
                        "inductor, which needs a C++ compiler on CPUs); the first images are "
                        "slow while it compiles")


def apply_fast_path_args(model: nn.Module, args) -> nn.Module:
    """:func:`optimize_for_inference` with the options of :func:`add_fast_path_args` (the
    defaults resolved by :func:`resolve_fast_paths`); ``args.fuse_conv_bn`` and
    ``args.channels_last`` are set to the options used, for :func:`fast_path_names`.

    Raises:
        ConfigError: ``--plain`` with ``--fuse-conv-bn``, ``--channels-last`` or ``--compile``.
    """
    if getattr(args, "plain", False):
        chosen = [f for f, v in (("--fuse-conv-bn", args.fuse_conv_bn),
                                 ("--channels-last", args.channels_last),
                                 ("--compile", args.compile)) if v]
        if chosen:
            raise ConfigError(f"--plain turns every fast path off; drop it or {chosen[0]}.")
        options = dict(fuse_conv_bn=False, channels_last=False)
    else:
        options = resolve_fast_paths(model, args.fuse_conv_bn, args.channels_last)
    args.fuse_conv_bn, args.channels_last = options["fuse_conv_bn"], options["channels_last"]
    return optimize_for_inference(model, compile=args.compile or False, **options)


def fast_path_names(args) -> str:
    """'fuse_conv_bn, channels_last, compile=inductor' or 'none' for logs and result files."""
    names = [n for n in ("fuse_conv_bn", "channels_last") if getattr(args, n)]
    if args.compile:
        names.append(f"compile={args.compile}")
    return ", ".join(names) or "none"
