"""``CascadeEncoderDecoder``: decode heads in a chain, each refining the previous one's logits.

MMSegmentation 0.x's segmentor of OCRNet (FCNHead -> OCRHead) and PointRend (FPNHead ->
PointHead). ``decode_head`` is a list of ``num_stages`` head configs.

The ``prev_output`` contract, for a head used at stage ``i >= 1``:

* ``forward_test(inputs, prev_output, img_metas, test_cfg) -> logits`` and
  ``forward_train(inputs, prev_output, img_metas, gt_semantic_seg, train_cfg) -> losses``;
* ``inputs`` are the backbone (or neck) outputs, the same tuple every stage receives;
* ``prev_output`` is stage ``i - 1``'s ``forward_test`` output: logits
  (N, num_classes, h, w) at that head's own resolution, not resized (and, while training,
  computed in train mode, so batch norms use batch statistics);
* stage 0 is an ordinary head: ``forward_test(inputs, img_metas, test_cfg)``.

The last stage's logits are resized to the image (its ``align_corners``); its ``num_classes``,
``out_channels`` and ``threshold`` are the segmentor's. Losses are prefixed ``decode_0.``,
``decode_1.``... (``aux.`` for auxiliary heads), as in MMSeg.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS
from ..builder import build_head
from .encoder_decoder import EncoderDecoder, Metas


@MODELS.register_module()
class CascadeEncoderDecoder(EncoderDecoder):
    """Encoder-decoder whose decode heads are cascaded (see the module doc for ``prev_output``).

    Args:
        num_stages: number of decode heads.
        backbone: backbone config.
        decode_head: list of ``num_stages`` head configs; heads after the first take
            ``prev_output``.
        neck: neck config or None.
        auxiliary_head: one head config, a list of them, or None (training only).
        train_cfg: training options (passed to the heads).
        test_cfg: inference options, as :class:`EncoderDecoder`'s.
        pretrained: backbone checkpoint, loaded by :meth:`init_weights`.
        init_cfg: accepted for config compatibility.
    """

    def __init__(self, num_stages: int, backbone: Mapping, decode_head: Sequence[Mapping],
                 neck: Optional[Mapping] = None,
                 auxiliary_head: Union[Mapping, Sequence[Mapping], None] = None,
                 train_cfg: Optional[Mapping] = None, test_cfg: Optional[Mapping] = None,
                 pretrained: Optional[str] = None, init_cfg: Optional[Mapping] = None):
        if not isinstance(num_stages, int) or num_stages < 1:
            raise ConfigError(f"model.num_stages = {num_stages!r} must be an int >= 1 (one per "
                              f"entry of model.decode_head).")
        self.num_stages = num_stages  # nn.Module allows plain attributes before __init__
        super().__init__(backbone=backbone, decode_head=decode_head, neck=neck,
                         auxiliary_head=auxiliary_head, train_cfg=train_cfg, test_cfg=test_cfg,
                         pretrained=pretrained, init_cfg=init_cfg)

    def _init_decode_head(self, decode_head: Sequence[Mapping]) -> None:
        """One head per stage; align_corners, num_classes and out_channels are the last one's."""
        if isinstance(decode_head, Mapping) or not isinstance(decode_head, (list, tuple)) \
                or len(decode_head) != self.num_stages:
            got = (f"a list of {len(decode_head)}" if isinstance(decode_head, (list, tuple))
                   else "a single head config" if isinstance(decode_head, Mapping)
                   else repr(decode_head))
            raise ConfigError(f"CascadeEncoderDecoder needs model.decode_head as a list of "
                              f"num_stages={self.num_stages} head configs, got {got}; set "
                              f"model.num_stages to the number of heads.")
        self.decode_head = nn.ModuleList(build_head(cfg, key=f"decode_head[{i}]")
                                         for i, cfg in enumerate(decode_head))
        last = self.decode_head[-1]
        self.align_corners, self.num_classes = last.align_corners, last.num_classes
        self.out_channels = last.out_channels

    def _decode_stages(self) -> List[Tuple[str, str, nn.Module]]:
        return [(f"decode_head[{i}]", f"decode_{i}", head)
                for i, head in enumerate(self.decode_head)]

    def head_logits(self, img: torch.Tensor, img_metas: Optional[Metas] = None) -> torch.Tensor:
        """The last stage's logits (N, out_channels, h, w) at its own resolution, float32."""
        x = self.extract_feat(img)
        out = self.decode_head[0].forward_test(x, img_metas, self.test_cfg)
        for head in self.decode_head[1:]:
            out = head.forward_test(x, out, img_metas, self.test_cfg)
        return out.float()

    def _decode_head_forward_train(self, x, img_metas: Metas,
                                   gt_semantic_seg: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Each stage's losses under ``decode_<i>.``; stage i > 0 gets stage i - 1's logits."""
        first = self.decode_head[0]
        losses = {f"decode_0.{k}": v for k, v in
                  first.forward_train(x, img_metas, gt_semantic_seg, self.train_cfg).items()}
        prev = None
        for i in range(1, self.num_stages):
            # As MMSeg: the previous stage runs again through forward_test (still in train mode).
            if i == 1:
                prev = first.forward_test(x, img_metas, self.test_cfg)
            else:
                prev = self.decode_head[i - 1].forward_test(x, prev, img_metas, self.test_cfg)
            stage = self.decode_head[i].forward_train(x, prev, img_metas, gt_semantic_seg,
                                                      self.train_cfg)
            losses.update({f"decode_{i}.{k}": v for k, v in stage.items()})
        return losses
