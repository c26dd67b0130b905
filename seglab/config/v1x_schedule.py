"""1.x schedule and runtime keys -> 0.x (see :mod:`seglab.config.v1x`).

============================  =============================================================
1.x                           0.x form seglab runs
============================  =============================================================
optim_wrapper.optimizer       optimizer (+ paramwise_cfg, constructor)
optim_wrapper.clip_grad       optimizer_config.grad_clip
accumulative_counts           optimizer_config type GradientCumulativeOptimizerHook
AmpOptimWrapper               amp='auto' (as --amp: float16 on CUDA, bfloat16 on a CPU);
                              float16 or a static loss_scale: Fp16OptimizerHook (loss_scale);
                              bfloat16: amp='bf16'
param_scheduler               lr_config = dict(policy='ParamSchedulerChain', schedulers=[...])
train_cfg IterBasedTrainLoop  runner = dict(type='IterBasedRunner', max_iters);
                              evaluation: interval = val_interval, eval_last=True (also
                              after the last iteration), start from val_begin
default_hooks.logger          log_config = dict(interval, hooks=[TextLoggerHook])
default_hooks.checkpoint      checkpoint_config (interval, max_keep_ckpts, save_last, ...);
                              save_best / rule -> evaluation
visualizer TensorboardVis...  log_config.hooks += TensorboardLoggerHook
default_hooks.visualization   visualization_1x = dict(interval, alpha): tools/test.py --show /
 + visualizer.alpha           --show-dir paint as 1.x (seglab/apis/show_1x.py)
randomness                    seed, deterministic, diff_seed
env_cfg                       cudnn_benchmark, dist_params
resume (+ load_from)          resume_from (resume=True with load_from) or auto_resume
============================  =============================================================
"""
from __future__ import annotations

import warnings
from typing import Any, Dict, List, Mapping

from .v1x import V1xConfigError, as_dict, check_keys, required, unsupported

KEYS = ("optim_wrapper", "optimizer", "param_scheduler", "train_cfg", "val_cfg", "test_cfg",
        "default_hooks", "randomness", "env_cfg", "resume", "visualizer", "auto_scale_lr",
        "custom_hooks")
_WRAPPER_KEYS = ("type", "optimizer", "clip_grad", "accumulative_counts", "paramwise_cfg",
                 "constructor", "loss_scale", "dtype")
_CONSTRUCTORS = ("DefaultOptimWrapperConstructor", "LearningRateDecayOptimizerConstructor",
                 "LayerDecayOptimizerConstructor")
# Hooks that seglab's runner always runs in its own way (timing, lr updates, sampler epochs).
_BUILT_IN_HOOKS = {"timer": "IterTimerHook", "param_scheduler": "ParamSchedulerHook",
                   "sampler_seed": "DistSamplerSeedHook"}


