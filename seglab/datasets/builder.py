"""Build datasets from configs and DataLoaders around them (MMSegmentation 0.x semantics)."""
from __future__ import annotations

import copy
import random
from functools import partial
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler

from ..errors import ConfigError
from ..registry import DATASETS, build_from_cfg
from ..utils import get_dist_info, is_distributed
from .dataset_wrappers import ConcatDataset, RepeatDataset
from .samplers import DistributedSampler, InfiniteSampler
from .seeded_dataset import SeededDataset

_LOADER_SECTIONS = ("train", "val", "test", "train_dataloader", "val_dataloader",
                    "test_dataloader")


def _as_list(value) -> Optional[list]:
    return list(value) if isinstance(value, (list, tuple)) else None


def _concat_dataset(cfg: Mapping, default_args: Optional[Mapping] = None) -> ConcatDataset:
    """One dataset per entry of the list-valued ``img_dir`` / ``ann_dir`` / ``split``.

    As MMSeg 0.x: with several ``img_dir`` the other lists (if any) must have the same length;
    with one ``img_dir``, ``ann_dir`` is one folder or one per split file.
    """
    cfg = dict(cfg)
    separate_eval = cfg.pop("separate_eval", True)
    img_dirs, ann_dirs, splits = (_as_list(cfg.get(k)) for k in ("img_dir", "ann_dir", "split"))
    num_img = len(img_dirs) if img_dirs is not None else 1
    num_ann = len(ann_dirs) if ann_dirs is not None else (0 if cfg.get("ann_dir") is None else 1)
    num_split = len(splits) if splits is not None else (0 if cfg.get("split") is None else 1)
    if num_img > 1:
        ok = num_ann in (0, 1, num_img) and num_split in (0, 1, num_img)
        ok = ok and not (ann_dirs is not None and num_ann != num_img)
        ok = ok and not (splits is not None and num_split != num_img)
    else:
        ok = ann_dirs is None or num_ann == num_split
    if not ok:
        raise ConfigError(
            f"{cfg.get('type', 'dataset')}: list-valued img_dir ({num_img}), ann_dir ({num_ann}) "
            f"and split ({num_split}) do not match. Give one entry per dataset part: several "
            "img_dir with as many ann_dir/split (or a single one), or one img_dir with one "
            "ann_dir per split file.")
    num_parts = max(num_img, num_split)
    parts = []
    for i in range(num_parts):
        part = copy.deepcopy(cfg)
        for key, values in (("img_dir", img_dirs), ("ann_dir", ann_dirs), ("split", splits)):
            if values is not None:
                part[key] = values[i]
        parts.append(build_dataset(part, default_args))
    return ConcatDataset(parts, separate_eval)


def build_dataset(cfg: Union[Mapping, Sequence[Mapping]],
                  default_args: Optional[Mapping] = None) -> Dataset:
    """Build a dataset from its config, as MMSeg 0.x ``build_dataset``.

    A list of configs gives a :class:`ConcatDataset`; ``type='RepeatDataset'`` wraps
    ``cfg['dataset']``; list-valued ``img_dir`` / ``split`` (the VOC aug configs) give a
    :class:`ConcatDataset` of one dataset per entry.

    Args:
        cfg: the dataset config (``cfg.data.train`` etc.).
        default_args: keys used where the config does not set them (e.g. ``test_mode=True``).
    """
    if isinstance(cfg, (list, tuple)):
        return ConcatDataset([build_dataset(c, default_args) for c in cfg])
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"A dataset config must be a dict (or a list of dicts), got "
                          f"{type(cfg).__name__}: {cfg!r}")
    if cfg.get("type") == "RepeatDataset":
        extra = sorted(set(cfg) - {"type", "dataset", "times"})
        if extra or "dataset" not in cfg or "times" not in cfg:
            raise ConfigError(f"RepeatDataset takes exactly the keys 'dataset' and 'times'; got "
                              f"{sorted(cfg)}.")
        return RepeatDataset(build_dataset(cfg["dataset"], default_args), cfg["times"])
    if cfg.get("type") == "ConcatDataset":
        return ConcatDataset([build_dataset(c, default_args) for c in cfg["datasets"]],
                             cfg.get("separate_eval", True))
    if _as_list(cfg.get("img_dir")) is not None or _as_list(cfg.get("split")) is not None:
        return _concat_dataset(cfg, default_args)
    return build_from_cfg(dict(cfg), DATASETS, default_args)


def worker_init_fn(worker_id: int, num_workers: int, rank: int, seed: int) -> None:
    """Seed a DataLoader worker with ``num_workers * rank + worker_id + seed`` (MMSeg's rule).

    Samples from :class:`InfiniteSampler` are re-seeded individually anyway; this covers the
    other samplers. (No ``cv2.setNumThreads`` here: in a forked worker it can deadlock on the
    parent's OpenCV thread pool.)
    """
    worker_seed = (num_workers * rank + worker_id + seed) % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)
    torch.manual_seed(worker_seed)


def shared_random_seed() -> int:
    """A random seed that is the same on every rank (rank 0 draws it and broadcasts it)."""
    seed = int(np.random.randint(2**31))
    if not is_distributed():
        return seed
    import torch.distributed as dist

    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    tensor = torch.tensor(seed if dist.get_rank() == 0 else 0, dtype=torch.int64, device=device)
    dist.broadcast(tensor, src=0)
    return int(tensor.item())


def _collate_fn():
    from .collate import collate

    return collate


