"""1.x data keys -> 0.x: ``model.data_preprocessor``, the three dataloaders, their datasets and
the evaluators (see :mod:`seglab.config.v1x`).

``SegDataPreProcessor`` (swap to RGB, ``(x - mean) / std``, then in training pad the batch to
``size`` with ``pad_val`` in normalised space and the labels with ``seg_pad_val``) becomes
``Normalize(mean, std, to_rgb=bgr_to_rgb)`` followed, in the training pipelines, by
``Pad(size=size, pad_val=pad_val, seg_pad_val=seg_pad_val)``, inserted right before
``PackSegInputs``. seglab normalises deferred and writes a deferred ``Pad``'s value after
normalising (``seglab.datasets.transforms.deferred``), and the collate pads a batch with 0 in
normalised space, so the network sees 1.x's numbers.
"""
from __future__ import annotations

import copy
import inspect
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .v1x import V1xConfigError, as_dict, check_keys, required, unsupported

KEYS = ("train_dataloader", "val_dataloader", "test_dataloader", "val_evaluator",
        "test_evaluator", "tta_pipeline")
_PREPROCESSOR_KEYS = ("type", "mean", "std", "size", "size_divisor", "pad_val", "seg_pad_val",
                      "bgr_to_rgb", "rgb_to_bgr", "batch_augments", "test_cfg")
_LOADER_KEYS = ("batch_size", "num_workers", "persistent_workers", "sampler", "dataset",
                "pin_memory", "drop_last", "prefetch_factor", "collate_fn")
_SAMPLERS = ("InfiniteSampler", "DefaultSampler")
_COLLATES = ("pseudo_collate", "default_collate")
# BaseSegDataset arguments with no effect on what seglab computes (mmengine's lazy loading,
# serialisation of the file list, retries of failed samples).
_DATASET_NO_EFFECT = ("lazy_init", "serialize_data", "max_refetch")
_PACK = "PackSegInputs"


