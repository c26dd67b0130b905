"""``DepthwiseSeparableFCNHead``: FCNHead with depthwise separable convs (`Fast-SCNN
<https://arxiv.org/abs/1902.04502>`_), as MMSegmentation 0.x's."""
from __future__ import annotations

from typing import Mapping, Optional

from ...registry import MODELS
from ..layers import DepthwiseSeparableConvModule
from .fcn_head import FCNHead


@MODELS.register_module()
class DepthwiseSeparableFCNHead(FCNHead):
    """:class:`FCNHead` whose ``convs`` and ``conv_cat`` are :class:`DepthwiseSeparableConvModule`.

    As in MMSeg, the separable convs take the head's ``norm_cfg`` but not its ``act_cfg`` (their
    pointwise conv always ends with ReLU), and ``dilation`` is not used.

    Args:
        dw_act_cfg: activation after each depthwise conv; None (MMSeg's default) = none.
        **kwargs: :class:`FCNHead` keys.

    Shape:
        inputs[in_index] (N, in_channels, h, w) -> logits (N, out_channels, h, w).
    """

    def __init__(self, dw_act_cfg: Optional[Mapping] = None, **kwargs):
        super().__init__(**kwargs)
        args = dict(kernel_size=self.kernel_size, padding=self.kernel_size // 2,
                    norm_cfg=self.norm_cfg, dw_act_cfg=dw_act_cfg)
        for i in range(self.num_convs):
            in_channels = self.in_channels if i == 0 else self.channels
            self.convs[i] = DepthwiseSeparableConvModule(in_channels, self.channels, **args)
        if self.concat_input:
            self.conv_cat = DepthwiseSeparableConvModule(self.in_channels + self.channels,
                                                         self.channels, **args)
