"""``PIDHead``: PIDNet's decode head, trained on the labels and their boundaries (MMSeg 1.x).

Same keys, module names and arithmetic as MMSegmentation 1.x's ``PIDHead`` (a 1.x-only model).
It reads :class:`~seglab.models.backbones.PIDNet`'s three outputs ``(P, fused, D)``: ``i_head`` +
``conv_seg`` classify the fused map (the prediction); while training ``p_head`` + ``p_cls_seg``
classify the P map and ``d_head`` + ``d_cls_seg`` predict one boundary logit from the D map.

Training needs the boundary label ``gt_edge_map`` ((N, 1, H, W), 1 on edges, 0 elsewhere, 255
padding), which MMSeg's ``GenerateEdge`` transform makes from the label map; the head declares it
in ``extra_gt_keys`` and the segmentor passes it from the batch. The four ``loss_decode`` entries
give ``loss_sem_p`` (P logits), ``loss_sem_i`` (fused logits), ``loss_bd`` (boundary logit vs
``gt_edge_map``) and ``loss_sem_bd`` (fused logits on the pixels whose boundary probability
exceeds 0.8, the others ignored).
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import initialize
from ..layers.weight_init import CONV_NORM_INIT
from ..losses import accuracy
from .ddr_head import BN, RELU, check_loss_list, pre_act_head, resize_to
from .decode_head import BaseDecodeHead, InputSpec, Inputs

# The losses of MMSeg's PIDNet configs (without their Cityscapes class weights).
_OHEM = dict(type="OhemCrossEntropy", thres=0.9, min_kept=131072, loss_weight=1.0)
PID_LOSSES = (dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=0.4), _OHEM,
              dict(type="BoundaryLoss", loss_weight=20.0), _OHEM)
BOUNDARY_THRESHOLD = 0.8


class BasePIDHead(nn.Module):
    """``act(norm(conv(x)))`` (``conv`` a pre-activation 3x3 ConvModule), then a classifier.

    Shape:
        (N, in_channels, h, w) -> (N, channels, h, w), or the classifier's output.
    """

    def __init__(self, in_channels: int, channels: int, norm_cfg: Optional[Mapping] = BN,
                 act_cfg: Optional[Mapping] = RELU):
        super().__init__()
        self.conv, self.norm, self.act = pre_act_head(in_channels, channels, norm_cfg, act_cfg)

    def forward(self, x: torch.Tensor, cls_seg: Optional[nn.Module]) -> torch.Tensor:
        x = self.act(self.norm(self.conv(x)))
        return x if cls_seg is None else cls_seg(x)


@MODELS.register_module()
class PIDHead(BaseDecodeHead, fixed_keys=("in_index", "input_transform")):
    """Decode head of PIDNet.

    Args:
        in_channels: channels of the fused map (the P and D maps have half).
        channels: channels of the I and P feature heads (the D head has ``in_channels // 4``).
        num_classes: number of classes.
        norm_cfg: norm of the feature heads.
        act_cfg: activation of the I and P heads (the D head uses ReLU).
        loss_decode: four losses: P logits, fused logits, boundary logit, fused logits on the
            predicted boundaries (default: those of MMSeg's configs).
        **kwargs: :class:`BaseDecodeHead` keys (``dropout_ratio`` applies to the fused logits).

    Shape:
        inputs ``((N, in/2, h, w), (N, in, h, w), (N, in/2, h, w))`` -> logits
        (N, out_channels, h, w); while training (P, fused, boundary) logits, the last with one
        channel.
    """

    extra_gt_keys = ("gt_edge_map",)

    def __init__(self, in_channels: int, channels: int, num_classes: int,
                 norm_cfg: Optional[Mapping] = BN, act_cfg: Optional[Mapping] = RELU,
                 loss_decode: Sequence[Mapping] = PID_LOSSES, **kwargs):
        super().__init__(in_channels, channels, num_classes=num_classes, norm_cfg=norm_cfg,
                         act_cfg=act_cfg, in_index=1, loss_decode=loss_decode, **kwargs)
        check_loss_list(self, 4, "P-branch logits, fused logits, boundary logit, fused logits "
                                 "on the boundaries")
        self.i_head = BasePIDHead(in_channels, channels, norm_cfg, act_cfg)
        self.p_head = BasePIDHead(in_channels // 2, channels, norm_cfg, act_cfg)
        self.d_head = BasePIDHead(in_channels // 2, in_channels // 4, norm_cfg)
        self.p_cls_seg = nn.Conv2d(channels, self.out_channels, kernel_size=1)
        self.d_cls_seg = nn.Conv2d(in_channels // 4, 1, kernel_size=1)

    def input_specs(self) -> List[InputSpec]:
        """The fused map: output 1 with ``in_channels`` (the P and D maps, 0 and 2, have half)."""
        return [InputSpec("in_channels", self.in_channels, 1, None)]

    @property
    def loss_names(self) -> List[str]:
        return ["loss_sem_p", "loss_sem_i", "loss_bd", "loss_sem_bd"]

    def init_weights(self) -> None:
        """MMSeg's: Kaiming (fan_out) convs, unit norms (biases 0)."""
        initialize(self, CONV_NORM_INIT)

    def forward_test(self, inputs: Inputs, img_metas: List[dict],
                     test_cfg: Optional[Mapping]) -> torch.Tensor:
        """Logits of the fused map (N, out_channels, h, w), in either mode."""
        return self.i_head(inputs[1], self.cls_seg)

    def forward_branches(self, inputs: Inputs) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(P, fused, boundary) logits."""
        return (self.p_head(inputs[0], self.p_cls_seg), self.forward_test(inputs, [], None),
                self.d_head(inputs[2], self.d_cls_seg))

    def forward(self, inputs: Inputs):
        """Training: the (P, fused, boundary) logits; eval: the fused logits (as MMSeg)."""
        if self.training:
            return self.forward_branches(inputs)
        return self.forward_test(inputs, [], None)

    def forward_train(self, inputs: Inputs, img_metas: List[dict], gt_semantic_seg: torch.Tensor,
                      train_cfg: Optional[Mapping],
                      gt_edge_map: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """The losses; ``gt_edge_map`` (N, 1, H, W) is the boundary label of ``gt_semantic_seg``."""
        if gt_edge_map is None:
            raise ConfigError(
                "PIDHead trains its boundary branch on 'gt_edge_map', which the training batch "
                "lacks: add dict(type='GenerateEdge', edge_width=4) to the train pipeline after "
                "the crops and flips (MMSeg's PIDNet configs do), and keep 'gt_edge_map' in the "
                "keys the pipeline collects.")
        return self.losses(self.forward_branches(inputs), gt_semantic_seg, gt_edge_map)

    def losses(self, seg_logits: Sequence[torch.Tensor],  # type: ignore[override]
               seg_label: torch.Tensor, edge_label: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``loss_sem_p``, ``loss_sem_i``, ``loss_bd``, ``loss_sem_bd`` and ``acc_seg``.

        Args:
            seg_logits: (P, fused, boundary) logits at the head's resolution; resized
                (bilinear) to the label sizes.
            seg_label: (N, 1, H, W) int64 labels.
            edge_label: (N, 1, H, W) boundary labels (1 edge, 0 not, other values ignored).
        """
        p_logit, i_logit = (resize_to(x, seg_label, self.align_corners) for x in seg_logits[:2])
        d_logit = resize_to(seg_logits[2], edge_label, self.align_corners)
        label, edge = seg_label.squeeze(1), edge_label.squeeze(1)
        sem_p, sem_i, bd, sem_bd = self.loss_decode
        on_boundary = torch.sigmoid(d_logit[:, 0]) > BOUNDARY_THRESHOLD
        boundary_label = torch.where(on_boundary, label, torch.full_like(label, self.ignore_index))
        return dict(loss_sem_p=sem_p(p_logit, label, ignore_index=self.ignore_index),
                    loss_sem_i=sem_i(i_logit, label), loss_bd=bd(d_logit, edge),
                    loss_sem_bd=sem_bd(i_logit, boundary_label),
                    acc_seg=accuracy(i_logit, label, ignore_index=self.ignore_index))
