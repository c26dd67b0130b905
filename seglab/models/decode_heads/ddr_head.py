"""``DDRHead``: DDRNet's decode head with its auxiliary spatial-branch head (MMSeg 1.x).

Same keys, module names and arithmetic as MMSegmentation 1.x's ``DDRHead`` (a 1.x-only model).
It reads :class:`~seglab.models.backbones.DDRNet`'s two outputs: ``head`` + ``conv_seg`` classify
the final map (index 1; the prediction), and while training ``aux_head`` + ``aux_cls_seg`` also
classify the spatial branch after stage 3 (index 0, ``in_channels // 2`` channels). The two are
trained with ``loss_decode[0]`` (``loss_context``) and ``loss_decode[1]`` (``loss_spatial``).
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS, current_build_path
from ..layers import ConvModule, build_activation_layer, build_norm_layer, initialize, resize
from ..layers.weight_init import CONV_NORM_INIT
from ..losses import accuracy
from .decode_head import BaseDecodeHead, InputSpec, Inputs

BN = dict(type="BN")
RELU = dict(type="ReLU", inplace=True)
# The OHEM cross-entropy pair of MMSeg's DDRNet configs (without their Cityscapes class weights).
DDR_LOSSES = (dict(type="OhemCrossEntropy", thres=0.9, min_kept=131072, loss_weight=1.0),
              dict(type="OhemCrossEntropy", thres=0.9, min_kept=131072, loss_weight=0.4))


def pre_act_head(in_channels: int, channels: int, norm_cfg: Optional[Mapping],
                 act_cfg: Optional[Mapping]) -> List[nn.Module]:
    """``[ConvModule(norm, act, 3x3 conv), norm, act]``: DDRHead's and PIDHead's feature head."""
    return [ConvModule(in_channels, channels, 3, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg,
                       order=("norm", "act", "conv")),
            build_norm_layer(norm_cfg, channels)[1], build_activation_layer(act_cfg)]


def check_loss_list(head: BaseDecodeHead, count: int, roles: str) -> None:
    """A ConfigError unless ``loss_decode`` is a list of ``count`` losses (their ``roles``) and
    no ``sampler`` is set (these heads call each loss on its own branch, as MMSeg, which
    ignores a sampler here)."""
    path = current_build_path()
    where = f"{path + ': ' if path else ''}{type(head).__name__}"
    if not isinstance(head.loss_decode, nn.ModuleList) or len(head.loss_decode) != count:
        got = (f"{len(head.loss_decode)} losses" if isinstance(head.loss_decode, nn.ModuleList)
               else "one loss dict")
        raise ConfigError(f"{where} needs loss_decode as a list of {count} loss dicts ({roles}), "
                          f"got {got}.")
    if head.sampler is not None:
        raise ConfigError(f"{where} uses no pixel sampler; remove sampler (OhemCrossEntropy in "
                          f"loss_decode selects hard pixels).")


def resize_to(logit: torch.Tensor, label: torch.Tensor, align_corners: bool) -> torch.Tensor:
    """Bilinear resize of (N, C, h, w) logits to the (N, 1, H, W) label's size."""
    return resize(logit, size=label.shape[2:], mode="bilinear", align_corners=align_corners)


@MODELS.register_module()
class DDRHead(BaseDecodeHead, fixed_keys=("in_index", "input_transform")):
    """Decode head of DDRNet.

    Args:
        in_channels: channels of the final map (the spatial map has half).
        channels: channels of both feature heads.
        num_classes: number of classes.
        norm_cfg: norm of the feature heads.
        act_cfg: activation of the feature heads.
        loss_decode: two losses, of the final map and of the spatial map (default: the OHEM
            pair of MMSeg's configs).
        **kwargs: :class:`BaseDecodeHead` keys (``dropout_ratio``, ``align_corners``, ...).

    Shape:
        inputs ``((N, in/2, h, w), (N, in, h, w))`` -> logits (N, out_channels, h, w); while
        training the pair (final, spatial) of logits.
    """

    def __init__(self, in_channels: int, channels: int, num_classes: int,
                 norm_cfg: Optional[Mapping] = BN, act_cfg: Optional[Mapping] = RELU,
                 loss_decode: Sequence[Mapping] = DDR_LOSSES, **kwargs):
        super().__init__(in_channels, channels, num_classes=num_classes, norm_cfg=norm_cfg,
                         act_cfg=act_cfg, in_index=1, loss_decode=loss_decode, **kwargs)
        check_loss_list(self, 2, "final map, spatial branch")
        self.head = nn.Sequential(*pre_act_head(in_channels, channels, norm_cfg, act_cfg))
        self.aux_head = nn.Sequential(*pre_act_head(in_channels // 2, channels, norm_cfg,
                                                    act_cfg))
        self.aux_cls_seg = nn.Conv2d(channels, self.out_channels, kernel_size=1)

    def input_specs(self) -> List[InputSpec]:
        """The final map: output 1 with ``in_channels`` (the spatial map, output 0, has half)."""
        return [InputSpec("in_channels", self.in_channels, 1, None)]

    @property
    def loss_names(self) -> List[str]:
        return ["loss_context", "loss_spatial"]

    def init_weights(self) -> None:
        """MMSeg's: Kaiming (fan_out) convs, unit norms (biases 0)."""
        initialize(self, CONV_NORM_INIT)

    def forward_test(self, inputs: Inputs, img_metas: List[dict],
                     test_cfg: Optional[Mapping]) -> torch.Tensor:
        """Logits of the final map (N, out_channels, h, w), in either mode."""
        return self.cls_seg(self.head(inputs[1]))

    def forward_branches(self, inputs: Inputs) -> Tuple[torch.Tensor, torch.Tensor]:
        """(final, spatial) logits, both at the maps' 1/8."""
        return (self.forward_test(inputs, [], None),
                self.aux_cls_seg(self.aux_head(inputs[0])))

    def forward(self, inputs: Inputs):
        """Training: the (final, spatial) logits; eval: the final logits (as MMSeg)."""
        if self.training:
            return self.forward_branches(inputs)
        return self.forward_test(inputs, [], None)

    def forward_train(self, inputs: Inputs, img_metas: List[dict], gt_semantic_seg: torch.Tensor,
                      train_cfg: Optional[Mapping]) -> Dict[str, torch.Tensor]:
        return self.losses(self.forward_branches(inputs), gt_semantic_seg)

    def losses(self, seg_logits: Sequence[torch.Tensor],  # type: ignore[override]
               seg_label: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``loss_context``, ``loss_spatial`` (their modules' weights included) and ``acc_seg``.

        Args:
            seg_logits: (final, spatial) logits (N, C, h, w), resized to the label size.
            seg_label: (N, 1, H, W) int64 labels.
        """
        context, spatial = (resize_to(x, seg_label, self.align_corners) for x in seg_logits)
        label = seg_label.squeeze(1)
        return dict(loss_context=self.loss_decode[0](context, label),
                    loss_spatial=self.loss_decode[1](spatial, label),
                    acc_seg=accuracy(context, label, ignore_index=self.ignore_index))
