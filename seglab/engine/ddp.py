"""DistributedDataParallel with the segmentor's ``train_step``."""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import torch
from torch.nn.parallel import DistributedDataParallel


class SegDistributedDataParallel(DistributedDataParallel):
    """DDP whose :meth:`train_step` runs the forward pass through DDP (so gradients are synchronised).

    The wrapped segmentor's ``forward(**data_batch)`` returns its loss dict in training mode, and
    ``parse_losses`` turns it into the total loss and the logged values, exactly what the
    segmentor's own ``train_step`` does, but with DDP's forward bookkeeping around it.
    """

    def train_step(self, data_batch: Mapping[str, Any],
                   optimizer: Optional[torch.optim.Optimizer] = None) -> Dict[str, Any]:
        losses = self(**data_batch)
        loss, log_vars = self.module.parse_losses(losses)
        return dict(loss=loss, log_vars=log_vars, num_samples=len(data_batch["img_metas"]))
