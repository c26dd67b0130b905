"""Dataset wrappers: concatenation (with per-part evaluation) and repetition."""
from __future__ import annotations

import bisect
import os.path as osp
from itertools import chain
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from torch.utils.data import Dataset
from torch.utils.data.dataset import ConcatDataset as _TorchConcatDataset

from ..errors import DatasetError
from ..registry import DATASETS
from .metrics_report import print_log


@DATASETS.register_module()
class ConcatDataset(_TorchConcatDataset):
    """Several datasets one after the other, evaluated separately or as one.

    ``CLASSES`` and ``PALETTE`` are those of the first dataset (all parts must share the
    classes).

    Args:
        datasets: the parts.
        separate_eval: evaluate each part on its own (keys prefixed ``'<part>_'``); otherwise
            all parts (of the same type) together.
    """

    def __init__(self, datasets: Sequence[Dataset], separate_eval: bool = True):
        if not datasets:
            raise DatasetError("ConcatDataset needs at least one dataset.")
        super().__init__(list(datasets))
        if separate_eval not in (True, False):
            raise DatasetError(f"separate_eval must be True or False, got {separate_eval!r}")
        self.separate_eval = separate_eval
        self.CLASSES = getattr(datasets[0], "CLASSES", None)
        self.PALETTE = getattr(datasets[0], "PALETTE", None)
        for i, ds in enumerate(datasets[1:], start=1):
            classes = getattr(ds, "CLASSES", None)
            if classes is not None and self.CLASSES is not None and \
                    tuple(classes) != tuple(self.CLASSES):
                raise DatasetError(
                    f"ConcatDataset part {i} ({type(ds).__name__}) has classes {list(classes)}, "
                    f"part 0 has {list(self.CLASSES)}; concatenated datasets must share classes "
                    "(set `classes=` on each part).")

    def get_dataset_idx_and_sample_idx(self, indice: int) -> Tuple[int, int]:
        """(part index, index inside that part) of a global index (negative ones count back)."""
        if indice < 0:
            if -indice > len(self):
                raise IndexError(f"index {indice} out of range for a dataset of {len(self)}")
            indice = len(self) + indice
        dataset_idx = bisect.bisect_right(self.cumulative_sizes, indice)
        sample_idx = indice if dataset_idx == 0 else indice - self.cumulative_sizes[dataset_idx - 1]
        return dataset_idx, sample_idx

    @property
    def img_infos(self) -> List[dict]:
        return [info for ds in self.datasets for info in ds.img_infos]

    def sample_paths(self, idx: int):
        d, s = self.get_dataset_idx_and_sample_idx(idx)
        return self.datasets[d].sample_paths(s)

    def get_gt_seg_map_by_idx(self, idx: int) -> np.ndarray:
        d, s = self.get_dataset_idx_and_sample_idx(idx)
        return self.datasets[d].get_gt_seg_map_by_idx(s)

    def get_gt_seg_maps(self, efficient_test: Optional[bool] = None):
        return chain(*[ds.get_gt_seg_maps() for ds in self.datasets])

    def pre_eval(self, preds, indices) -> list:
        """``pre_eval`` of the part that holds each index."""
        if not isinstance(indices, list):
            indices = [indices]
        if not isinstance(preds, list):
            preds = [preds]
        out = []
        for pred, index in zip(preds, indices):
            d, s = self.get_dataset_idx_and_sample_idx(index)
            out.extend(self.datasets[d].pre_eval(pred, s))
        return out

    def evaluate(self, results: list, logger=None, **kwargs) -> Dict[str, float]:
        """Evaluate per part (``separate_eval``) or all together; see ``CustomDataset.evaluate``."""
        if len(results) != len(self):
            raise DatasetError(f"ConcatDataset.evaluate got {len(results)} results for "
                               f"{len(self)} samples.")
        for ds in self.datasets:
            if not hasattr(ds, "evaluate"):
                raise DatasetError(f"{type(ds).__name__} cannot be evaluated (no evaluate()).")
        if self.separate_eval:
            total: Dict[str, float] = {}
            start = 0
            for part, (ds, end) in enumerate(zip(self.datasets, self.cumulative_sizes)):
                name = getattr(ds, "img_dir", type(ds).__name__)
                print_log(f"\nEvaluating {name} with {end - start} images now", logger)
                for k, v in ds.evaluate(results[start:end], logger=logger, **kwargs).items():
                    total[f"{part}_{k}"] = v
                start = end
            return total
        if len({type(ds) for ds in self.datasets}) != 1:
            raise DatasetError("All parts of a ConcatDataset must have the same type when "
                               "separate_eval=False.")
        gt_seg_maps = None
        if results and all(isinstance(r, (np.ndarray, str)) for r in results):
            gt_seg_maps = self.get_gt_seg_maps()
        return self.datasets[0].evaluate(results, gt_seg_maps=gt_seg_maps, logger=logger,
                                         **kwargs)

    def format_results(self, results: list, imgfile_prefix: str,
                       indices: Optional[List[int]] = None, **kwargs) -> List[str]:
        """``format_results`` of each part, into ``<imgfile_prefix>/<part>``."""
        if indices is None:
            indices = list(range(len(self)))
        files: List[str] = []
        for result, index in zip(results, indices):
            d, s = self.get_dataset_idx_and_sample_idx(index)
            files += self.datasets[d].format_results(
                [result], osp.join(imgfile_prefix, str(d)), indices=[s], **kwargs)
        return files


@DATASETS.register_module()
class RepeatDataset(Dataset):
    """A dataset repeated ``times`` times (fewer, longer epochs for small datasets).

    Args:
        dataset: the dataset to repeat.
        times: how often.
    """

    def __init__(self, dataset: Dataset, times: int):
        if int(times) < 1:
            raise DatasetError(f"RepeatDataset times must be >= 1, got {times!r}")
        self.dataset = dataset
        self.times = int(times)
        self.CLASSES = getattr(dataset, "CLASSES", None)
        self.PALETTE = getattr(dataset, "PALETTE", None)
        self._ori_len = len(dataset)

    def __getitem__(self, idx: int):
        return self.dataset[idx % self._ori_len]

    def __len__(self) -> int:
        return self.times * self._ori_len
