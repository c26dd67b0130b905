"""The test loop: predictions batch by batch, streamed into metrics, overlays and files.

Every entry point runs the same loop, :func:`iter_predictions`::

    for batch in loader:
        batch = prepare_batch(batch, device)
        preds = model(return_loss=False, rescale=True, **batch)   # under inference_mode
                                                                  # (per group of same-size images)

and consumes each batch at once, so nothing per image is kept unless asked for (``--out``,
:func:`single_gpu_test`'s list). The dataset index of every prediction comes from the loader's
own (deterministic) batch sampler, and the ground truth from ``dataset.get_gt_seg_map_by_idx``.

Distributed testing: with a :class:`~seglab.datasets.DistributedSampler` each rank iterates its
shard and :func:`evaluate_segmentor` sums the counts over ranks (``all_reduce``); gathering
per-image lists (:func:`multi_gpu_test`) is left to the distributed issue.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler

from ..datasets import prepare_batch
from ..datasets.metrics_report import LoggerLike
from ..errors import ConfigError
from .batching import forward_test_batch
from .evaluator import DatasetEvaluator, split_eval_kwargs
from .outputs import as_label_map, dump_pickle, safe_output_path, storage_dtype
from .progress import Progress

Batch = Tuple[List[int], List[Any], List[dict]]


def unwrap_model(model: nn.Module) -> nn.Module:
    """The segmentor inside a DataParallel / DistributedDataParallel wrapper."""
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) \
        else model


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    for tensor in model.parameters():
        return tensor.device
    return torch.device("cpu")


def loader_batch_indices(data_loader: DataLoader) -> List[List[int]]:
    """The dataset indices of every batch the loader will yield, in order.

    The loader's batch sampler is iterated once more; this is exact for deterministic samplers
    (sequential, or :class:`~seglab.datasets.DistributedSampler` whose order depends only on its
    seed and epoch), which testing requires.

    Raises:
        ConfigError: a random or infinite sampler, or a loader without automatic batching.
    """
    sampler = getattr(data_loader, "sampler", None)
    batch_sampler = getattr(data_loader, "batch_sampler", None)
    if batch_sampler is None:
        raise ConfigError("The test DataLoader must batch samples itself (batch_size set, "
                          "batch_size=None is not supported).")
    if isinstance(sampler, RandomSampler) or type(sampler).__name__ == "InfiniteSampler":
        raise ConfigError(f"The test DataLoader uses a {type(sampler).__name__}: testing needs a "
                          "finite sampler in a fixed order (shuffle=False), so that every "
                          "prediction is matched with its ground truth exactly once.")
    return [[int(i) for i in batch] for batch in batch_sampler]


def first_aug_metas(img_metas: Sequence) -> List[dict]:
    """The metas of the first augmentation (the original image) of a collated test batch."""
    if img_metas and isinstance(img_metas[0], (list, tuple)):
        return list(img_metas[0])
    return list(img_metas)


def iter_predictions(model: nn.Module, data_loader: DataLoader,
                     device: Optional[Union[str, torch.device]] = None,
                     progress: Optional[Progress] = None) -> Iterator[Batch]:
    """Run the model over the loader; yield ``(dataset indices, predictions, metas)`` per batch.

    Predictions are what the segmentor's test forward returns (one (H, W) label map per image,
    at its original size); samples of different sizes in one batch go through the network in
    same-size groups, so the results equal those of batch size 1. Only the forward runs under
    ``torch.inference_mode``; the caller's code between batches runs in the normal grad mode.

    Args:
        model: a segmentor (or a DataParallel/DDP wrapper); switched to eval mode.
        data_loader: a test loader (see :func:`loader_batch_indices`).
        device: where to run; default: the model's device.
        progress: updated after each batch.
    """
    indices = loader_batch_indices(data_loader)
    if len(indices) != len(data_loader):
        raise ConfigError(f"The test DataLoader yields {len(data_loader)} batches but its batch "
                          f"sampler {len(indices)}; use a plain DataLoader over the dataset.")
    device = torch.device(device) if device is not None else model_device(model)
    model.eval()
    for batch_indices, batch in zip(indices, data_loader):
        with torch.inference_mode():
            batch = prepare_batch(batch, device)
            preds = forward_test_batch(model, batch)
        metas = first_aug_metas(batch.get("img_metas", []))
        if len(preds) != len(batch_indices):
            raise RuntimeError(
                f"The model returned {len(preds)} predictions for a batch of "
                f"{len(batch_indices)} samples (indices {batch_indices}); a test pipeline must "
                "not drop samples.")
        yield batch_indices, list(preds), metas
        if progress is not None:
            progress.update(len(batch_indices))


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
    """

    def __init__(self, out_dir: Optional[str], show: bool, palette: Any, opacity: float = 0.5):
        from ..visualization import require_display

        if not 0 < opacity <= 1:
            raise ConfigError(f"--opacity {opacity}: must be in (0, 1].")
        if show:
            require_display()  # fail before the first forward, not after it
        self.out_dir, self.show, self.palette, self.opacity = out_dir, show, palette, opacity

    def __call__(self, index: int, pred: Any, meta: Mapping) -> Optional[str]:
        from ..visualization import show_result
        from ..visualization.display import imshow

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
            imshow(blended, win_name=str(meta.get("ori_filename", index)), wait_time=0)
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
             eval_kwargs: Optional[Mapping[str, Any]] = None) -> RunOutputs:
    """One pass over the test set doing everything ``tools/test.py`` asks for.

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

    Returns:
        :class:`RunOutputs`.
    """
    dataset = data_loader.dataset
    evaluator = None
    if metric:
        evaluator = DatasetEvaluator(dataset, metric, **split_eval_kwargs(eval_kwargs or {}))
    painter = None
    if show or show_dir:
        painter = OverlayWriter(show_dir, show, _palette(model, dataset), opacity)
    keep = keep_predictions or out_file is not None
    dtype = storage_dtype(_num_classes(model, dataset)) if keep else None
    outputs = RunOutputs(predictions=[] if keep else None)
    training = model.training
    progress = Progress(len(dataset), logger=logger)
    try:
        for indices, preds, metas in iter_predictions(model, data_loader, device, progress):
            for index, pred, meta in zip(indices, preds, metas):
                if evaluator is not None:
                    evaluator.process(index, pred)
                if painter is not None:
                    painter(index, pred, meta)
            if keep:
                outputs.predictions.extend(as_label_map(p, dtype) for p in preds)
            if format_only:
                outputs.files.extend(dataset.format_results(preds, indices=indices,
                                                            **dict(format_args or {})))
            outputs.num_images += len(indices)
    finally:
        progress.close()
        model.train(training)
    if evaluator is not None:
        evaluator.all_reduce()
        outputs.metrics = evaluator.summarize(logger)
    if out_file is not None:
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
    if [efficient_test, pre_eval, format_only].count(True) > 1:
        raise ValueError("efficient_test, pre_eval and format_only are mutually exclusive; set "
                         "at most one of them.")
    if efficient_test:
        warnings.warn("efficient_test is deprecated: pre_eval=True (or evaluate_segmentor) "
                      "evaluates with constant memory.", DeprecationWarning, stacklevel=2)
        os.makedirs(".efficient_test", exist_ok=True)
    dataset = data_loader.dataset
    painter = OverlayWriter(out_dir, show, _palette(model, dataset), opacity) \
        if show or out_dir else None
    results: list = []
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
            results.extend(preds)
    finally:
        progress.close()
        model.train(training)
    return results


def multi_gpu_test(model: nn.Module, data_loader: DataLoader, tmpdir: Optional[str] = None,
                   gpu_collect: bool = False, efficient_test: bool = False,
                   pre_eval: bool = False, format_only: bool = False,
                   format_args: Mapping[str, Any] = {}) -> list:
    """MMSegmentation 0.x ``multi_gpu_test``: not available yet.

    Streaming metrics already work across ranks through :func:`evaluate_segmentor` (sharded
    sampler + ``all_reduce``); gathering per-image lists in dataset order belongs to the
    distributed-testing issue (``DistributedSampler.restore_order`` is the building block).
    """
    raise NotImplementedError(
        "multi_gpu_test (gathering per-image results over processes) is not supported yet; use "
        "evaluate_segmentor for metrics in a process group, or test on one process "
        "(--launcher none).")


__all__ = ["evaluate_segmentor", "single_gpu_test", "multi_gpu_test", "run_test",
           "iter_predictions", "loader_batch_indices", "RunOutputs", "OverlayWriter"]