def convert_optim_wrapper(wrapper: Any) -> Dict[str, Any]:
    """``optimizer``, ``optimizer_config`` (and ``amp``) of a 1.x ``optim_wrapper``."""
    if not isinstance(wrapper, Mapping) or "optimizer" not in wrapper:
        raise unsupported("optim_wrapper", wrapper, "give dict(type='OptimWrapper', "
                          "optimizer=dict(type='SGD', lr=0.01, ...))")
    wrapper = dict(wrapper)
    check_keys("optim_wrapper", wrapper, _WRAPPER_KEYS)
    kind = wrapper.get("type", "OptimWrapper")
    if kind not in ("OptimWrapper", "AmpOptimWrapper"):
        raise unsupported("optim_wrapper.type", kind, "seglab maps OptimWrapper and "
                          "AmpOptimWrapper")
    optimizer = as_dict("optim_wrapper.optimizer", wrapper["optimizer"])
    if wrapper.get("paramwise_cfg"):
        paramwise = as_dict("optim_wrapper.paramwise_cfg", wrapper["paramwise_cfg"])
        if "flat_decay_mult" in paramwise:
            raise unsupported("optim_wrapper.paramwise_cfg.flat_decay_mult",
                              paramwise["flat_decay_mult"])
        optimizer["paramwise_cfg"] = paramwise
    constructor = wrapper.get("constructor")
    if constructor is not None:
        if constructor not in _CONSTRUCTORS:
            raise unsupported("optim_wrapper.constructor", constructor,
                              f"seglab maps {', '.join(_CONSTRUCTORS)}")
        if constructor != "DefaultOptimWrapperConstructor":
            optimizer["constructor"] = constructor
    step: Dict[str, Any] = {}
    clip = wrapper.get("clip_grad")
    if clip is not None:
        clip = as_dict("optim_wrapper.clip_grad", clip)
        if clip.pop("type", "norm") != "norm":
            raise unsupported("optim_wrapper.clip_grad.type", wrapper["clip_grad"]["type"],
                              "seglab clips the gradient norm (max_norm, norm_type)")
        step["grad_clip"] = clip
    counts = wrapper.get("accumulative_counts", 1)
    out: Dict[str, Any] = dict(optimizer=optimizer)
    half = False
    if kind == "AmpOptimWrapper":
        dtype = wrapper.get("dtype")
        loss_scale = wrapper.get("loss_scale", "dynamic")
        if dtype is None and loss_scale == "dynamic":
            # mmengine's autocast without a dtype: float16 (dynamic scaler) on CUDA, bfloat16 on
            # a CPU, which is what seglab's --amp ('auto') does; MMSeg's --amp writes this wrapper.
            out["amp"] = "auto"
        elif dtype in (None, "float16"):
            half = True
            step["loss_scale"] = loss_scale
        elif dtype == "bfloat16":
            out["amp"] = "bf16"
        else:
            raise unsupported("optim_wrapper.dtype", dtype, "use 'float16' or 'bfloat16'")
    elif "loss_scale" in wrapper or "dtype" in wrapper:
        raise V1xConfigError("optim_wrapper.loss_scale / dtype need type='AmpOptimWrapper' (in "
                             "1.x config {file}).")
    if counts != 1:
        step["cumulative_iters"] = counts
    name = ("GradientCumulative" if counts != 1 else "") + ("Fp16" if half else "") + \
        "OptimizerHook"
    out["optimizer_config"] = dict(type=name, **step) if name != "OptimizerHook" else step
    return out


def convert_param_scheduler(schedulers: Any) -> Dict[str, Any]:
    """``lr_config`` running a 1.x ``param_scheduler`` (one dict or a list) exactly."""
    from ..engine.param_scheduler import build_scheduler

    items = schedulers if isinstance(schedulers, (list, tuple)) else [schedulers]
    out: List[Dict[str, Any]] = []
    for i, item in enumerate(items):
        where = f"param_scheduler[{i}]" if isinstance(schedulers, (list, tuple)) else \
            "param_scheduler"
        if not isinstance(item, Mapping):
            raise unsupported(where, item, "give dict(type='PolyLR', ...)")
        item = dict(item)
        if item.pop("by_epoch", True):
            raise unsupported(f"{where}.by_epoch", True, "seglab trains by iterations: set "
                              "by_epoch=False with begin/end in iterations")
        if item.pop("convert_to_iter_based", False):
            raise unsupported(f"{where}.convert_to_iter_based", True)
        item.pop("verbose", None)
        build_scheduler(item, where)  # the error names the key now, not at run time
        out.append(item)
    return dict(lr_config=dict(policy="ParamSchedulerChain", schedulers=out))


def convert_loops(src: Mapping[str, Any]) -> Dict[str, Any]:
    """``runner`` and the evaluation interval from ``train_cfg`` / ``val_cfg`` / ``test_cfg``."""
    out: Dict[str, Any] = {}
    for key, kind in (("val_cfg", "ValLoop"), ("test_cfg", "TestLoop")):
        loop = src.get(key)
        if loop is None:
            continue
        if not isinstance(loop, Mapping) or loop.get("type") != kind:
            raise unsupported(key, loop, f"seglab maps dict(type='{kind}')")
        check_keys(key, loop, ("type", "fp16"))
        if loop.get("fp16"):
            raise unsupported(f"{key}.fp16", True, "use tools/test.py --precision fp16 or "
                              "tools/train.py --eval-precision fp16")
    loop = src.get("train_cfg")
    if loop is None:
        return out
    if not isinstance(loop, Mapping) or loop.get("type") != "IterBasedTrainLoop":
        kind = loop.get("type") if isinstance(loop, Mapping) else loop
        raise unsupported("train_cfg.type", kind, "seglab trains by iterations: use "
                          "dict(type='IterBasedTrainLoop', max_iters=N, val_interval=M)")
    check_keys("train_cfg", loop, ("type", "max_iters", "val_interval", "val_begin"))
    out["runner"] = dict(type="IterBasedRunner",
                         max_iters=required("train_cfg", loop, "max_iters"))
    out["evaluation"] = _validation_times(loop)
    return out


