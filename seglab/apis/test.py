"""The test loop: predictions batch by batch, streamed into metrics, overlays and files.

Every entry point runs the same loop, :func:`iter_predictions`::

    for batch in loader:
        batch = prepare_batch(batch, device)
        preds = model(return_loss=False, rescale=True, **batch)   # under inference_mode
                                                                  # (per group of same-size images)

and consumes each batch at once, so nothing per image is kept unless asked for (``--out``,
:func:`single_gpu_test`'s list). The dataset index of every prediction comes from the loader's
own (deterministic) batch sampler, and the ground truth from ``dataset.get_gt_seg_map_by_idx``,
read in worker processes when the loader has workers (a second loader with the same batch
sampler, :class:`~seglab.apis.predict_loop.GroundTruthBatches`), else in the loop.

What runs where (``tools/test.py``): image decoding and the test pipeline in the loader's
persistent workers (``data.workers_per_gpu``), images uint8 up to the device (``Normalize``
is deferred to :func:`~seglab.datasets.prepare_batch`), ``samples_per_gpu`` / ``--batch-size``
images per forward, label maps decoded in workers, per-class counts accumulated on the
prediction's device. On a CPU the network is nearly all of the time (FCN R18-D8, 512x512: about
90%); the rest is the softmax, resize and argmax of the segmentor and the counting.

Distributed testing (``tools/dist_test.sh``): with a :class:`~seglab.datasets.DistributedSampler`
each rank iterates its own shard (no padding, so no image is counted twice), the metric counts are
summed over ranks (``all_reduce``) so every rank gets the single-process numbers, and per-image
results (``--out``, :func:`multi_gpu_test`) are brought to rank 0 in dataset order by
:func:`seglab.engine.dist.collect_results`, through a temporary folder or the process group
(``gpu_collect``). Overlays (``--show-dir``) are written by the rank that predicted them.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ..datasets.metrics_report import LoggerLike
from ..engine.dist import all_gather_object, collect_results
from ..errors import ConfigError
from ..utils import is_main_process
from .evaluator import DatasetEvaluator, split_eval_kwargs
from .outputs import as_label_map, dump_pickle, safe_output_path, storage_dtype
# The loop's names stay importable from here (seglab.apis.test.iter_predictions, ...).
from .predict_loop import (GroundTruthBatches, first_aug_metas, is_sharded,  # noqa: F401
                           iter_predictions, loader_batch_indices, model_device, unwrap_model)
from .progress import Progress


def _palette(model: nn.Module, dataset) -> Any:
    palette = getattr(unwrap_model(model), "PALETTE", None)
    return palette if palette is not None else getattr(dataset, "PALETTE", None)


def _num_classes(model: nn.Module, dataset) -> Optional[int]:
    classes = getattr(dataset, "CLASSES", None) or getattr(unwrap_model(model), "CLASSES", None)
    if classes:
        return len(classes)
    return getattr(unwrap_model(model), "num_classes", None)


class OverlayWriter:
    """Paints predictions over their images: files under ``out_dir`` and/or a window.

    Args:
        out_dir: folder for the overlays (the input's relative name is kept inside it).
        show: also show each overlay in a window (frame by frame, a key press advances).
        palette: RGB colours per class (None: MMSeg's seeded random palette).
        opacity: weight of the colours in the blend.
        wait_time: seconds each window stays (0: until a key is pressed).
    """

    def __init__(self, out_dir: Optional[str], show: bool, palette: Any, opacity: float = 0.5,
                 wait_time: float = 0.0):
        from ..visualization import require_display

        if not 0 < opacity <= 1:
            raise ConfigError(f"--opacity {opacity}: must be in (0, 1].")
        if show:
            require_display()  # fail before the first forward, not after it
        self.out_dir, self.show, self.palette, self.opacity = out_dir, show, palette, opacity
        self.wait_time = wait_time

    def __call__(self, index: int, pred: Any, meta: Mapping) -> Optional[str]:
        from ..visualization import show_result
        from ..visualization.display import imshow, seconds_to_ms

        filename = meta.get("filename")
        if filename is None:
            raise ConfigError(f"Sample {index} has no 'filename' in its img_metas; add "
                              "'filename' to Collect's meta_keys to paint results.")
        out_file = None
        if self.out_dir is not None:
            out_file = safe_output_path(self.out_dir, meta.get("ori_filename"), f"{index:06d}")
        blended = show_result(filename, as_label_map(pred, np.dtype(np.int64)), self.palette,
                              opacity=self.opacity, out_file=out_file)
        if self.show:
            imshow(blended, win_name=str(meta.get("ori_filename", index)),
                   wait_time=seconds_to_ms(self.wait_time))
        return out_file


@dataclass
class RunOutputs:
    """What :func:`run_test` produced.

    Attributes:
        metrics: the flat evaluation dict (empty without ``metric``).
        predictions: label maps in dataset order (only with ``keep_predictions``).
        files: written result files (``format_only``) in dataset order.
        num_images: images processed.
    """

    metrics: Dict[str, float] = field(default_factory=dict)
    predictions: Optional[List[np.ndarray]] = None
    files: List[str] = field(default_factory=list)
    num_images: int = 0


def run_test(model: nn.Module, data_loader: DataLoader,
             metric: Union[str, Sequence[str], None] = None,
             device: Optional[Union[str, torch.device]] = None, logger: LoggerLike = None,
             show: bool = False, show_dir: Optional[str] = None, opacity: float = 0.5,
             keep_predictions: bool = False, out_file: Optional[str] = None,
             format_only: bool = False, format_args: Optional[Mapping[str, Any]] = None,
             eval_kwargs: Optional[Mapping[str, Any]] = None, tmpdir: Optional[str] = None,
             gpu_collect: bool = False, wait_time: float = 0.0,
             painter: Optional[Callable[[int, Any, Mapping], Any]] = None,
             format_fn: Optional[Callable[[Any, list, List[int]], List[str]]] = None
             ) -> RunOutputs:
    """One pass over the test set doing everything ``tools/test.py`` asks for.

    In a process group with a sharded loader (:func:`is_sharded`; every rank must call this),
    each rank runs its shard: metrics are summed over ranks and equal the single-process ones on
    every rank; overlays and ``format_only`` files are written by the rank that predicted them;
    the kept predictions (and ``out_file``, written by rank 0) are gathered on rank 0 in dataset
    order. The tables are printed and the progress shown by rank 0 only.

    Args:
        model: the segmentor (eval mode is set).
        data_loader: the test loader.
        metric: metrics to compute while streaming (None: no evaluation).
        device: default: the model's device.
        logger: for the progress lines and the metric tables.
        show: show each overlay in a window.
        show_dir: write each overlay under this folder.
        opacity: overlay opacity.
        keep_predictions: return the label maps (uint8, or uint16 beyond 256 classes).
        out_file: also pickle those label maps there (a .pkl path; implies keep_predictions).
        format_only: write the predictions with ``dataset.format_results(..., **format_args)``.
        format_args: e.g. ``dict(imgfile_prefix='results/')``.
        eval_kwargs: metric options (``nan_to_num``, ``beta``).
        tmpdir: distributed: the folder (shared by all nodes) through which rank 0 gathers the
            kept predictions; default: the system temp dir (one node).
        gpu_collect: distributed: gather them through the process group instead of files.
        wait_time: ``show``: seconds each window stays (0: until a key is pressed).
        painter: ``painter(index, pred, meta)`` paints each result instead of the 0.x overlays
            of ``show`` / ``show_dir`` (tools/test.py: MMSegmentation 1.x's, see
            :mod:`seglab.apis.show_1x`).
        format_fn: ``format_fn(dataset, preds, indices) -> files`` instead of
            ``dataset.format_results`` (e.g. :func:`~seglab.datasets.result_files.
            write_iou_metric_pngs` for MMSeg 1.x's ``--out DIR``).

    Returns:
        :class:`RunOutputs`; distributed: ``predictions`` and ``files`` are complete on rank 0
        and None / empty on the other ranks, ``num_images`` counts all ranks.
    """
    dataset = data_loader.dataset
    sharded = is_sharded(data_loader)
    evaluator = None
    if metric:
        evaluator = DatasetEvaluator(dataset, metric, **split_eval_kwargs(eval_kwargs or {}))
    if painter is None and (show or show_dir):
        painter = OverlayWriter(show_dir, show, _palette(model, dataset), opacity, wait_time)
    keep = keep_predictions or out_file is not None
    dtype = storage_dtype(_num_classes(model, dataset)) if keep else None
    outputs = RunOutputs(predictions=[] if keep else None)
    kept_indices: List[int] = []
    file_batches: List[Tuple[int, List[str]]] = []
    training = model.training
    progress = Progress(len(dataset), logger=logger)
    # With loader workers, the label files are decoded in workers too (see GroundTruthBatches).
    truth = GroundTruthBatches(data_loader) if evaluator is not None and \
        getattr(data_loader, "num_workers", 0) > 0 else None
    try:
        for indices, preds, metas in iter_predictions(model, data_loader, device, progress):
            labels = truth.next(indices) if truth is not None else [None] * len(indices)
            for index, pred, meta, label in zip(indices, preds, metas, labels):
                if evaluator is not None:
                    evaluator.process(index, pred, label)
                if painter is not None:
                    painter(index, pred, meta)
            if keep:
                outputs.predictions.extend(as_label_map(p, dtype) for p in preds)
                kept_indices.extend(indices)
            if format_only:
                written = list(format_fn(dataset, preds, indices) if format_fn is not None
                               else dataset.format_results(preds, indices=indices,
                                                           **dict(format_args or {})))
                outputs.files.extend(written)
                if len(written) == len(indices):  # one file per image: keep dataset order
                    file_batches.extend((i, [name]) for i, name in zip(indices, written))
                else:
                    file_batches.append((min(indices), written))
            outputs.num_images += len(indices)
    finally:
        progress.close()
        model.train(training)
        if truth is not None:
            truth.close()
    main = is_main_process() or not sharded
    if sharded:
        outputs.num_images = len(dataset)  # the shards cover the dataset exactly once
        if keep:
            outputs.predictions = collect_results(outputs.predictions, len(dataset),
                                                  tmpdir=tmpdir, gpu_collect=gpu_collect,
                                                  indices=kept_indices)
        if format_only:
            # Files in dataset order (by the first image of the batch, for a dataset that
            # writes other than one file per image).
            parts = all_gather_object(file_batches)
            outputs.files = [name for _, names in sorted(b for part in parts for b in part)
                             for name in names] if is_main_process() else []
    if evaluator is not None:
        if sharded:
            evaluator.all_reduce()
        outputs.metrics = evaluator.summarize(logger if main else "silent")
    if out_file is not None and is_main_process():
        dump_pickle(outputs.predictions, out_file)
    return outputs


def evaluate_segmentor(model: nn.Module, data_loader: DataLoader,
                       metric: Union[str, Sequence[str]] = ("mIoU",),
                       device: Optional[Union[str, torch.device]] = None,
                       logger: LoggerLike = None, **eval_kwargs: Any) -> Dict[str, float]:
    """Evaluate ``model`` on ``data_loader``'s dataset, streaming (the EvalHook's function).

    Memory does not grow with the number of images: each prediction is turned into per-class
    counts at once. In a process group with a sharded sampler, counts are summed over ranks
    and every rank returns the same dict. The model's train/eval mode is restored afterwards.

    Args:
        model: the segmentor (or a DataParallel/DDP wrapper).
        data_loader: a test/val loader in a fixed order (``shuffle=False``).
        metric: 'mIoU', 'mDice', 'mFscore' or a list of them.
        device: default: the model's device.
        logger: gets the progress lines and MMSeg's per-class and summary tables (a Logger, a
            logger name, 'silent', or None to print).
        **eval_kwargs: ``nan_to_num``, ``beta``; MMSeg's ``efficient_test``, ``pre_eval``,
            ``gpu_collect``, ``tmpdir`` are accepted and not needed. Anything else is an error.

    Returns:
        MMSeg's flat result dict, fractions: ``'aAcc'``, ``'mIoU'``, ``'mAcc'`` (+ ``'mDice'``,
        ``'mFscore'``, ``'mPrecision'``, ``'mRecall'``), ``'IoU.<class>'``, ``'Acc.<class>'``, ...
    """
    split_eval_kwargs(eval_kwargs)  # fail on a typo before running the model
    return run_test(model, data_loader, metric=metric, device=device, logger=logger,
                    eval_kwargs=eval_kwargs).metrics


def _np2tmp(array: np.ndarray, tmpdir: str) -> str:
    """Save an array to a new ``.npy`` file in ``tmpdir`` (0.x ``efficient_test``)."""
    fd, path = tempfile.mkstemp(suffix=".npy", dir=tmpdir)
    with os.fdopen(fd, "wb") as f:
        np.save(f, array)
    return path


def _per_image_results(model: nn.Module, data_loader: DataLoader, painter: Optional[OverlayWriter],
                       efficient_test: bool, pre_eval: bool, format_only: bool,
                       format_args: Mapping[str, Any]) -> Tuple[list, List[int]]:
    """This process's per-image results (see :func:`single_gpu_test`) and their dataset indices."""
    if [efficient_test, pre_eval, format_only].count(True) > 1:
        raise ValueError("efficient_test, pre_eval and format_only are mutually exclusive; set "
                         "at most one of them.")
    if efficient_test:
        warnings.warn("efficient_test is deprecated: pre_eval=True (or evaluate_segmentor) "
                      "evaluates with constant memory.", DeprecationWarning, stacklevel=3)
        os.makedirs(".efficient_test", exist_ok=True)
    dataset = data_loader.dataset
    results: list = []
    result_indices: List[int] = []
    training = model.training
    progress = Progress(len(dataset))
    try:
        for indices, preds, metas in iter_predictions(model, data_loader, None, progress):
            if painter is not None:
                for index, pred, meta in zip(indices, preds, metas):
                    painter(index, pred, meta)
            if efficient_test:
                preds = [_np2tmp(np.asarray(p), ".efficient_test") for p in preds]
            if format_only:
                preds = dataset.format_results(preds, indices=indices, **dict(format_args))
            if pre_eval:
                preds = dataset.pre_eval(preds, indices=indices)
            if len(preds) != len(indices):
                raise RuntimeError(f"Got {len(preds)} results for the {len(indices)} images "
                                   f"{indices}; expected one per image.")
            results.extend(preds)
            result_indices.extend(indices)
    finally:
        progress.close()
        model.train(training)
    return results, result_indices


