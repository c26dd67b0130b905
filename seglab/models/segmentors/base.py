"""``BaseSegmentor``: the MMSegmentation 0.x entry points every segmentor shares.

``forward(img, img_metas, return_loss=True, **kwargs)`` dispatches to ``forward_train`` or
``forward_test``; ``train_step``/``val_step`` return ``dict(loss, log_vars, num_samples)``;
``parse_losses`` sums the loss terms the heads declare (``loss_names``), each already multiplied
by its ``loss_weight``, and logs every entry (accuracies included) as a float.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ...utils import get_dist_info, is_distributed
from ...utils.precision import autocast, check_precision
from ..layers import initialize

LossValue = Union[torch.Tensor, Sequence[torch.Tensor]]


class BaseSegmentor(nn.Module):
    """Base class of segmentors; subclasses implement the abstract 0.x methods below.

    Attributes:
        CLASSES: class names (set from a checkpoint's meta by ``init_segmentor``), or None.
        PALETTE: class colours, or None.
    """

    def __init__(self) -> None:
        super().__init__()
        self.CLASSES: Optional[Sequence[str]] = None
        self.PALETTE: Optional[Sequence[Sequence[int]]] = None

    @property
    def with_neck(self) -> bool:
        return getattr(self, "neck", None) is not None

    @property
    def with_auxiliary_head(self) -> bool:
        return getattr(self, "auxiliary_head", None) is not None

    @property
    def with_decode_head(self) -> bool:
        return getattr(self, "decode_head", None) is not None

    # -- to implement -------------------------------------------------------------------------
    def extract_feat(self, img: torch.Tensor):
        raise NotImplementedError

    def encode_decode(self, img: torch.Tensor, img_metas: Optional[List[dict]]) -> torch.Tensor:
        raise NotImplementedError

    def forward_train(self, img: torch.Tensor, img_metas: List[dict],
                      gt_semantic_seg: torch.Tensor) -> Dict[str, torch.Tensor]:
        raise NotImplementedError

    def simple_test(self, img: torch.Tensor, img_meta: List[dict],
                    rescale: bool = True) -> List[np.ndarray]:
        raise NotImplementedError

    def aug_test(self, imgs: List[torch.Tensor], img_metas: List[List[dict]],
                 rescale: bool = True) -> List[np.ndarray]:
        raise NotImplementedError

    def loss_names(self) -> List[str]:
        """Keys of ``forward_train``'s dict that are loss terms (summed by :meth:`parse_losses`)."""
        raise NotImplementedError

    def init_weights(self) -> None:
        """Apply ``init_cfg`` if any, then initialise every child that knows how (backbone first;
        this loads ``pretrained`` weights)."""
        if getattr(self, "init_cfg", None) is not None:
            initialize(self, self.init_cfg)
        for child in self.children():
            if hasattr(child, "init_weights"):
                child.init_weights()
            elif isinstance(child, nn.ModuleList):
                for sub in child:
                    if hasattr(sub, "init_weights"):
                        sub.init_weights()

    # -- shared entry points ------------------------------------------------------------------
    def forward_test(self, imgs: Union[torch.Tensor, List[torch.Tensor]],
                     img_metas: Union[List[dict], List[List[dict]]], **kwargs):
        """Test with one augmentation (``simple_test``) or several (``aug_test``).

        Args:
            imgs: one (B, 3, H, W) batch per augmentation (a bare tensor means one).
            img_metas: one list of metas per augmentation.
            **kwargs: ``rescale``.

        Returns:
            One label map (H, W) per image.
        """
        if isinstance(imgs, torch.Tensor):
            imgs, img_metas = [imgs], [img_metas]
        if not isinstance(imgs, list) or not isinstance(img_metas, list):
            raise TypeError(f"forward_test needs imgs and img_metas as lists (one entry per "
                            f"augmentation), got {type(imgs).__name__} and {type(img_metas).__name__}")
        if len(imgs) != len(img_metas):
            raise ValueError(f"forward_test got {len(imgs)} augmentations of images but "
                             f"{len(img_metas)} of img_metas")
        for aug, (img, metas) in enumerate(zip(imgs, img_metas)):
            if len(metas) != img.shape[0]:
                raise ValueError(f"augmentation {aug}: {img.shape[0]} images but {len(metas)} metas")
        # The network runs in model.test_cfg.precision; encode_decode returns float32 logits, so
        # resizing, softmax and argmax stay float32.
        with autocast(self.test_precision, imgs[0].device):
            if len(imgs) == 1:
                return self.simple_test(imgs[0], img_metas[0], **kwargs)
            return self.aug_test(imgs, img_metas, **kwargs)

    @property
    def test_precision(self) -> str:
        """``test_cfg.precision``: 'fp32' (default), 'bf16' or 'fp16' (see seglab.utils.precision)."""
        test_cfg = getattr(self, "test_cfg", None) or {}
        return check_precision(test_cfg.get("precision"), "model.test_cfg.precision")

    def forward(self, img, img_metas, return_loss: bool = True, **kwargs):
        """Losses (``return_loss=True``: needs ``gt_semantic_seg``) or predictions."""
        if return_loss:
            return self.forward_train(img, img_metas, **kwargs)
        return self.forward_test(img, img_metas, **kwargs)

    def parse_losses(self, losses: Mapping[str, LossValue]) -> Tuple[torch.Tensor, "OrderedDict[str, float]"]:
        """Total loss and the values to log.

        The total is the sum, in dict order, of the entries named by :meth:`loss_names` (each
        head's loss modules, already weighted); other entries (``acc_seg``) are only logged.
        In a process group, logged values are averaged over processes.

        Args:
            losses: ``forward_train``'s output; a value may be a tensor or a list of tensors.

        Returns:
            ``(loss, log_vars)``; ``log_vars`` holds floats and ``'loss'`` (the total).
        """
        loss_keys = set(self.loss_names())
        log_vars: "OrderedDict[str, torch.Tensor]" = OrderedDict()
        for name, value in losses.items():
            if isinstance(value, torch.Tensor):
                log_vars[name] = value.mean()
            elif isinstance(value, (list, tuple)):
                log_vars[name] = sum(v.mean() for v in value)
            else:
                raise TypeError(f"loss '{name}' must be a tensor or a list of tensors, got "
                                f"{type(value).__name__}")
        terms = [v for k, v in log_vars.items() if k in loss_keys]
        if not terms:
            raise ValueError(f"no loss term among {list(losses)}; expected some of {sorted(loss_keys)}")
        loss = terms[0]
        for term in terms[1:]:
            loss = loss + term
        log_vars["loss"] = loss
        return loss, self._reduce_log_vars(log_vars)

    _parse_losses = parse_losses  # MMSeg 0.x name

    @staticmethod
    def _reduce_log_vars(log_vars: "OrderedDict[str, torch.Tensor]") -> "OrderedDict[str, float]":
        if is_distributed():
            # Every process must log the same keys, or all_reduce below would wait forever.
            count = torch.tensor(len(log_vars), device=log_vars["loss"].device)
            dist.all_reduce(count)
            world = get_dist_info()[1]
            if int(count) != len(log_vars) * world:
                raise RuntimeError(f"rank {get_dist_info()[0]} logs {list(log_vars)}, other ranks "
                                   "log different keys")
        out: "OrderedDict[str, float]" = OrderedDict()
        for name, value in log_vars.items():
            value = value.detach().clone()
            if is_distributed():
                dist.all_reduce(value.div_(get_dist_info()[1]))
            out[name] = value.item()
        return out

    def show_result(self, img, result, palette=None, win_name: str = "", show: bool = False,
                    wait_time: int = 0, out_file=None, opacity: float = 0.5) -> np.ndarray:
        """Blend ``result`` (label map, or the list ``simple_test`` returns) into ``img``.

        MMSeg 0.x signature; ``palette`` defaults to ``self.PALETTE``. See
        :func:`seglab.visualization.show_result`.
        """
        from ...visualization import show_result  # lazy: visualization is optional for models

        return show_result(img, result, palette if palette is not None else self.PALETTE,
                           opacity=opacity, out_file=out_file, show=show, win_name=win_name,
                           wait_time=wait_time)

    def train_step(self, data_batch: Mapping, optimizer=None, **kwargs) -> dict:
        """One forward with losses; the optimizer step is the runner's.

        Args:
            data_batch: ``dict(img, img_metas, gt_semantic_seg)`` as collated.
            optimizer: unused (MMSeg signature).

        Returns:
            ``dict(loss=Tensor, log_vars=OrderedDict[str, float], num_samples=int)``.
        """
        losses = self(**data_batch)
        loss, log_vars = self.parse_losses(losses)
        return dict(loss=loss, log_vars=log_vars, num_samples=len(data_batch["img_metas"]))

    def val_step(self, data_batch: Mapping, optimizer=None, **kwargs) -> dict:
        """Like :meth:`train_step`, with ``_val`` appended to the logged names."""
        losses = self(**data_batch)
        loss, log_vars = self.parse_losses(losses)
        log_vars = OrderedDict((f"{k}_val", v) for k, v in log_vars.items())
        return dict(loss=loss, log_vars=log_vars, num_samples=len(data_batch["img_metas"]))
