"""MMSegmentation 1.x configs: recognised by their keys and converted to the 0.x form seglab runs.

One runtime, two config dialects. A 1.x config (``train_dataloader``, ``optim_wrapper``,
``param_scheduler``, ``train_cfg=dict(type='IterBasedTrainLoop')``, ``model.data_preprocessor``,
``PackSegInputs`` ...) becomes, here and only here, the 0.x config that the runner, the tools and
the APIs read (``data``, ``optimizer``, ``optimizer_config``, ``lr_config``, ``runner``,
``evaluation``, ``checkpoint_config``, ``log_config``)::

    >>> cfg = Config.fromfile('configs/1.x/fcn/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py')
    >>> is_1x_config(cfg)
    True
    >>> cfg0 = convert_1x_config(cfg)   # a new Config; cfg is unchanged
    >>> cfg0.data.samples_per_gpu, cfg0.runner
    (4, {'type': 'IterBasedRunner', 'max_iters': 20000})

The 1.x transforms run as themselves (registered in ``seglab.datasets.transforms``); what 1.x
does outside the pipeline is written into it: ``model.data_preprocessor`` (normalisation, the
training batch padded to ``size``) becomes ``Normalize`` (+ ``Pad``) before ``PackSegInputs``.
The key families live in :mod:`.v1x_data` (data preprocessor, dataloaders, datasets,
evaluators) and :mod:`.v1x_schedule` (optimizer wrapper, schedulers, loops, hooks, runtime).

Keys of the result that 0.x configs do not have: ``test_evaluation`` (the ``test_evaluator``'s
metrics, which tools/test.py uses without ``--eval``), ``tta_pipeline`` (normalised, for
``--tta``), ``deterministic`` / ``diff_seed`` (``randomness``, read by tools/train.py),
``visualization_1x`` (``tools/test.py --show-dir`` paints as 1.x: ``vis_data/vis_image/``,
ground truth beside the prediction, see :mod:`seglab.apis.show_1x`).
Evaluation pipelines lose their ``LoadAnnotations``: seglab's evaluator reads the label files.

Validation runs when 1.x's loop runs it: at the multiples of ``val_interval`` from
``val_begin`` on and after the last iteration (``evaluation.eval_last``, off for 0.x configs).

Where the run differs from MMSegmentation 1.x: its PolyLR decays over ``end - begin - 1``
iterations (kept: mmengine's numbers, not 0.x's poly); metrics are logged as fractions as in
0.x (1.x: percentages).

A 1.x value seglab cannot run (a scheduler type, a sampler, an mmengine feature) raises
:class:`V1xConfigError`, naming the key and value and saying it is a MMSegmentation 1.x feature
seglab does not run yet. 1.x keys with no effect on what seglab computes are accepted, each
listed in :data:`ACCEPTED_1X_KEYS`.
"""
from __future__ import annotations

import copy
import os
import warnings
from typing import Any, Dict, Mapping, Optional

from ..errors import ConfigError
from .config import Config
from .config_dict import to_plain
from .v1x_checkpoint import checkpoint_meta  # noqa: F401  (1.x checkpoints' dataset_meta)

# Top-level keys that only 1.x configs have; any one of them makes a config 1.x.
MARKER_KEYS = ("train_dataloader", "val_dataloader", "test_dataloader", "optim_wrapper",
               "param_scheduler", "val_evaluator", "test_evaluator", "default_hooks",
               "val_cfg", "env_cfg", "tta_model", "visualizer", "log_processor")
# 1.x keys accepted without effect on seglab's run, and why.
ACCEPTED_1X_KEYS = {
    "default_scope": "registry scope of mmengine ('mmseg'); seglab has one registry per kind",
    "vis_backends": "a helper variable of the 1.x _base_ files (the visualizer's backends)",
    "log_processor": "how mmengine smooths logged values; seglab's text log averages over "
                     "log_config.interval",
    "tta_model": "SegTTAModel: seglab's segmentors merge test-time augmentations themselves",
    "data_preprocessor": "a helper variable of the 1.x configs; the model's one is converted",
    "launcher": "set by mmengine's tools from --launcher",
}
# The 1.x types this converter maps onto seglab's runtime (they are not registered classes; the
# 1.x transforms and datasets are, in seglab.datasets).
SCHEDULER_TYPES = ("LinearLR", "ConstantLR", "PolyLR", "MultiStepLR", "StepLR", "ExponentialLR",
                   "CosineAnnealingLR")  # seglab/engine/param_scheduler.py runs them
