"""``EncHead``: context encoding with the semantic encoding loss
(`EncNet <https://arxiv.org/abs/1803.08904>`_), MMSeg 0.x keys and losses.

The :class:`~seglab.models.layers.encoding.Encoding` layer summarises the last level into
``num_codes`` residual codes; their mean gates the channels (``fc``), and, with
``use_se_loss``, ``se_layer`` predicts from it which classes are in the image, trained by
``loss_se_decode`` (sigmoid CE against the per-image class-presence vector of the labels) under
the key ``loss_se``.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..builder import build_loss
from ..layers import ConvModule, build_norm_layer
from ..layers.encoding import Encoding
from .decode_head import BaseDecodeHead, Inputs


def _norm_1d(norm_cfg: Mapping, num_features: int) -> nn.Module:
    """The norm of the (N, num_codes, C) codes: MMSeg's ``BN``/``IN`` -> ``BN1d``/``IN1d``
    (other types with '2d' -> '1d'). A SyncBN outside a process group, which becomes a
    BatchNorm2d, is built as the BatchNorm1d it stands for (same state_dict)."""
    cfg = dict(norm_cfg)
    cfg["type"] = cfg["type"] + "1d" if cfg["type"] in ("BN", "IN") else \
        cfg["type"].replace("2d", "1d")
    layer = build_norm_layer(cfg, num_features)[1]
    if type(layer) is nn.BatchNorm2d:
        flat = nn.BatchNorm1d(num_features, eps=layer.eps, momentum=layer.momentum,
                              affine=layer.affine, track_running_stats=layer.track_running_stats)
        for param in flat.parameters():
            param.requires_grad = layer.weight.requires_grad
        layer = flat
    return layer


class EncModule(nn.Module):
    """Encoding module: ``encoding_project``, ``encoding`` (Encoding, 1-d norm, ReLU) and the
    sigmoid channel gate ``fc``; output ``relu(x + x * gate)``.

    Args:
        in_channels: channels of the input (and of the codewords).
        num_codes: number of codewords.
        conv_cfg: conv type.
        norm_cfg: norm type (required).
        act_cfg: activation of ``encoding_project``.

    Shape:
        (N, C, H, W) -> (encoding feature (N, C), output (N, C, H, W)).
    """

    def __init__(self, in_channels: int, num_codes: int, conv_cfg: Optional[Mapping],
                 norm_cfg: Optional[Mapping], act_cfg: Optional[Mapping]):
        super().__init__()
        if norm_cfg is None:
            raise ConfigError("EncHead needs a norm_cfg (its codes are normalised with the 1-d "
                              "version of it, as in MMSegmentation); set norm_cfg=dict(type='BN').")
        self.encoding_project = ConvModule(in_channels, in_channels, 1, conv_cfg=conv_cfg,
                                           norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.encoding = nn.Sequential(Encoding(channels=in_channels, num_codes=num_codes),
                                      _norm_1d(norm_cfg, num_codes), nn.ReLU(inplace=True))
        self.fc = nn.Sequential(nn.Linear(in_channels, in_channels), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        encoding_feat = self.encoding(self.encoding_project(x)).mean(dim=1)  # (N, C)
        gate = self.fc(encoding_feat).view(*x.shape[:2], 1, 1)
        return encoding_feat, F.relu_(x + x * gate)


@MODELS.register_module()
class EncHead(BaseDecodeHead, fixed_keys=("input_transform",)):
    """EncNet head over several levels (``input_transform='multiple_select'``, fixed).

    Args:
        num_codes: codewords of the Encoding layer.
        use_se_loss: predict class presence (``se_layer``) and train it with ``loss_se``.
        add_lateral: fuse the other selected levels (1x1 ``lateral_convs`` + 3x3 ``fusion``)
            with the ``bottleneck`` of the last one; they must have its resolution.
        loss_se_decode: the SE loss dict (sigmoid CrossEntropyLoss in MMSeg).
        **kwargs: :class:`BaseDecodeHead` keys (``in_channels``/``in_index`` lists).

    Shape:
        inputs (selected levels, the last (N, in_channels[-1], h, w)) -> forward: logits
        (N, out_channels, h, w), plus se logits (N, num_classes) with ``use_se_loss``;
        forward_test: the logits.
    """

    def __init__(self, num_codes: int = 32, use_se_loss: bool = True, add_lateral: bool = False,
                 loss_se_decode: Mapping = dict(type="CrossEntropyLoss", use_sigmoid=True,
                                                loss_weight=0.2), **kwargs):
        super().__init__(input_transform="multiple_select", **kwargs)
        self.use_se_loss, self.add_lateral, self.num_codes = use_se_loss, add_lateral, num_codes
        args = self.conv_args
        self.bottleneck = ConvModule(self.in_channels[-1], self.channels, 3, padding=1, **args)
        if add_lateral:
            self.lateral_convs = nn.ModuleList(ConvModule(c, self.channels, 1, **args)
                                               for c in self.in_channels[:-1])
            self.fusion = ConvModule(len(self.in_channels) * self.channels, self.channels, 3,
                                     padding=1, **args)
        self.enc_module = EncModule(self.channels, num_codes=num_codes, **args)
        if use_se_loss:
            self.loss_se_decode = build_loss(loss_se_decode, key="loss_se_decode")
            self.se_layer = nn.Linear(self.channels, self.num_classes)

    def forward(self, inputs: Inputs) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        inputs = self._transform_inputs(inputs)
        feat = self.bottleneck(inputs[-1])
        if self.add_lateral:
            laterals = [conv(x) for conv, x in zip(self.lateral_convs, inputs)]
            feat = self.fusion(torch.cat([feat, *laterals], dim=1))
        encode_feat, out = self.enc_module(feat)
        logits = self.cls_seg(out)
        if self.use_se_loss:
            return logits, self.se_layer(encode_feat)
        return logits

    def forward_test(self, inputs: Inputs, img_metas: List[dict],
                     test_cfg: Optional[Mapping]) -> torch.Tensor:
        """The segmentation logits (N, out_channels, h, w)."""
        out = self(inputs)
        return out[0] if self.use_se_loss else out

    @staticmethod
    def _convert_to_onehot_labels(seg_label: torch.Tensor, num_classes: int) -> torch.Tensor:
        """(N, ...) labels -> (N, num_classes) int64, 1 where the class occurs (ignored and
        out-of-range values count for no class, as MMSeg's ``histc`` over [0, K - 1])."""
        flat = seg_label.reshape(seg_label.size(0), -1)
        valid = (flat >= 0) & (flat < num_classes)
        onehot = flat.new_zeros(flat.size(0), num_classes + 1)
        onehot.scatter_(1, torch.where(valid, flat, torch.full_like(flat, num_classes)), 1)
        return onehot[:, :num_classes]

    @property
    def loss_names(self) -> List[str]:
        return super().loss_names + (["loss_se"] if self.use_se_loss else [])

    def losses(self, seg_logit: Union[torch.Tensor, Sequence[torch.Tensor]],  # type: ignore
               seg_label: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The base losses of the logits, then ``loss_se`` (with ``use_se_loss``)."""
        if not self.use_se_loss:
            return super().losses(seg_logit, seg_label)
        seg_logit, se_logit = seg_logit
        loss = super().losses(seg_logit, seg_label)
        loss["loss_se"] = self.loss_se_decode(
            se_logit, self._convert_to_onehot_labels(seg_label, self.num_classes))
        return loss