def build_dataloader(dataset: Dataset, samples_per_gpu: int, workers_per_gpu: int,
                     num_gpus: int = 1, dist: bool = False, shuffle: bool = True,
                     seed: Optional[int] = None, drop_last: bool = False,
                     pin_memory: bool = True, persistent_workers: bool = True,
                     infinite: Optional[bool] = None, **kwargs: Any) -> DataLoader:
    """A DataLoader over ``dataset`` using :func:`seglab.datasets.collate.collate`.

    Samplers:

    * ``infinite`` (default: ``shuffle``): :class:`InfiniteSampler`, sharded over the ranks of
      the process group if one exists; the dataset is wrapped in :class:`SeededDataset` so the
      augmentations depend only on ``(seed, sample position)``. Resume with
      ``loader.sampler.skip(num_samples_consumed_by_this_rank)`` before the first ``iter()``.
    * otherwise, with ``dist`` or a process group: :class:`DistributedSampler` (no padding
      duplicates; see :meth:`DistributedSampler.restore_order` for the result order);
    * otherwise a seeded random sampler (``shuffle``) or the dataset order.

    Args:
        dataset: the dataset.
        samples_per_gpu: batch size per process (per GPU).
        workers_per_gpu: DataLoader worker processes per GPU.
        num_gpus: GPUs driven by this process when not distributed (scales batch and workers).
        dist: distributed run (one process per GPU).
        shuffle: shuffle the samples.
        seed: seed of the sampler, the per-sample augmentation seeds and the workers; None
            draws one shared by all ranks (0 when not shuffling).
        drop_last: drop the last incomplete batch (finite samplers only).
        pin_memory: pin batches in page-locked memory (only when CUDA is available).
        persistent_workers: keep the workers alive between iterations (when there are any).
        infinite: use :class:`InfiniteSampler` (iteration-based training).
        **kwargs: passed on to :class:`torch.utils.data.DataLoader` (e.g. ``prefetch_factor``).
    """
    rank, world_size = get_dist_info()
    distributed = dist or world_size > 1
    if distributed:
        batch_size, num_workers = samples_per_gpu, workers_per_gpu
    else:
        batch_size, num_workers = num_gpus * samples_per_gpu, num_gpus * workers_per_gpu
    infinite = shuffle if infinite is None else infinite
    if seed is None:
        # Only a shuffled order needs a random seed; drawing it is a collective op when
        # distributed, so a fixed-order (test) loader must not draw one.
        seed = shared_random_seed() if shuffle else 0

    generator = torch.Generator()
    generator.manual_seed(seed)  # DataLoader's worker base seed: keep it off the global RNG
    if infinite:
        sampler = InfiniteSampler(dataset, shuffle=shuffle, seed=seed, rank=rank,
                                  world_size=world_size)
        dataset = SeededDataset(dataset)
    elif distributed:
        sampler = DistributedSampler(dataset, world_size, rank, shuffle=shuffle, seed=seed)
    elif shuffle:
        sampler = RandomSampler(dataset, generator=generator)
    else:
        sampler = SequentialSampler(dataset)

    init_fn = partial(worker_init_fn, num_workers=num_workers, rank=rank, seed=seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=_collate_fn(),
        pin_memory=bool(pin_memory and torch.cuda.is_available()),
        worker_init_fn=init_fn,
        drop_last=drop_last,
        persistent_workers=bool(persistent_workers and num_workers > 0),
        generator=generator,
        **kwargs)


def build_dataloader_from_cfg(data_cfg: Mapping, split: str = "train", dataset=None,
                              dist: bool = False, seed: Optional[int] = None,
                              num_gpus: int = 1) -> DataLoader:
    """The DataLoader of one split of a 0.x ``data = dict(...)`` config section.

    Loader settings are ``data``'s keys other than the splits (``samples_per_gpu``,
    ``workers_per_gpu``, ...) overridden by ``data.<split>_dataloader``. As in MMSeg 0.x,
    training shuffles (infinitely) and drops the last batch; val/test use one sample per GPU,
    keep the dataset order and build the dataset with ``test_mode=True``.

    Args:
        data_cfg: the ``data`` section.
        split: 'train', 'val' or 'test'.
        dataset: an already built dataset (default: built from ``data_cfg[split]``).
        dist: distributed run.
        seed: the run's seed.
        num_gpus: GPUs of this process when not distributed.
    """
    if split not in ("train", "val", "test"):
        raise ConfigError(f"split must be 'train', 'val' or 'test', got {split!r}")
    if split not in data_cfg and dataset is None:
        raise ConfigError(f"The config's data section has no '{split}' dataset; it has "
                          f"{sorted(k for k in data_cfg if k in _LOADER_SECTIONS)}.")
    loader_cfg = {k: v for k, v in data_cfg.items() if k not in _LOADER_SECTIONS}
    if split == "train":
        loader_cfg = {"shuffle": True, "drop_last": True, **loader_cfg}
    else:
        loader_cfg.update(samples_per_gpu=1, shuffle=False)
    loader_cfg.update(data_cfg.get(f"{split}_dataloader", {}) or {})
    if "samples_per_gpu" not in loader_cfg or "workers_per_gpu" not in loader_cfg:
        raise ConfigError("data.samples_per_gpu and data.workers_per_gpu must be set in the "
                          "config's data section.")
    if dataset is None:
        dataset = build_dataset(data_cfg[split], None if split == "train" else
                                dict(test_mode=True))
    return build_dataloader(dataset, dist=dist, seed=seed, num_gpus=num_gpus, **loader_cfg)