MAPPED_TYPES = frozenset(SCHEDULER_TYPES + (
    "SegDataPreProcessor", "DefaultSampler", "InfiniteSampler", "pseudo_collate",
    "default_collate", "BaseSegDataset", "IoUMetric", "CityscapesMetric", "OptimWrapper",
    "AmpOptimWrapper", "DefaultOptimWrapperConstructor", "IterBasedTrainLoop", "ValLoop",
    "TestLoop", "IterTimerHook", "LoggerHook", "ParamSchedulerHook", "CheckpointHook",
    "DistSamplerSeedHook", "SegVisualizationHook", "SegLocalVisualizer", "Visualizer",
    "LocalVisBackend", "TensorboardVisBackend", "SegTTAModel"))
# Model types of MMSegmentation 1.x that seglab does not have (configs/1.x/README.md "Left out"),
# and why: a config naming one fails with the 1.x message, not the registry's "did you mean".
V1X_ONLY_MODEL_TYPES = {
    "Mask2FormerHead": "Mask2Former (its head is built from mmdet's transformer decoder, matcher "
                       "and losses; seglab does not depend on mmdet)",
    "MaskFormerHead": "MaskFormer (built from mmdet's pixel decoder, matcher and losses; seglab "
                      "does not depend on mmdet)",
    "SideAdapterCLIPHead": "SAN (open-vocabulary segmentation with CLIP)",
    "MultimodalEncoderDecoder": "SAN's segmentor (image and text encoders)",
    "CLIPTextEncoder": "SAN's CLIP text encoder",
    "VPD": "VPD (a Stable Diffusion backbone)",
    "VPDDepthHead": "VPD depth estimation",
    "DepthEstimator": "VPD depth estimation (seglab does semantic segmentation only)",
}
# 0.x keys that mmengine ignores in a 1.x config (leftovers in some 1.x files): dropped.
IGNORED_0X_KEYS = ("runner", "total_iters", "fp16", "data", "lr_config", "optimizer_config",
                   "evaluation", "checkpoint_config", "log_config", "workflow", "dist_params",
                   "auto_resume", "resume_from", "cudnn_benchmark")


class V1xConfigError(ConfigError):
    """A MMSegmentation 1.x config uses something seglab does not run (yet)."""


def unsupported(key: str, value: Any, hint: str = "") -> V1xConfigError:
    """The error for a 1.x ``key = value`` that seglab cannot run; ``hint`` says what it can."""
    text = (f"{key} = {value!r} is a MMSegmentation 1.x feature seglab does not run yet "
            f"(in 1.x config {{file}})")
    return V1xConfigError(text + (f"; {hint}" if hint else "") + ".")


def check_keys(where: str, cfg: Mapping[str, Any], accepted) -> None:
    """Fail naming the keys of ``cfg`` (a 1.x dict at ``where``) that are not ``accepted``."""
    unknown = sorted(k for k in cfg if k not in accepted)
    if unknown:
        raise V1xConfigError(f"{where} has key(s) {unknown} that seglab does not map from "
                             f"MMSegmentation 1.x (in 1.x config {{file}}); it maps "
                             f"{sorted(accepted)}.")


