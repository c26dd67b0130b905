"""The prediction loop shared by every test entry point, and how a loader splits over ranks."""
from __future__ import annotations

from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

from ..datasets import prepare_batch
from ..errors import ConfigError, SeglabError
from ..utils import get_dist_info
from .batching import forward_test_batch
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
    # Only rank 0 reports progress; it stands for all ranks, whose shards are as large or one
    # sample smaller (MMSeg counts the same way).
    world_size = get_dist_info()[1]
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
            step = len(batch_indices) * world_size
            if progress.total:
                step = max(0, min(step, progress.total - progress.count))
            progress.update(step)


class GroundTruthMaps(Dataset):
    """``(index, dataset.get_gt_seg_map_by_idx(index))`` by index, for a loader's workers.

    A seglab error (a missing or bad label file) is returned instead of raised, so that the
    main process raises it with its own message rather than DataLoader's wrapped traceback.
    """

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Tuple[int, Union[np.ndarray, SeglabError]]:
        try:
            return index, self.dataset.get_gt_seg_map_by_idx(index)
        except SeglabError as err:
            return index, err


class GroundTruthBatches:
    """The ground truth of a test loader's batches, decoded in worker processes.

    A second loader over :class:`GroundTruthMaps` with the test loader's batch sampler (so the
    same indices, also on a shard) and a quarter of its workers (at least one: a label map
    decodes several times faster than an image goes through the test pipeline); it runs ahead of
    the predictions as the image loader does, so the main process neither decodes label files
    nor waits for them.

    Args:
        data_loader: the test loader (``num_workers > 0``).
    """

    def __init__(self, data_loader: DataLoader):
        loader = DataLoader(GroundTruthMaps(data_loader.dataset),
                            batch_sampler=data_loader.batch_sampler,
                            num_workers=max(1, data_loader.num_workers // 4),
                            collate_fn=list,
                            multiprocessing_context=data_loader.multiprocessing_context)
        self._batches = iter(loader)

    def next(self, indices: Sequence[int]) -> List[np.ndarray]:
        """The label maps of the next batch, whose dataset indices must be ``indices``."""
        items = next(self._batches)
        got = [int(i) for i, _ in items]
        if got != list(indices):
            raise RuntimeError(f"The ground-truth loader gave the samples {got} for the batch "
                               f"{list(indices)}; the test loader's batch sampler must give the "
                               "same batches on every pass (a fixed order).")
        for _, label in items:
            if isinstance(label, SeglabError):
                raise label
        return [label for _, label in items]

    def close(self) -> None:
        """Stop the worker processes (also when the test stopped early)."""
        self._batches = None


def is_sharded(data_loader: DataLoader, allow_padding: bool = False) -> bool:
    """Whether the loader gives this rank only its shard of the dataset (a process group and a
    sampler split over all its ranks), so that results must be combined over ranks.

    Args:
        data_loader: the test loader.
        allow_padding: accept a sampler that pads the shards with repeated samples (torch's
            ``DistributedSampler``); fine when results are gathered with their indices, wrong
            for metrics, which would count those images twice.

    Raises:
        ConfigError: a padding sampler without ``allow_padding``.
    """
    world_size = get_dist_info()[1]
    sampler = getattr(data_loader, "sampler", None)
    if world_size < 2 or getattr(sampler, "num_replicas", 1) != world_size:
        return False
    size = len(data_loader.dataset)
    if not allow_padding and int(getattr(sampler, "total_size", size)) > size:
        raise ConfigError(
            f"The test DataLoader's {type(sampler).__module__}.{type(sampler).__name__} pads the "
            f"{size} samples to {sampler.total_size} so that every rank gets as many; the repeated "
            "images would be counted twice in the metrics. Use seglab.datasets.DistributedSampler "
            "(no padding), e.g. build_dataloader(dataset, ..., dist=True, shuffle=False).")
    return True


__all__ = ["unwrap_model", "model_device", "loader_batch_indices", "first_aug_metas",
           "iter_predictions", "is_sharded", "GroundTruthMaps", "GroundTruthBatches"]