def _validation_times(loop: Mapping[str, Any]) -> Dict[str, Any]:
    """The EvalHook keys that validate when mmengine's ``IterBasedTrainLoop`` does: after every
    iteration ``i >= val_begin`` with ``i % val_interval == 0``, and after the last one."""
    interval, begin = loop.get("val_interval", 1000), loop.get("val_begin", 1)
    max_iters = loop["max_iters"]
    for key, value in (("val_interval", interval), ("val_begin", begin),
                       ("max_iters", max_iters)):
        positive = key != "val_begin"
        if not isinstance(value, int) or isinstance(value, bool) or (positive and value <= 0):
            raise V1xConfigError(f"train_cfg.{key} must be {'a positive' if positive else 'an'} "
                                 f"int, got {value!r} (in 1.x config {{file}}).")
    out: Dict[str, Any] = dict(interval=interval, eval_last=True)
    if begin > 1:  # 0.x's start counts the interval from itself: start at the first multiple
        first = -(-begin // interval) * interval
        out["start"] = first if begin > max_iters else min(first, max_iters)
    return out


def convert_hooks(hooks: Mapping[str, Any], visualizer: Any) -> Dict[str, Any]:
    """``log_config``, ``checkpoint_config`` and the checkpoint hook's ``evaluation`` keys."""
    out: Dict[str, Any] = {}
    best: Dict[str, Any] = {}
    # What tools/test.py --show / --show-dir paint as 1.x does (seglab/apis/show_1x.py).
    vis: Dict[str, Any] = dict(interval=50, alpha=0.8)
    for name, hook in as_dict("default_hooks", hooks).items():
        if hook is None:  # 1.x switches a default hook off this way
            continue
        where = f"default_hooks.{name}"
        hook = as_dict(where, hook)
        kind = hook.get("type")
        if name in _BUILT_IN_HOOKS:
            if kind != _BUILT_IN_HOOKS[name]:
                raise unsupported(f"{where}.type", kind, f"seglab runs {_BUILT_IN_HOOKS[name]}")
        elif name == "logger" and kind == "LoggerHook":
            check_keys(where, hook, ("type", "interval", "log_metric_by_epoch", "ignore_last",
                                     "interval_exp_name"))
            out["log_config"] = dict(interval=hook.get("interval", 10), hooks=[
                dict(type="TextLoggerHook", by_epoch=False,
                     ignore_last=hook.get("ignore_last", True))])
        elif name == "checkpoint" and kind == "CheckpointHook":
            out["checkpoint_config"], best = _checkpoint(where, hook)
        elif name == "visualization" and kind == "SegVisualizationHook":
            check_keys(where, hook, ("type", "draw", "interval", "show", "wait_time",
                                     "backend_args"))
            if hook.get("draw") or hook.get("show"):
                warnings.warn(f"{where}: drawing predictions during validation is not mapped; "
                              f"tools/test.py --show-dir DIR paints the test results.")
            vis["interval"] = hook.get("interval", 50)
        else:
            raise unsupported(where, hook, "seglab maps timer, logger, param_scheduler, "
                              "checkpoint, sampler_seed and visualization")
    for backend in _vis_backends(visualizer):
        out.setdefault("log_config", dict(interval=10, hooks=[]))
        out["log_config"]["hooks"].append(backend)
    if isinstance(visualizer, Mapping) and visualizer.get("alpha") is not None:
        vis["alpha"] = visualizer["alpha"]
    return dict(out, best=best, visualization_1x=vis)


def _checkpoint(where: str, hook: Dict[str, Any]):
    check_keys(where, hook, ("type", "interval", "by_epoch", "save_optimizer",
                             "save_param_scheduler", "out_dir", "max_keep_ckpts", "save_last",
                             "save_best", "rule", "greater_keys", "less_keys", "filename_tmpl",
                             "published_keys", "save_begin", "backend_args",
                             "file_client_args"))
    if hook.get("by_epoch", True):
        raise unsupported(f"{where}.by_epoch", True, "seglab saves by iterations: set "
                          "by_epoch=False")
    if hook.get("save_begin", 0) != 0:
        raise unsupported(f"{where}.save_begin", hook["save_begin"])
    for key in ("backend_args", "file_client_args"):
        if hook.get(key) is not None:
            raise unsupported(f"{where}.{key}", hook[key], "seglab saves to the local disk")
    cfg = dict(interval=hook.get("interval", -1), by_epoch=False)
    for key in ("save_optimizer", "out_dir", "max_keep_ckpts", "save_last", "filename_tmpl"):
        if hook.get(key) is not None:
            cfg[key] = hook[key]
    best: Dict[str, Any] = {}
    save_best = hook.get("save_best")
    if isinstance(save_best, (list, tuple)):
        if len(save_best) != 1:
            raise unsupported(f"{where}.save_best", save_best, "seglab keeps the best checkpoint "
                              "of one metric")
        save_best = save_best[0]
    if save_best is not None:
        best["save_best"] = save_best
        for key in ("rule", "greater_keys", "less_keys"):
            if hook.get(key) is not None:
                rule = hook[key]
                best[key] = rule[0] if key == "rule" and isinstance(rule, (list, tuple)) else rule
    return cfg, best


def _vis_backends(visualizer: Any) -> List[Dict[str, Any]]:
    """The logger hooks for the visualizer's backends (LocalVisBackend: none needed)."""
    if visualizer is None:
        return []
    visualizer = dict(visualizer)
    check_keys("visualizer", visualizer, ("type", "vis_backends", "name", "save_dir", "alpha"))
    if visualizer.get("type", "SegLocalVisualizer") not in ("SegLocalVisualizer", "Visualizer"):
        raise unsupported("visualizer.type", visualizer["type"])
    hooks = []
    for i, backend in enumerate(visualizer.get("vis_backends") or []):
        kind = dict(backend).get("type")
        if kind == "TensorboardVisBackend":
            hooks.append(dict(type="TensorboardLoggerHook", by_epoch=False))
        elif kind != "LocalVisBackend":
            raise unsupported(f"visualizer.vis_backends[{i}].type", kind, "seglab maps "
                              "LocalVisBackend and TensorboardVisBackend")
    return hooks


def convert_custom_hooks(hooks: Any) -> List[Any]:
    """1.x ``custom_hooks``, kept when seglab has each hook type (mmengine ones it lacks, such
    as EMAHook, fail here naming the entry)."""
    from ..engine import hooks as _registered  # noqa: F401  (fills HOOKS)
    from ..registry import HOOKS

    for i, hook in enumerate(hooks):
        kind = hook.get("type") if isinstance(hook, Mapping) else hook
        if kind not in HOOKS:
            raise unsupported(f"custom_hooks[{i}].type", kind, f"seglab has the hooks "
                              f"{', '.join(sorted(HOOKS))}")
    return list(hooks)


def convert_runtime(src: Mapping[str, Any]) -> Dict[str, Any]:
    """``seed``, ``deterministic``, ``cudnn_benchmark``, ``dist_params``, resume settings."""
    out: Dict[str, Any] = {}
    randomness = as_dict("randomness", src.get("randomness"))
    check_keys("randomness", randomness, ("seed", "deterministic", "diff_rank_seed"))
    if randomness.get("seed") is not None:
        out["seed"] = randomness["seed"]
    if randomness.get("deterministic"):
        out["deterministic"] = True
    if randomness.get("diff_rank_seed"):
        out["diff_seed"] = True
    env = as_dict("env_cfg", src.get("env_cfg"))
    check_keys("env_cfg", env, ("cudnn_benchmark", "mp_cfg", "dist_cfg"))
    if "cudnn_benchmark" in env:
        out["cudnn_benchmark"] = bool(env["cudnn_benchmark"])
    if env.get("dist_cfg"):
        out["dist_params"] = dict(env["dist_cfg"])
    scale = src.get("auto_scale_lr")
    if isinstance(scale, Mapping) and scale.get("enable"):
        raise unsupported("auto_scale_lr.enable", True, "scale optimizer.lr yourself")
    if src.get("resume"):
        if src.get("load_from"):
            out["resume_from"], out["load_from"] = src["load_from"], None
        else:
            out["auto_resume"] = True
    return out


def convert_schedule(src: Mapping[str, Any], out: Dict[str, Any]) -> None:
    """Add the 0.x schedule and runtime keys of ``src`` (a 1.x config) to ``out``."""
    if src.get("optim_wrapper") is not None:
        out.update(convert_optim_wrapper(src["optim_wrapper"]))
    if src.get("param_scheduler"):
        out.update(convert_param_scheduler(src["param_scheduler"]))
    loops = convert_loops(src)
    validation = loops.pop("evaluation", {})
    out.update(loops)
    hooks = convert_hooks(src.get("default_hooks"), src.get("visualizer"))
    best = hooks.pop("best")
    out.update(hooks)
    if src.get("custom_hooks"):
        out["custom_hooks"] = convert_custom_hooks(src["custom_hooks"])
    if "evaluation" in out:
        out["evaluation"].update(validation, **best)
    out.update(convert_runtime(src))
