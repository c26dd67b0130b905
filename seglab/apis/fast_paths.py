"""Float32 fast paths for inference: BN folding, channels_last, ``torch.compile``.

:func:`optimize_for_inference` turns an eval-mode segmentor into a faster one with the same
predictions (each option's bound is tested: BN folding and channels_last give logits equal to
1e-5 on every registered model type's tiny config, tests/models/test_fuse.py and
tests/apis/test_fast_paths.py). All options are off by default; ``tools/test.py``,
``tools/benchmark.py`` and :func:`~seglab.apis.init_segmentor` expose them as
``--fuse-conv-bn`` (the name mmdet's and mmcv's tools use), ``--channels-last`` and
``--compile``.

- ``fuse_conv_bn``: :func:`seglab.models.fuse.fuse_conv_bn` (conv + eval BN -> one conv).
- ``channels_last``: parameters in NHWC and the image converted at the backbone's input, so
  every convolution runs on oneDNN's NHWC kernels (on the 2-core test CPU a 3x3 256->256 conv
  runs 1.4-1.8x faster in NHWC, see DESIGN.md; benchmarks/fast_paths.py measures whole models).
  Transformers gain nothing from it.
- ``compile``: ``torch.compile`` of ``encode_decode`` (the network and the resize to the input;
  slide mode compiles the crop forward), with the given backend (``True``: inductor, which needs
  a C++ compiler on the CPU). The first images are slow while it compiles.
"""
from __future__ import annotations

from typing import Union

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


def optimize_for_inference(model: nn.Module, fuse_conv_bn: bool = False,
                           channels_last: bool = False,
                           compile: Union[bool, str] = False,  # noqa: A002 - the option's name
                           inplace: bool = True) -> nn.Module:
    """The segmentor with the chosen float32 fast paths (see the module docstring).

    Args:
        model: a segmentor in eval mode (or a DataParallel wrapper of one).
        fuse_conv_bn: fold BatchNorm layers into their convolutions.
        channels_last: NHWC memory format for the convolutions.
        compile: ``torch.compile`` ``encode_decode``; a string names the backend
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
    if channels_last:
        use_channels_last(net)
    if compile:
        if not isinstance(compile, (bool, str)):
            raise ConfigError(f"compile must be True, False or a torch.compile backend name, got "
                              f"{compile!r}")
        if not hasattr(torch, "compile"):
            raise ConfigError(f"--compile needs torch >= 2.0; this is torch {torch.__version__}.")
        backend = "inductor" if compile is True else compile
        net.encode_decode = torch.compile(net.encode_decode, backend=backend)
    return model


def add_fast_path_args(parser) -> None:
    """``--fuse-conv-bn``, ``--channels-last`` and ``--compile [BACKEND]`` of the test tools."""
    parser.add_argument("--fuse-conv-bn", action="store_true",
                        help="fold BatchNorm into the preceding convolutions (slightly faster "
                        "inference; logits equal to 1e-5)")
    parser.add_argument("--channels-last", action="store_true",
                        help="run the convolutions in channels_last (NHWC) memory format "
                        "(faster for CNNs on CPUs; logits equal to 1e-5 relative)")
    parser.add_argument("--compile", nargs="?", const="inductor", default=None,
                        metavar="BACKEND", help="torch.compile the network (default backend: "
                        "inductor, which needs a C++ compiler on CPUs); the first images are "
                        "slow while it compiles")


def apply_fast_path_args(model: nn.Module, args) -> nn.Module:
    """:func:`optimize_for_inference` with the options of :func:`add_fast_path_args`."""
    return optimize_for_inference(model, fuse_conv_bn=args.fuse_conv_bn,
                                  channels_last=args.channels_last,
                                  compile=args.compile or False)


def fast_path_names(args) -> str:
    """'fuse_conv_bn, channels_last, compile=inductor' or 'none' for logs and result files."""
    names = [n for n in ("fuse_conv_bn", "channels_last") if getattr(args, n)]
    if args.compile:
        names.append(f"compile={args.compile}")
    return ", ".join(names) or "none"
