"""``PointHead``: the point head of `PointRend <https://arxiv.org/abs/1912.08193>`_ (MMSeg 0.x).

A cascade head (stage >= 1 of :class:`~seglab.models.segmentors.CascadeEncoderDecoder`): it
predicts logits at points only, from the fine-grained features and the previous stage's coarse
logits sampled there (:func:`~seglab.models.layers.point_sample`, bilinear), with a shared MLP
(1x1 ``Conv1d`` ConvModules ``fcs``, then ``fc_seg``).

- Training (:meth:`PointHead.get_points_train`): ``num_points * oversample_ratio`` uniform random
  points, of which the ``importance_sample_ratio`` share most uncertain (uncertainty =
  -(top1 - top2) of the coarse logits sampled at them) are kept, plus uniform random points to
  make ``num_points``; the loss compares the point logits with the labels sampled (nearest) at
  the points: keys ``pointloss_ce`` and ``acc_point``.
- Inference (:meth:`PointHead.get_points_test`): ``subdivision_steps`` times, upsample the
  logits by ``scale_factor`` (bilinear) and replace the ``subdivision_num_points`` most uncertain
  pixels by point predictions (their centres as points).

The random calls are MMSeg's, in its order (``torch.rand`` of the candidates, then of the random
share), so a seeded run samples the same points.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import ConvModule, point_sample, resize
from ..losses import accuracy
from .cascade_decode_head import BaseCascadeDecodeHead
from .decode_head import Inputs

TRAIN_KEYS = ("num_points", "oversample_ratio", "importance_sample_ratio")
TEST_KEYS = ("subdivision_steps", "subdivision_num_points", "scale_factor")


def calculate_uncertainty(seg_logits: torch.Tensor) -> torch.Tensor:
    """Uncertainty -(top1 - top2) of logits (N, C, ...) -> (N, 1, ...); highest = least sure."""
    top2 = torch.topk(seg_logits, k=2, dim=1)[0]
    return (top2[:, 1] - top2[:, 0]).unsqueeze(1)


def _point_dtype(logits: torch.Tensor) -> torch.dtype:
    """Point coordinates are float32 (float64 for float64 logits), also under fp16 autocast."""
    return torch.promote_types(logits.dtype, torch.float32)


def _options(cfg: Optional[Mapping], keys: Sequence[str], where: str, example: str) -> List:
    missing = [k for k in keys if cfg is None or k not in cfg]
    if missing:
        raise ConfigError(f"PointHead needs {', '.join(missing)} in model.{where} (PointRend's: "
                          f"{where}=dict({example})).")
    return [cfg[k] for k in keys]


@MODELS.register_module()
class PointHead(BaseCascadeDecodeHead, fixed_keys=("input_transform", "init_cfg")):
    """Point head of PointRend; reads ``in_index`` levels (``'multiple_select'``, always).

    Args:
        num_fcs: number of 1x1 ``fcs`` ConvModules (``channels`` outputs each).
        coarse_pred_each_layer: concatenate the coarse point logits to the input of every fc
            and of ``fc_seg`` (not only the first fc).
        conv_cfg: conv type of the fcs (``Conv1d`` over points).
        norm_cfg: norm of the fcs.
        act_cfg: activation of the fcs.
        **kwargs: :class:`BaseDecodeHead` keys (``dropout_ratio`` is a plain ``Dropout`` before
            ``fc_seg``; there is no ``conv_seg``).

    Shape:
        ``forward``: fine (N, sum(in_channels), P) and coarse (N, num_classes, P) point features
        -> (N, num_classes, P). ``forward_test``: prev_output (N, num_classes, h, w) ->
        (N, num_classes, h * s, w * s) with s = scale_factor ** subdivision_steps.
    """

    def __init__(self, num_fcs: int = 3, coarse_pred_each_layer: bool = True,
                 conv_cfg: Optional[Mapping] = dict(type="Conv1d"),
                 norm_cfg: Optional[Mapping] = None,
                 act_cfg: Optional[Mapping] = dict(type="ReLU", inplace=False), **kwargs):
        super().__init__(input_transform="multiple_select", conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                         act_cfg=act_cfg,
                         init_cfg=dict(type="Normal", std=0.01, override=dict(name="fc_seg")),
                         **kwargs)
        self.num_fcs, self.coarse_pred_each_layer = num_fcs, coarse_pred_each_layer
        extra = self.num_classes if coarse_pred_each_layer else 0
        fc_in = sum(self.in_channels) + self.num_classes
        self.fcs = nn.ModuleList()
        for _ in range(num_fcs):
            self.fcs.append(ConvModule(fc_in, self.channels, kernel_size=1, **self.conv_args))
            fc_in = self.channels + extra
        self.fc_seg = nn.Conv1d(fc_in, self.num_classes, kernel_size=1)
        # Point features are (N, C, P): a plain Dropout; no conv_seg key, as MMSeg.
        self.dropout = nn.Dropout(self.dropout_ratio) if self.dropout_ratio > 0 else None
        del self.conv_seg

    @property
    def loss_names(self) -> List[str]:
        """``point<loss_name>`` of each loss module (``pointloss_ce``), as MMSeg names them."""
        return [f"point{name}" for name in super().loss_names]

    def cls_seg(self, feat: torch.Tensor) -> torch.Tensor:
        """Dropout then ``fc_seg``: (N, C', P) -> (N, num_classes, P)."""
        if self.dropout is not None:
            feat = self.dropout(feat)
        return self.fc_seg(feat)

    def forward(self, fine_grained_point_feats: torch.Tensor,  # type: ignore[override]
                coarse_point_feats: torch.Tensor) -> torch.Tensor:
        """Point logits (N, num_classes, P) from fine (N, C, P) and coarse (N, K, P) features."""
        x = torch.cat([fine_grained_point_feats, coarse_point_feats], dim=1)
        for fc in self.fcs:
            x = fc(x)
            if self.coarse_pred_each_layer:
                x = torch.cat([x, coarse_point_feats], dim=1)
        return self.cls_seg(x)

    def _point_logits(self, inputs: Inputs, prev_output: torch.Tensor,
                      points: torch.Tensor) -> torch.Tensor:
        """Fine features of the selected levels and the coarse logits at points -> logits."""
        fine = torch.cat([point_sample(x, points, align_corners=self.align_corners)
                          for x in self._transform_inputs(inputs)], dim=1)
        coarse = point_sample(prev_output, points, align_corners=self.align_corners)
        return self(fine, coarse)

    def forward_train(self, inputs: Inputs, prev_output: torch.Tensor,  # type: ignore[override]
                      img_metas: List[dict], gt_semantic_seg: torch.Tensor,
                      train_cfg: Optional[Mapping]) -> Dict[str, torch.Tensor]:
        """Losses at points sampled from ``prev_output`` (N, K, h, w); gt (N, 1, H, W)."""
        with torch.no_grad():
            points = self.get_points_train(prev_output, calculate_uncertainty, train_cfg)
        point_logits = self._point_logits(inputs, prev_output, points)
        point_label = point_sample(gt_semantic_seg.to(points.dtype), points, mode="nearest",
                                   align_corners=self.align_corners)
        return self.losses(point_logits, point_label.squeeze(1).long())

    def forward_test(self, inputs: Inputs, prev_output: torch.Tensor,  # type: ignore[override]
                     img_metas: List[dict], test_cfg: Optional[Mapping]) -> torch.Tensor:
        """``prev_output`` refined by subdivision: (N, K, h * s, w * s), see the class doc."""
        steps, _, scale_factor = _options(test_cfg, TEST_KEYS, "test_cfg", _TEST_EXAMPLE)
        refined = prev_output.clone()
        for _ in range(steps):
            refined = resize(refined, scale_factor=scale_factor, mode="bilinear",
                             align_corners=self.align_corners)
            n, c, h, w = refined.shape
            point_indices, points = self.get_points_test(refined, calculate_uncertainty, test_cfg)
            point_logits = self._point_logits(inputs, prev_output, points)
            refined = refined.reshape(n, c, h * w).scatter_(
                2, point_indices.unsqueeze(1).expand(-1, c, -1), point_logits).view(n, c, h, w)
        return refined

    def losses(self, point_logits: torch.Tensor,  # type: ignore[override]
               point_label: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``point<loss_name>`` per loss module and ``acc_point``.

        Args:
            point_logits: (N, K, P).
            point_label: (N, P) int64.
        """
        loss: Dict[str, torch.Tensor] = {}
        for module in self._loss_modules():
            name = f"point{module.loss_name}"
            value = module(point_logits, point_label, ignore_index=self.ignore_index)
            loss[name] = loss[name] + value if name in loss else value
        loss["acc_point"] = accuracy(point_logits, point_label, ignore_index=self.ignore_index)
        return loss

    def get_points_train(self, seg_logits: torch.Tensor,
                         uncertainty_func: Callable[[torch.Tensor], torch.Tensor],
                         cfg: Optional[Mapping]) -> torch.Tensor:
        """Training points (N, num_points, 2) in [0, 1]^2, (x, y), see the module doc.

        Args:
            seg_logits: coarse logits (N, K, h, w).
            uncertainty_func: logits (N, K, P) -> uncertainty (N, 1, P), highest = least sure.
            cfg: ``num_points``, ``oversample_ratio`` (>= 1), ``importance_sample_ratio``
                (in [0, 1]).
        """
        num_points, oversample_ratio, importance_ratio = _options(
            cfg, TRAIN_KEYS, "train_cfg", _TRAIN_EXAMPLE)
        if oversample_ratio < 1 or not 0 <= importance_ratio <= 1:
            raise ConfigError(f"PointHead: model.train_cfg oversample_ratio={oversample_ratio} "
                              f"must be >= 1 and importance_sample_ratio={importance_ratio} in "
                              f"[0, 1].")
        batch_size = seg_logits.shape[0]
        num_sampled = int(num_points * oversample_ratio)
        # float32 as MMSeg (the same values), float64 for float64 logits (MMSeg's fail there).
        like = dict(device=seg_logits.device, dtype=_point_dtype(seg_logits))
        candidates = torch.rand(batch_size, num_sampled, 2, **like)
        # Uncertainty of the logits sampled at each point, not sampled uncertainty of the map.
        uncertainty = uncertainty_func(point_sample(seg_logits, candidates))
        num_uncertain = int(importance_ratio * num_points)
        idx = torch.topk(uncertainty[:, 0, :], k=num_uncertain, dim=1)[1]
        points = torch.gather(candidates, 1, idx.unsqueeze(-1).expand(-1, -1, 2))
        num_random = num_points - num_uncertain
        if num_random > 0:
            extra = torch.rand(batch_size, num_random, 2, **like)
            points = torch.cat([points, extra], dim=1)
        return points

    def get_points_test(self, seg_logits: torch.Tensor,
                        uncertainty_func: Callable[[torch.Tensor], torch.Tensor],
                        cfg: Optional[Mapping]) -> Tuple[torch.Tensor, torch.Tensor]:
        """The ``subdivision_num_points`` most uncertain pixels of seg_logits (N, K, h, w).

        Returns:
            indices (N, P) into the flattened h * w map and their centres (N, P, 2) in [0, 1]^2,
            ((j + 0.5) / w, (i + 0.5) / h); P = min(h * w, subdivision_num_points).
        """
        num_points = _options(cfg, ("subdivision_num_points",), "test_cfg", _TEST_EXAMPLE)[0]
        uncertainty = uncertainty_func(seg_logits)
        n, _, h, w = uncertainty.shape
        point_indices = uncertainty.view(n, h * w).topk(min(h * w, num_points), dim=1)[1]
        dtype = _point_dtype(seg_logits)
        points = torch.stack([(point_indices % w).to(dtype) * (1.0 / w) + 0.5 / w,
                              (point_indices // w).to(dtype) * (1.0 / h) + 0.5 / h], dim=2)
        return point_indices, points


_TRAIN_EXAMPLE = "num_points=2048, oversample_ratio=3, importance_sample_ratio=0.75"
_TEST_EXAMPLE = "mode='whole', subdivision_steps=2, subdivision_num_points=8196, scale_factor=2"