# ----------------------------------------------------------------------- data preprocessor
def split_model(model: Mapping[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(the model dict without ``data_preprocessor``, the checked preprocessor dict).

    A model without one gets mmengine's default: no normalisation, no padding.
    """
    model = copy.deepcopy(dict(model))
    pre = model.pop("data_preprocessor", None) or {}
    if not isinstance(pre, Mapping):
        raise unsupported("model.data_preprocessor", pre, "give a dict(type='SegDataPreProcessor')")
    pre = dict(pre)
    if pre.get("type", "SegDataPreProcessor") != "SegDataPreProcessor":
        raise unsupported("model.data_preprocessor.type", pre["type"],
                          "seglab maps SegDataPreProcessor")
    check_keys("model.data_preprocessor", pre, _PREPROCESSOR_KEYS)
    if pre.get("batch_augments") is not None:
        raise unsupported("model.data_preprocessor.batch_augments", pre["batch_augments"])
    if pre.get("bgr_to_rgb") and pre.get("rgb_to_bgr"):
        raise V1xConfigError("model.data_preprocessor sets both bgr_to_rgb and rgb_to_bgr (in "
                             "1.x config {file}); set one.")
    test_cfg = pre.get("test_cfg") or {}
    check_keys("model.data_preprocessor.test_cfg", test_cfg, ("size", "size_divisor"))
    return model, pre


def _normalize_step(pre: Mapping[str, Any]) -> Dict[str, Any]:
    swap = bool(pre.get("bgr_to_rgb") or pre.get("rgb_to_bgr"))
    if pre.get("mean") is None:  # 1.x casts to float only; the same numbers
        return dict(type="Normalize", mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0], to_rgb=swap)
    if pre.get("std") is None:
        raise V1xConfigError("model.data_preprocessor sets mean but not std (in 1.x config "
                             "{file}); 1.x needs both.")
    return dict(type="Normalize", mean=list(pre["mean"]), std=list(pre["std"]), to_rgb=swap)


def _pad_step(pad: Mapping[str, Any], pre: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    if pad.get("size") is not None:
        what = dict(size=tuple(pad["size"]))
    elif pad.get("size_divisor") is not None:
        what = dict(size_divisor=pad["size_divisor"])
    else:
        return None
    return dict(type="Pad", **what, pad_val=pre.get("pad_val", 0),
                seg_pad_val=pre.get("seg_pad_val", 255))


def preprocessing_steps(pre: Mapping[str, Any], training: bool) -> List[Dict[str, Any]]:
    """The transforms that do the data preprocessor's work, for a train or a test pipeline."""
    steps = [_normalize_step(pre)]
    pad = _pad_step(pre if training else (pre.get("test_cfg") or {}), pre)
    if pad is not None:
        steps.append(pad)
    return steps


def _pad_size_as_hw(step: Any) -> Any:
    """A pipeline ``Pad`` step with mmcv 2.x's ``size=(w, h)`` as seglab's ``(h, w)``."""
    if isinstance(step, Mapping) and step.get("type") == "Pad" and step.get("size") is not None:
        size = step["size"]
        if isinstance(size, (list, tuple)) and len(size) == 2:
            return dict(step, size=(size[1], size[0]))
    return step


def _flips_drawn_each(pipeline: List[Any]) -> List[Any]:
    """``pipeline`` whose ``RandomFlip`` steps, when it has several, each draw their own flip as
    mmcv 2.x's do (their one direction as a list: seglab's 1.x form). 0.x's form keeps the
    ``flip`` an earlier ``RandomFlip`` set, so a second flip would undo the first."""
    def is_flip(step: Any) -> bool:
        return isinstance(step, Mapping) and step.get("type") == "RandomFlip"

    if sum(map(is_flip, pipeline)) < 2:
        return pipeline
    return [dict(step, direction=[step.get("direction", "horizontal")])
            if is_flip(step) and isinstance(step.get("direction", "horizontal"), str) else step
            for step in pipeline]


def insert_before_pack(pipeline: List[Any], steps: List[Dict[str, Any]], where: str) -> List[Any]:
    """``pipeline`` with ``steps`` inserted before its ``PackSegInputs`` (also inside
    ``TestTimeAug``, as one more augmentation step of one choice each); its own ``Pad``
    steps' ``size`` turned from mmcv 2.x's ``(w, h)`` into seglab's ``(h, w)`` (``steps`` are
    already ``(h, w)``, as the data preprocessor's ``size``), several ``RandomFlip`` steps as
    :func:`_flips_drawn_each` gives them."""
    pipeline = [dict(step, transforms=[[_pad_size_as_hw(t) for t in group]
                                       for group in step.get("transforms") or []])
                if isinstance(step, Mapping) and step.get("type") == "TestTimeAug"
                else _pad_size_as_hw(step)
                for step in _flips_drawn_each(copy.deepcopy(list(pipeline)))]
    for i, step in enumerate(pipeline):
        kind = step.get("type") if isinstance(step, Mapping) else None
        if kind == _PACK:
            return pipeline[:i] + copy.deepcopy(steps) + pipeline[i:]
        if kind == "TestTimeAug":
            groups = list(step.get("transforms") or [])
            for j, group in enumerate(groups):
                if any(isinstance(t, Mapping) and t.get("type") == _PACK for t in group):
                    groups[j:j] = [[copy.deepcopy(s)] for s in steps]
                    pipeline[i] = dict(step, transforms=groups)
                    return pipeline
    raise V1xConfigError(f"{where} has no PackSegInputs step (in 1.x config {{file}}); a 1.x "
                         f"pipeline ends with dict(type='PackSegInputs').")


# --------------------------------------------------------------------------------- datasets
def without_label_loading(pipeline: List[Any]) -> Tuple[List[Any], Optional[bool]]:
    """An evaluation pipeline without its ``LoadAnnotations`` (also inside ``TestTimeAug``), and
    the ``reduce_zero_label`` those steps asked for (None: none said).

    1.x loads the labels in its test pipelines (after ``Resize``, so at the original size) for
    the evaluator; seglab's evaluator reads the label files itself, at the original size, with
    the dataset's ``reduce_zero_label``, and a test-mode sample has no labels to load.
    """
    reduce: List[Optional[bool]] = []

    def keep(step: Any) -> bool:
        if isinstance(step, Mapping) and step.get("type") == "LoadAnnotations":
            reduce.append(step.get("reduce_zero_label"))
            return False
        return True

    out = []
    for step in pipeline:
        if isinstance(step, Mapping) and step.get("type") == "TestTimeAug":
            groups = [[t for t in group if keep(t)] for group in step.get("transforms") or []]
            step = dict(step, transforms=[g for g in groups if g])
        if keep(step):
            out.append(step)
    said = [r for r in reduce if r is not None]
    return out, (any(said) if said else None)


def dataset_reduce_zero_label(ds: Mapping[str, Any]) -> Optional[bool]:
    """The ``reduce_zero_label`` a 1.x dataset dict gives its samples: its own key, else the
    class's default (``ADE20KDataset``: True); None for a type seglab does not know."""
    if "reduce_zero_label" in ds:
        return bool(ds["reduce_zero_label"])
    from .. import datasets  # noqa: F401  (the dataset classes register on import)
    from ..registry import DATASETS

    cls = DATASETS.get(str(ds.get("type", "")))
    if cls is None:
        return None
    param = inspect.signature(cls).parameters.get("reduce_zero_label")
    if param is not None and param.default is not inspect.Parameter.empty:
        return bool(param.default)
    for klass in cls.__mro__:  # a value the class fixes is not an argument
        if "reduce_zero_label" in getattr(klass, "FIXED", {}):
            return bool(klass.FIXED["reduce_zero_label"])
    return None


def with_label_reduction(pipeline: List[Any], reduce: Optional[bool]) -> List[Any]:
    """``pipeline`` whose ``LoadAnnotations`` steps without ``reduce_zero_label`` get the
    dataset's: 1.x's ``LoadAnnotations()`` takes it from the dataset, 0.x's would not reduce."""
    if not reduce:  # False is what 0.x's LoadAnnotations() does anyway
        return pipeline
    return [dict(step, reduce_zero_label=True)
            if isinstance(step, Mapping) and step.get("type") == "LoadAnnotations"
            and step.get("reduce_zero_label") is None else step for step in pipeline]


def _as_list(where: str, value: Any) -> List[Any]:
    if not isinstance(value, (list, tuple)):
        raise V1xConfigError(f"{where} must be a list, got {value!r:.80} (in 1.x config "
                             f"{{file}}).")
    return list(value)


def _check_label_map_order(ds: Mapping[str, Any], where: str) -> None:
    """Refuse what seglab would run differently: a 0.x dataset class (e.g. ``ADE20KDataset``)
    that reduces the zero label and keeps a subset of its classes. 1.x reduces, then maps the
    classes; seglab's 0.x classes map, then reduce (0.x's order), which gives other ids."""
    from .. import datasets  # noqa: F401  (the dataset classes register on import)
    from ..datasets.datasets_1x import BaseSegDataset
    from ..registry import DATASETS

    classes = (ds.get("metainfo") or {}).get("classes")
    cls = DATASETS.get(str(ds.get("type", "")))
    if classes is None or cls is None or issubclass(cls, BaseSegDataset) or \
            not dataset_reduce_zero_label(ds) or tuple(classes) == tuple(cls.CLASSES or ()):
        return
    raise V1xConfigError(f"{where}: {ds['type']} with reduce_zero_label and metainfo classes "
                         f"(a subset) is not run as MMSegmentation 1.x yet: 1.x reduces the "
                         f"labels, then maps the classes; seglab's {ds['type']} maps, then "
                         f"reduces (0.x's order), which gives other ids. Remove metainfo "
                         f"classes, or convert the label files (in 1.x config {{file}}).")


def convert_dataset(ds: Mapping[str, Any], where: str, steps: List[Dict[str, Any]],
                    training: bool) -> Dict[str, Any]:
    """A 1.x dataset dict as 0.x's (``data_prefix`` -> ``img_dir``/``ann_dir``, ``ann_file`` ->
    ``split``, ``metainfo`` -> ``classes``/``palette``), its pipeline preprocessed (evaluation
    pipelines: see :func:`without_label_loading`)."""
    if not isinstance(ds, Mapping):
        raise unsupported(where, ds, "give a dataset dict")
    ds = dict(ds)
    kind = ds.get("type")
    if kind == "ConcatDataset":
        check_keys(where, ds, ("type", "datasets", "lazy_init", "ignore_keys"))
        parts = [convert_dataset(d, f"{where}.datasets[{i}]", steps, training)
                 for i, d in enumerate(_as_list(f"{where}.datasets",
                                                required(where, ds, "datasets")))]
        # 1.x evaluates a concatenation as one data set.
        return dict(type="ConcatDataset", datasets=parts, separate_eval=False)
    if kind == "RepeatDataset":
        check_keys(where, ds, ("type", "dataset", "times", "lazy_init"))
        return dict(type="RepeatDataset", times=required(where, ds, "times"),
                    dataset=convert_dataset(required(where, ds, "dataset"), f"{where}.dataset",
                                            steps, training))
    if kind in ("ClassBalancedDataset", "MultiImageMixDataset"):
        raise unsupported(f"{where}.type", kind)
    out: Dict[str, Any] = {}
    for key, value in ds.items():
        if key in _DATASET_NO_EFFECT:
            continue
        if key == "type":
            out["type"] = "CustomDataset" if value == "BaseSegDataset" else value
        elif key == "data_prefix":
            prefix = as_dict(f"{where}.data_prefix", value)
            check_keys(f"{where}.data_prefix", prefix, ("img_path", "seg_map_path"))
            out["img_dir"] = prefix.get("img_path", "")
            out["ann_dir"] = prefix.get("seg_map_path")
        elif key == "ann_file":
            out["split"] = value or None
        elif key == "metainfo":
            meta = as_dict(f"{where}.metainfo", value)
            check_keys(f"{where}.metainfo", meta, ("classes", "palette"))
            out.update(meta)
        elif key == "pipeline":
            pipeline = insert_before_pack(value, steps, f"{where}.pipeline")
            if training:
                pipeline = with_label_reduction(pipeline, dataset_reduce_zero_label(ds))
            else:
                pipeline, reduce = without_label_loading(pipeline)
                if reduce and "reduce_zero_label" not in ds:
                    out["reduce_zero_label"] = True
            out["pipeline"] = pipeline
        elif key in ("indices", "filter_cfg"):
            if value is not None:
                raise unsupported(f"{where}.{key}", value)
        elif key == "backend_args":
            if as_dict(f"{where}.backend_args", value).get("backend", "local") not in \
                    ("local", "disk"):
                raise unsupported(f"{where}.backend_args", value,
                                  "seglab reads files from the local disk")
        else:
            out[key] = value  # data_root, img_suffix, seg_map_suffix, reduce_zero_label, ...
    _check_label_map_order(ds, where)
    out.setdefault("img_dir", "")  # 1.x's default data_prefix: images in data_root
    if "pipeline" not in out:
        raise V1xConfigError(f"{where} has no pipeline (in 1.x config {{file}}).")
    return out


def _convert_loader(name: str, loader: Mapping[str, Any], steps: List[Dict[str, Any]],
                    training: bool) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(0.x loader options, 0.x dataset dict) of one 1.x dataloader."""
    if not isinstance(loader, Mapping):
        raise unsupported(name, loader, "give a dict(batch_size=..., dataset=...)")
    check_keys(name, loader, _LOADER_KEYS)
    if "dataset" not in loader:
        raise V1xConfigError(f"{name} has no dataset (in 1.x config {{file}}).")
    opts: Dict[str, Any] = dict(samples_per_gpu=loader.get("batch_size", 1),
                                workers_per_gpu=loader.get("num_workers", 0))
    for key in ("persistent_workers", "pin_memory", "prefetch_factor"):
        if key in loader:
            opts[key] = loader[key]
    sampler = as_dict(f"{name}.sampler", loader.get("sampler"))
    kind = sampler.pop("type", "DefaultSampler")
    if kind not in _SAMPLERS:
        raise unsupported(f"{name}.sampler.type", kind, f"seglab maps {', '.join(_SAMPLERS)}")
    check_keys(f"{name}.sampler", sampler, ("shuffle", "seed", "round_up"))
    if sampler.get("seed") is not None:
        raise unsupported(f"{name}.sampler.seed", sampler["seed"],
                          "seglab seeds the sampler with the run's seed (randomness.seed)")
    if training:
        # Iteration-based training draws batches endlessly either way (1.x's IterBasedTrainLoop
        # restarts a DefaultSampler); seglab's InfiniteSampler also continues exactly on resume.
        opts.update(shuffle=bool(sampler.get("shuffle", True)), infinite=True)
        if "drop_last" in loader:
            opts["drop_last"] = loader["drop_last"]
    collate = loader.get("collate_fn")
    if collate is not None and dict(collate).get("type") not in _COLLATES:
        raise unsupported(f"{name}.collate_fn", collate, "seglab collates with its own padding "
                          "collate (as pseudo_collate / default_collate)")
    dataset = convert_dataset(loader["dataset"], f"{name}.dataset", steps, training)
    return opts, dataset


def convert_data(src: Mapping[str, Any], pre: Mapping[str, Any]) -> Dict[str, Any]:
    """``data = dict(...)``, ``evaluation``, ``test_evaluation`` and ``tta_pipeline``."""
    data: Dict[str, Any] = {}
    first = None
    for split in ("train", "val", "test"):
        name = f"{split}_dataloader"
        if src.get(name) is None:
            continue
        training = split == "train"
        opts, dataset = _convert_loader(name, src[name], preprocessing_steps(pre, training),
                                        training)
        data[split] = dataset
        data[name] = opts
        first = first or opts
    # 0.x's helper variable, read by the exporters (meta.json of tools/pytorch2torchscript.py)
    out: Dict[str, Any] = dict(img_norm_cfg={k: v for k, v in _normalize_step(pre).items()
                                             if k != "type"})
    if first is not None:
        # 0.x's shared loader settings: the first loader's (the train loader when there is one).
        data["samples_per_gpu"] = first["samples_per_gpu"]
        data["workers_per_gpu"] = first["workers_per_gpu"]
        out["data"] = data
    if src.get("tta_pipeline") is not None:
        out["tta_pipeline"] = without_label_loading(insert_before_pack(
            src["tta_pipeline"], preprocessing_steps(pre, False), "tta_pipeline"))[0]
    if src.get("val_evaluator") is not None:
        evaluation = convert_evaluator("val_evaluator", src["val_evaluator"])
        if evaluation.pop("format_only", False):
            raise unsupported("val_evaluator.format_only", True, "write result files with "
                              "tools/test.py (test_evaluator)")
        evaluation.pop("output_dir", None)
        out["evaluation"] = evaluation
    if src.get("test_evaluator") is not None:
        out["test_evaluation"] = convert_evaluator("test_evaluator", src["test_evaluator"])
    return out


# ------------------------------------------------------------------------------- evaluators
_IOU_KEYS = ("type", "iou_metrics", "ignore_index", "nan_to_num", "beta", "collect_device",
             "output_dir", "format_only", "prefix", "keep_results")
_IOU_METRICS = ("mIoU", "mDice", "mFscore")


def convert_evaluator(name: str, evaluator: Any) -> Dict[str, Any]:
    """``dict(metric=[...])`` (+ ``format_only``, ``output_dir``) of a 1.x evaluator (one metric
    dict or a list of them)."""
    metrics = evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]
    out: Dict[str, Any] = dict(metric=[])
    for i, metric in enumerate(metrics):
        where = f"{name}[{i}]" if isinstance(evaluator, (list, tuple)) else name
        if not isinstance(metric, Mapping):
            raise unsupported(where, metric, "give dict(type='IoUMetric', iou_metrics=['mIoU'])")
        metric = dict(metric)
        kind = metric.get("type")
        if kind not in ("IoUMetric", "CityscapesMetric"):
            raise unsupported(f"{where}.type", kind, "seglab maps IoUMetric (and CityscapesMetric "
                              "with format_only=True)")
        check_keys(where, metric, _IOU_KEYS)
        if metric.get("ignore_index", 255) != 255:
            raise unsupported(f"{where}.ignore_index", metric["ignore_index"],
                              "seglab evaluates with the dataset's ignore_index (set it there)")
        for key, default in (("nan_to_num", None), ("beta", 1), ("prefix", None)):
            if metric.get(key, default) != default:
                raise unsupported(f"{where}.{key}", metric[key])
        if kind == "CityscapesMetric":
            if not metric.get("format_only"):
                raise unsupported(f"{where}", metric, "seglab writes the Cityscapes result files "
                                  "(format_only=True, output_dir=DIR) for the official script; "
                                  "for metrics use dict(type='IoUMetric')")
            out.update(format_only=True, output_dir=metric["output_dir"])
            continue
        names = metric.get("iou_metrics", ["mIoU"])
        names = [names] if isinstance(names, str) else list(names)
        bad = [n for n in names if n not in _IOU_METRICS]
        if bad:
            raise unsupported(f"{where}.iou_metrics", bad, f"IoUMetric computes {_IOU_METRICS}")
        out["metric"] += [n for n in names if n not in out["metric"]]
        if metric.get("format_only"):
            out.update(format_only=True, output_dir=metric.get("output_dir"))
        elif metric.get("output_dir"):  # 1.x: PNGs in output_dir and the metrics
            out["output_dir"] = metric["output_dir"]
    if not out["metric"]:
        out["metric"] = ["mIoU"]
    return out
