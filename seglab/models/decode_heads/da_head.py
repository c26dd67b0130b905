"""``DAHead``: position and channel attention (`DANet <https://arxiv.org/abs/1809.02983>`_).

Two branches on the same input: the position attention module (PAM, a key/query/value attention
over pixels) and the channel attention module (CAM, attention between channels). Each has its
own classifier (``pam_conv_seg``, ``cam_conv_seg``), and ``conv_seg`` classifies their sum. The
forward pass returns the three logits ``(pam_cam, pam, cam)``; inference uses ``pam_cam``, and
training has one loss set per output under MMSeg 0.x's names ``pam_cam.loss_ce``,
``pam.loss_ce``, ``cam.loss_ce`` (with their ``acc_seg``).
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS
from ..layers import ConvModule
from ..layers.scale import Scale
from ..layers.self_attention_block import SelfAttentionBlock
from .decode_head import BaseDecodeHead, Inputs

OUTPUTS = ("pam_cam", "pam", "cam")


class PAM(SelfAttentionBlock):
    """Position attention: plain 1x1 key/query/value convs, unscaled softmax over pixels, and
    a residual ``gamma * context + x`` (``gamma`` starts at 0).

    Args:
        in_channels: channels of the input, the value and the output.
        channels: key/query channels.

    Shape:
        (N, in_channels, H, W) -> (N, in_channels, H, W).
    """

    def __init__(self, in_channels: int, channels: int):
        super().__init__(key_in_channels=in_channels, query_in_channels=in_channels,
                         channels=channels, out_channels=in_channels, share_key_query=False,
                         query_downsample=None, key_downsample=None, key_query_num_convs=1,
                         value_out_num_convs=1, key_query_norm=False, value_out_norm=False,
                         matmul_norm=False, with_out=False, conv_cfg=None, norm_cfg=None,
                         act_cfg=None)
        self.gamma = Scale(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.gamma(super().forward(x, x)) + x


class CAM(nn.Module):
    """Channel attention: softmax over channels of ``max(energy) - energy`` with the Gram
    matrix ``energy = X X^T`` (X: channels x pixels), then ``gamma * attention X + x``.

    Shape:
        (N, C, H, W) -> (N, C, H, W).
    """

    def __init__(self):
        super().__init__()
        self.gamma = Scale(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(2)  # (N, C, HW)
        energy = torch.bmm(flat, flat.transpose(1, 2))  # (N, C, C)
        energy = energy.max(dim=-1, keepdim=True)[0].expand_as(energy) - energy
        out = torch.bmm(F.softmax(energy, dim=-1), flat).view_as(x)
        return self.gamma(out) + x


@MODELS.register_module()
class DAHead(BaseDecodeHead):
    """DANet head: 3x3 in-conv, PAM or CAM, 3x3 out-conv per branch; three classifiers.

    Args:
        pam_channels: key/query channels of the PAM.
        **kwargs: :class:`BaseDecodeHead` keys (``loss_decode`` applies to each output).

    Shape:
        inputs[in_index] (N, in_channels, h, w) -> forward: three logits (N, out_channels, h, w)
        (pam_cam, pam, cam); forward_test: the pam_cam logits.
    """

    def __init__(self, pam_channels: int, **kwargs):
        super().__init__(**kwargs)
        self.pam_channels = pam_channels
        c = self.channels
        self.pam_in_conv = ConvModule(self.in_channels, c, 3, padding=1, **self.conv_args)
        self.pam = PAM(c, pam_channels)
        self.pam_out_conv = ConvModule(c, c, 3, padding=1, **self.conv_args)
        self.pam_conv_seg = nn.Conv2d(c, self.out_channels, kernel_size=1)
        self.cam_in_conv = ConvModule(self.in_channels, c, 3, padding=1, **self.conv_args)
        self.cam = CAM()
        self.cam_out_conv = ConvModule(c, c, 3, padding=1, **self.conv_args)
        self.cam_conv_seg = nn.Conv2d(c, self.out_channels, kernel_size=1)

    def _classify(self, conv_seg: nn.Conv2d, feat: torch.Tensor) -> torch.Tensor:
        if self.dropout is not None:
            feat = self.dropout(feat)
        return conv_seg(feat)

    def pam_cls_seg(self, feat: torch.Tensor) -> torch.Tensor:
        """Dropout then ``pam_conv_seg``."""
        return self._classify(self.pam_conv_seg, feat)

    def cam_cls_seg(self, feat: torch.Tensor) -> torch.Tensor:
        """Dropout then ``cam_conv_seg``."""
        return self._classify(self.cam_conv_seg, feat)

    def forward(self, inputs: Inputs) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self._transform_inputs(inputs)
        pam_feat = self.pam_out_conv(self.pam(self.pam_in_conv(x)))
        cam_feat = self.cam_out_conv(self.cam(self.cam_in_conv(x)))
        return (self.cls_seg(pam_feat + cam_feat), self.pam_cls_seg(pam_feat),
                self.cam_cls_seg(cam_feat))

    def forward_test(self, inputs: Inputs, img_metas: List[dict],
                     test_cfg: Optional[Mapping]) -> torch.Tensor:
        """The ``pam_cam`` logits (N, out_channels, h, w)."""
        return self(inputs)[0]

    @property
    def loss_names(self) -> List[str]:
        names = super().loss_names
        return [f"{out}.{name}" for out in OUTPUTS for name in names]

    def losses(self, seg_logit: Tuple[torch.Tensor, ...],  # type: ignore[override]
               seg_label: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``pam_cam.*``, ``pam.*``, ``cam.*``: the base losses of each of the three logits."""
        loss: Dict[str, torch.Tensor] = {}
        for out, logit in zip(OUTPUTS, seg_logit):
            terms = super().losses(logit, seg_label)
            loss.update({f"{out}.{k}": v for k, v in terms.items()})
        return loss