def single_gpu_test(model: nn.Module, data_loader: DataLoader, show: bool = False,
                    out_dir: Optional[str] = None, efficient_test: bool = False,
                    opacity: float = 0.5, pre_eval: bool = False, format_only: bool = False,
                    format_args: Mapping[str, Any] = {}) -> list:
    """MMSegmentation 0.x ``single_gpu_test``, for code written against it.

    Args:
        model: the segmentor.
        data_loader: the test loader.
        show: show each overlay in a window.
        out_dir: write overlays there (under each input's relative name).
        efficient_test: deprecated: save each prediction to a ``.npy`` file in
            ``.efficient_test/`` and return the file names.
        opacity: overlay opacity.
        pre_eval: return ``dataset.pre_eval`` 4-tuples of per-class areas per image.
        format_only: return the files written by ``dataset.format_results(**format_args)``.
        format_args: arguments of ``format_results``.

    Returns:
        One entry per image in dataset order: the label map, its ``.npy`` path, its pre-eval
        areas or its result file (for streaming metrics use :func:`evaluate_segmentor`).
    """
    painter = OverlayWriter(out_dir, show, _palette(model, data_loader.dataset), opacity) \
        if show or out_dir else None
    results, _ = _per_image_results(model, data_loader, painter, efficient_test, pre_eval,
                                    format_only, format_args)
    return results


