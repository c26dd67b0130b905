"""A thin dataset wrapper that seeds the random generators per sample.

The per-sample seed comes with the index (a :class:`~seglab.datasets.samplers.SampleIndex`
from :class:`~seglab.datasets.samplers.InfiniteSampler`), so the random augmentations of a
sample depend only on the run's seed and the sample's position in the stream: a loader with 0
workers and one with 8 workers produce the same batches, and a resumed run repeats them exactly.
"""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset


class SeededDataset(Dataset):
    """Runs ``dataset[index]`` with ``random``, ``np.random`` and torch's CPU generator seeded.

    Indices without a ``seed`` attribute (plain ints) are passed through unseeded. The previous
    generator states are restored afterwards, so with ``num_workers=0`` the main process's
    random streams (model init, dropout) are not disturbed by data loading.

    Attributes that the wrapper does not define (``CLASSES``, ``PALETTE``, ``evaluate``, ...)
    are read from the wrapped dataset.

    Args:
        dataset: the dataset to wrap.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: Any):
        seed = getattr(index, "seed", None)
        if seed is None:
            return self.dataset[index]
        py_state = random.getstate()
        np_state = np.random.get_state()
        torch_state = torch.default_generator.get_state()
        random.seed(seed)
        np.random.seed(seed)
        # Only the CPU generator: torch.manual_seed would also reseed (and not restore) CUDA.
        torch.default_generator.manual_seed(seed)
        try:
            return self.dataset[int(index)]
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
            torch.default_generator.set_state(torch_state)

    def __getattr__(self, name: str):
        # Guard: during unpickling in a worker, 'dataset' is looked up before it is set.
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __repr__(self) -> str:
        return f"SeededDataset({self.dataset!r})"