def as_dict(where: str, value: Any) -> Dict[str, Any]:
    """``value`` (a 1.x dict at ``where``; None: empty) as a dict, or an error naming ``where``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise V1xConfigError(f"{where} must be a dict, got {value!r:.80} (in 1.x config "
                             f"{{file}}).")
    return dict(value)


def required(where: str, cfg: Mapping[str, Any], key: str) -> Any:
    """``cfg[key]``, or an error saying that the 1.x dict at ``where`` needs ``key``."""
    if key not in cfg:
        raise V1xConfigError(f"{where} has no {key!r}, which MMSegmentation 1.x needs there (in "
                             f"1.x config {{file}}).")
    return cfg[key]


def is_1x_config(cfg: Mapping[str, Any]) -> bool:
    """True when ``cfg`` is written in the MMSegmentation 1.x dialect.

    Recognised by a 1.x-only top-level key (:data:`MARKER_KEYS`), a ``train_cfg`` / ``test_cfg``
    that is a loop (``dict(type='IterBasedTrainLoop', ...)``, ``dict(type='TestLoop')``) or a
    ``model.data_preprocessor``.
    """
    if any(key in cfg for key in MARKER_KEYS):
        return True
    for key in ("train_cfg", "test_cfg"):
        value = cfg.get(key)
        if isinstance(value, Mapping) and str(value.get("type", "")).endswith("Loop"):
            return True
    model = cfg.get("model")
    return isinstance(model, Mapping) and "data_preprocessor" in model


def convert_1x_config(cfg: Config) -> Config:
    """The 0.x-form :class:`Config` that runs ``cfg``, a 1.x config; ``cfg`` is not modified.

    Raises:
        V1xConfigError: ``cfg`` uses a 1.x type or mmengine feature seglab does not run; the
            message names the key and value.
    """
    from . import v1x_data, v1x_schedule

    src: Dict[str, Any] = to_plain(cfg._cfg_dict) if isinstance(cfg, Config) else \
        copy.deepcopy(dict(cfg))
    filename = getattr(cfg, "filename", None)
    ignored = [key for key in src if key in IGNORED_0X_KEYS]
    if ignored:
        warnings.warn(f"The MMSegmentation 1.x config {filename or '<dict>'} also sets the 0.x "
                      f"key(s) {ignored}; they are ignored, as MMSegmentation 1.x ignores them.")
    try:
        out = _convert(src, v1x_data, v1x_schedule)
    except V1xConfigError as err:
        raise V1xConfigError(str(err).replace("{file}", os.fspath(filename or "<dict>"))) \
            from None
    text = cfg.text if isinstance(cfg, Config) else None
    return Config(out, cfg_text=text, filename=filename)


def _convert(src: Dict[str, Any], v1x_data, v1x_schedule) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key, value in src.items():
        if key in IGNORED_0X_KEYS or key in ACCEPTED_1X_KEYS or key in v1x_data.KEYS or \
                key in v1x_schedule.KEYS:
            continue
        out[key] = value  # model, helper variables (dataset_type, crop_size, norm_cfg, ...)
    if "model" not in src:
        raise V1xConfigError("The 1.x config {file} has no `model` section.")
    _check_model_types(src["model"])
    tta = src.get("tta_model")
    if isinstance(tta, Mapping) and tta.get("type", "SegTTAModel") != "SegTTAModel":
        raise unsupported("tta_model.type", tta["type"], "seglab merges the tta_pipeline views "
                          "as SegTTAModel does (tools/test.py --tta)")
    model, preprocessor = v1x_data.split_model(src["model"])
    out["model"] = model
    out.update(v1x_data.convert_data(src, preprocessor))
    v1x_schedule.convert_schedule(src, out)
    return out


def _check_model_types(model: Any) -> None:
    """Fail with the 1.x message when the segmentor, backbone, neck or a head is a 1.x-only type
    seglab lacks (:data:`V1X_ONLY_MODEL_TYPES`); other unknown types get the registry's error."""
    if not isinstance(model, Mapping):
        return
    parts = [("model", model)] + [(f"model.{key}", model.get(key)) for key in
                                  ("backbone", "neck", "decode_head", "auxiliary_head")]
    for where, part in parts:
        items = part if isinstance(part, (list, tuple)) else [part]
        for i, item in enumerate(items):
            kind = item.get("type") if isinstance(item, Mapping) else None
            name = kind.rpartition(".")[2] if isinstance(kind, str) else None
            if name in V1X_ONLY_MODEL_TYPES:
                at = f"{where}[{i}]" if isinstance(part, (list, tuple)) else where
                raise unsupported(f"{at}.type", kind, f"seglab has no {V1X_ONLY_MODEL_TYPES[name]}; "
                                  f"see configs/1.x/README.md for the families it runs")


def load_config(filename: Any, cfg_options: Optional[Mapping[str, Any]] = None) -> Config:
    """Read a config of either dialect, apply ``--cfg-options``, and return the 0.x form.

    The overrides use the keys of the file's own dialect (``train_dataloader.batch_size=2`` for
    a 1.x config), as in MMSegmentation 1.x; a 1.x config is then converted once.
    """
    cfg = filename if isinstance(filename, Config) else Config.fromfile(filename)
    if cfg_options:
        cfg.merge_from_dict(dict(cfg_options))
    return convert_1x_config(cfg) if is_1x_config(cfg) else cfg