def multi_gpu_test(model: nn.Module, data_loader: DataLoader, tmpdir: Optional[str] = None,
                   gpu_collect: bool = False, efficient_test: bool = False,
                   pre_eval: bool = False, format_only: bool = False,
                   format_args: Mapping[str, Any] = {}) -> Optional[list]:
    """MMSegmentation 0.x ``multi_gpu_test``: every rank tests its shard, rank 0 gets all results.

    Every rank of the process group must call it. The per-image results of all ranks are
    gathered on rank 0 in dataset order, each image once (the sampler's padding, if any, is
    dropped), through pickles in ``tmpdir`` or, with ``gpu_collect``, through the process group.
    Without a process group (or with a loader that is not sharded) it is
    :func:`single_gpu_test`. For metrics, :func:`evaluate_segmentor` is cheaper: it sums
    per-class counts over ranks instead of gathering images.

    Args:
        model: the segmentor (or its DDP wrapper).
        data_loader: a loader over this rank's shard (``DistributedSampler``, fixed order).
        tmpdir: a folder that all ranks share (all nodes, for a multi-node run); default: the
            system temp dir, enough on one node.
        gpu_collect: gather through the process group (``gather_object``) instead.
        efficient_test: deprecated: results are ``.npy`` file names.
        pre_eval: results are ``dataset.pre_eval`` 4-tuples of per-class areas.
        format_only: results are the files of ``dataset.format_results(**format_args)``.
        format_args: arguments of ``format_results``.

    Returns:
        On rank 0 the ``len(dataset)`` results in dataset order; None on the other ranks.
    """
    results, indices = _per_image_results(model, data_loader, None, efficient_test, pre_eval,
                                          format_only, format_args)
    if not is_sharded(data_loader, allow_padding=True):
        return results if is_main_process() else None
    return collect_results(results, len(data_loader.dataset), tmpdir=tmpdir,
                           gpu_collect=gpu_collect, indices=indices)


__all__ = ["evaluate_segmentor", "single_gpu_test", "multi_gpu_test", "run_test",
           "iter_predictions", "loader_batch_indices", "is_sharded", "RunOutputs",
           "OverlayWriter"]
