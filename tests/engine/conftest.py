"""Tiny stand-ins for the engine tests: a 2-conv segmentor with dropout, an in-memory dataset and an
infinite sampler with ``skip`` (the contract of the datasets package's InfiniteSampler)."""
from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, Dict, Iterator, List

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler


class TinySegmentor(nn.Module):
    """conv-BN-ReLU-Dropout2d-conv; follows the segmentor train_step API."""

    def __init__(self, num_classes: int = 3, channels: int = 4, dropout: float = 0.5):
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.dropout = nn.Dropout2d(dropout)
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)

    def forward(self, img, img_metas=None, gt_semantic_seg=None, return_loss=True):
        logits = self.conv_seg(self.dropout(F.relu(self.bn(self.conv(img)))))
        if not return_loss:
            return logits
        label = gt_semantic_seg[:, 0]
        loss = F.cross_entropy(logits, label, ignore_index=255)
        acc = (logits.argmax(1) == label).float().mean() * 100
        return OrderedDict([("decode.loss_ce", loss), ("decode.acc_seg", acc)])

    @staticmethod
    def parse_losses(losses):
        loss = losses["decode.loss_ce"]
        log_vars = OrderedDict((k, float(v.detach())) for k, v in losses.items())
        log_vars["loss"] = float(loss.detach())
        return loss, log_vars

    def train_step(self, data_batch, optimizer=None):
        loss, log_vars = self.parse_losses(self(**data_batch))
        return dict(loss=loss, log_vars=log_vars, num_samples=len(data_batch["img_metas"]))


class ToyDataset(Dataset):
    """``length`` deterministic samples of 3x8x8 images with labels in [0, 3)."""

    def __init__(self, length: int = 12, nan_at: int = -1):
        g = torch.Generator().manual_seed(0)
        self.imgs = torch.randn(length, 3, 8, 8, generator=g)
        self.labels = torch.randint(0, 3, (length, 1, 8, 8), generator=g)
        if nan_at >= 0:
            self.imgs[nan_at] = float("nan")

    def __len__(self) -> int:
        return len(self.imgs)

    def __getitem__(self, i: int) -> Dict[str, Any]:
        return dict(img=self.imgs[i], gt_semantic_seg=self.labels[i], img_metas=dict(idx=i))


class SkipSampler(Sampler):
    """Endless seeded permutations; ``skip(n)`` drops the first n indices of the next iteration."""

    def __init__(self, size: int, seed: int = 0):
        self.size, self.seed, self._skip = size, seed, 0

    def skip(self, num_samples: int) -> None:
        self._skip = num_samples

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed)
        skip, self._skip = self._skip, 0
        count = 0
        while True:
            for i in torch.randperm(self.size, generator=g).tolist():
                if count >= skip:
                    yield i
                count += 1


def collate(samples: List[Dict[str, Any]]) -> Dict[str, Any]:
    return dict(img=torch.stack([s["img"] for s in samples]),
                gt_semantic_seg=torch.stack([s["gt_semantic_seg"] for s in samples]),
                img_metas=[s["img_metas"] for s in samples])


def to_device(batch: Dict[str, Any], device: torch.device) -> Dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def make_loader(dataset: Dataset = None, batch_size: int = 2, sampler=None) -> DataLoader:
    dataset = dataset if dataset is not None else ToyDataset()
    sampler = sampler if sampler is not None else SkipSampler(len(dataset))
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate)


@pytest.fixture
def tiny_model():
    torch.manual_seed(1)
    return TinySegmentor()


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self, level: int = logging.DEBUG) -> str:
        return "\n".join(r.getMessage() for r in self.records if r.levelno >= level)


@pytest.fixture
def test_logger(request):
    """A logger outside the ``seglab`` hierarchy whose records are kept in ``logger.captured``."""
    logger = logging.getLogger(f"engine-test.{request.node.name}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = ListHandler()
    logger.handlers[:] = [handler]
    logger.captured = handler
    return logger


@pytest.fixture
def toys():
    """The stand-in classes and helpers, for tests that build their own."""
    return dict(TinySegmentor=TinySegmentor, ToyDataset=ToyDataset, SkipSampler=SkipSampler,
                collate=collate, to_device=to_device, make_loader=make_loader)
