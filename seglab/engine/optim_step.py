"""Backward pass and optimizer step: AMP, gradient clipping and gradient accumulation.

MMSeg configs describe these in ``optimizer_config`` (mmcv ``OptimizerHook`` variants) and ``fp16``::

    optimizer_config = dict(grad_clip=dict(max_norm=35, norm_type=2))
    optimizer_config = dict(type='Fp16OptimizerHook', loss_scale=512.)       # or fp16 = dict(loss_scale=...)
    optimizer_config = dict(type='GradientCumulativeOptimizerHook', cumulative_iters=4)

Here they are options of one small object that the runner calls once per iteration.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Any, ContextManager, Dict, Mapping, Optional, Union

import torch
from torch import nn

from ..errors import ConfigError
from ..utils.precision import autocast_dtype, train_amp

# mmcv's optimizer hook types -> (accumulates gradients, float16 with a loss scaler).
_HOOK_TYPES = {"OptimizerHook": (False, False), "Fp16OptimizerHook": (False, True),
               "GradientCumulativeOptimizerHook": (True, False),
               "GradientCumulativeFp16OptimizerHook": (True, True)}
OPTIMIZER_HOOK_TYPES = tuple(_HOOK_TYPES)
# Keys of mmcv's optimizer hooks that only matter to mmcv's own implementation.
_IGNORED_KEYS = ("distributed", "coalesce", "bucket_size_mb", "detect_anomalous_params")


def parse_optimizer_config(optimizer_config: Optional[Mapping[str, Any]],
                           fp16: Optional[Mapping[str, Any]] = None,
                           amp: Union[None, bool, str] = None) -> Dict[str, Any]:
    """Turn MMSeg's ``optimizer_config``, ``fp16`` and the ``--amp`` flag into :class:`OptimStep`
    keyword arguments (the one place where the config becomes the optimizer step).

    Args:
        optimizer_config: mmcv's optimizer hook config, e.g. ``dict(grad_clip=...)`` or
            ``dict(type='GradientCumulativeOptimizerHook', cumulative_iters=4)``.
        fp16: MMSeg's ``fp16 = dict(loss_scale=512.)``: float16 AMP for whichever hook type,
            as MMSeg's train_segmentor makes the hook its Fp16 variant; a ``loss_scale`` in
            ``optimizer_config`` wins over this one.
        amp: ``--amp`` (``cfg.amp``: ``'auto'``, ``'fp16'``/True or ``'bf16'``), used when neither
            ``optimizer_config`` nor ``fp16`` asks for float16; its loss scale is dynamic.

    Returns:
        ``dict(grad_clip=..., cumulative_iters=..., amp=..., loss_scale=...)``.

    Raises:
        ConfigError: an unknown hook type, or a key that the hook type (or ``fp16``) does not take.
    """
    cfg = dict(optimizer_config or {})
    hook_type = cfg.pop("type", "OptimizerHook")
    if fp16 is not None:
        if not isinstance(fp16, Mapping):
            raise ConfigError(f"fp16 must be a dict such as dict(loss_scale=512.), got {fp16!r}")
        unknown = set(fp16) - {"loss_scale"}
        if unknown:
            raise ConfigError(f"fp16 has unknown key(s) {sorted(unknown)}; accepted: loss_scale.")
    if hook_type not in _HOOK_TYPES:
        raise ConfigError(f"optimizer_config.type = {hook_type!r} is not supported; use one of "
                          f"{', '.join(OPTIMIZER_HOOK_TYPES)}.")
    cumulative, half = _HOOK_TYPES[hook_type]
    if fp16 is not None:
        cfg.setdefault("loss_scale", fp16.get("loss_scale", 512.0))
        if not half:  # messages name the Fp16 variant that MMSeg would switch the hook to
            half = True
            hook_type = next(t for t, flags in _HOOK_TYPES.items() if flags == (cumulative, True))
    out: Dict[str, Any] = dict(grad_clip=cfg.pop("grad_clip", None), cumulative_iters=1,
                               amp="fp16" if half else amp, loss_scale="dynamic")
    if cumulative:
        out["cumulative_iters"] = cfg.pop("cumulative_iters", 1)
    if half:
        out["loss_scale"] = cfg.pop("loss_scale", 512.0)
    for key in _IGNORED_KEYS:
        cfg.pop(key, None)
    if cfg:
        raise ConfigError(f"optimizer_config (type {hook_type!r}) has unknown key(s) {sorted(cfg)}; "
                          f"accepted: grad_clip" + (", cumulative_iters" if cumulative else "")
                          + (", loss_scale" if half else "") + ".")
    return out


class OptimStep:
    """One backward pass per iteration, an optimizer step every ``cumulative_iters`` iterations.

    Args:
        device: where the model runs (AMP with float16 needs CUDA).
        grad_clip: ``dict(max_norm=..., norm_type=2)`` for ``clip_grad_norm_``; None: no clipping.
        cumulative_iters: iterations (batches) whose gradients are summed before each step; the
            loss is divided by it (by the remainder for the last incomplete group), as mmcv does.
        amp: None/False, ``'fp16'`` (or True), ``'bf16'`` or ``'auto'`` (``--amp``: float16 on
            CUDA, bfloat16 on a CPU with native bf16, see
            :func:`seglab.utils.precision.train_amp`). float16 runs only on CUDA (with a
            ``GradScaler``); on a CPU it is a no-op with one warning. bfloat16 autocasts without
            loss scaling where the hardware has it (a CPU that would emulate it, or a GPU
            without it, trains in float32 with one warning).
        loss_scale: ``'dynamic'``, a fixed float (overflowing steps are skipped, the scale stays),
            or a dict of ``GradScaler`` arguments (``init_scale``, ``growth_interval``, ...).
    """

    def __init__(self, device: Union[str, torch.device] = "cpu", grad_clip: Optional[Mapping[str, Any]] = None,
                 cumulative_iters: int = 1, amp: Union[None, bool, str] = None,
                 loss_scale: Union[str, float, Mapping[str, Any]] = "dynamic"):
        if not isinstance(cumulative_iters, int) or cumulative_iters < 1:
            raise ConfigError(f"optimizer_config.cumulative_iters must be a positive int, got "
                              f"{cumulative_iters!r}")
        if grad_clip is not None and (not isinstance(grad_clip, Mapping) or "max_norm" not in grad_clip):
            raise ConfigError(f"optimizer_config.grad_clip must be None or dict(max_norm=..., "
                              f"norm_type=2), got {grad_clip!r}")
        self.device = torch.device(device)
        self.grad_clip = dict(grad_clip) if grad_clip is not None else None
        self.cumulative_iters = cumulative_iters
        amp = "fp16" if amp is True else (None if amp is False else amp)
        if amp not in (None, "fp16", "bf16", "auto"):
            raise ConfigError(f"amp must be None, 'fp16', 'bf16' or 'auto', got {amp!r}")
        if amp == "auto":  # --amp: float16 on CUDA, bfloat16 on a CPU that has it natively
            amp = train_amp(self.device)
        elif amp == "bf16" and autocast_dtype("bf16", self.device) is None:
            amp = None  # emulated bf16: float32, with the one warning autocast_dtype gave
        if amp == "fp16" and self.device.type != "cuda":
            warnings.warn(f"AMP float16 is only used on CUDA; training on {self.device.type} in "
                          f"float32 (pass amp='bf16' for bfloat16 autocast on this device).")
            amp = None
        self.amp = amp
        self.scaler: Optional[torch.amp.GradScaler] = None
        self.static_scale: Optional[float] = None
        if amp == "fp16":
            if isinstance(loss_scale, Mapping):
                self.scaler = torch.amp.GradScaler("cuda", **loss_scale)
            elif loss_scale == "dynamic":
                self.scaler = torch.amp.GradScaler("cuda")
            elif isinstance(loss_scale, (int, float)):
                self.static_scale = float(loss_scale)
                self.scaler = torch.amp.GradScaler("cuda", init_scale=self.static_scale)
            else:
                raise ConfigError(f"loss_scale must be 'dynamic', a number or a dict, got {loss_scale!r}")

    def autocast(self) -> ContextManager:
        """The context the forward pass and loss run in."""
        if self.amp is None:
            return contextlib.nullcontext()
        dtype = torch.float16 if self.amp == "fp16" else torch.bfloat16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def step(self, loss: torch.Tensor, model: nn.Module, optimizer: torch.optim.Optimizer,
             cur_iter: int, max_iters: int) -> Optional[float]:
        """Backward ``loss`` (0-d) of iteration ``cur_iter``; step when the accumulation is full.

        Returns:
            The total gradient norm before clipping when clipping ran, else None.
        """
        k = self.cumulative_iters
        divisible = max_iters // k * k
        factor = k if cur_iter < divisible else max_iters - divisible
        if factor > 1:
            loss = loss / factor
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()
        if (cur_iter + 1) % k != 0 and cur_iter + 1 != max_iters:
            return None
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)
        grad_norm = None
        if self.grad_clip is not None:
            params = [p for g in optimizer.param_groups for p in g["params"]
                      if p.requires_grad and p.grad is not None]
            if params:
                grad_norm = float(nn.utils.clip_grad_norm_(params, **self.grad_clip))
        if self.scaler is not None:
            self.scaler.step(optimizer)
            self.scaler.update(self.static_scale)
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return grad_norm

    def state_dict(self) -> Dict[str, Any]:
        """The loss scaler's state ({} without float16 AMP)."""
        return {"loss_scaler": self.scaler.state_dict()} if self.scaler is not None else {}

    def load_state_dict(self, state: Optional[Mapping[str, Any]]) -> None:
        if self.scaler is not None and state and state.get("loss_scaler"):
            self.scaler.load_state_dict(dict(state["loss_scaler"]))
