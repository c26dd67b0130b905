"""``BaseDecodeHead``: what every decode head shares (input selection, classifier, losses).

Keys and behaviour of MMSegmentation 0.x's ``BaseDecodeHead``: ``in_index``/``input_transform``
select backbone levels, ``cls_seg`` applies ``Dropout2d(dropout_ratio)`` then the 1x1 ``conv_seg``,
and ``losses`` resizes the logits to the label size and sums each ``loss_decode`` entry under its
``loss_name`` (the loss modules already include their ``loss_weight``).

What every head repeats lives here, so a head file holds only its own layers: the default
``forward`` (``cls_seg(_forward_feature(inputs))``), ``conv_args`` for its ConvModules, the
merged constructor signature (``__init_subclass__``; the registry rejects typos with the accepted
keys) and :meth:`BaseDecodeHead.input_specs`, which the segmentor checks against the backbone.
"""
from __future__ import annotations

import warnings
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import current_build_path
from ..builder import build_loss, build_pixel_sampler
from ..layers import initialize, resize
from ..layers.weight_init import InitCfg
from ..losses import CrossEntropyLoss, accuracy
from ..signature import publish_signature

Inputs = Union[Sequence[torch.Tensor], torch.Tensor]


class InputSpec(NamedTuple):
    """Which producer (backbone or neck) outputs a head reads, and the channels it expects.

    Attributes:
        key: config key of the channels (``'in_channels'``, ``'c1_in_channels'``).
        channels: its value, an int or a tuple (one entry per selected output).
        index: the selected output(s), shaped like ``channels``.
        index_key: config key of ``index`` (``'in_index'``), or None when the head fixes it.
    """

    key: str
    channels: Union[int, Tuple[int, ...]]
    index: Union[int, Tuple[int, ...]]
    index_key: Optional[str] = "in_index"


def _where() -> str:
    path = current_build_path()
    return f"{path}: " if path else ""


class BaseDecodeHead(nn.Module):
    """Base of decode heads. Subclasses implement ``_forward_feature(inputs) -> features``.

    A subclass takes its own keys and forwards the rest with ``**kwargs``; keys it sets itself
    are listed in the class statement (``class UPerHead(BaseDecodeHead,
    fixed_keys=("input_transform",))``) and are then not accepted from configs.

    Args:
        in_channels: channels of the selected input (a list with ``input_transform``).
        channels: channels before ``conv_seg``.
        num_classes: number of classes.
        out_channels: ``conv_seg`` outputs; None = ``num_classes``; 1 for binary segmentation
            with a sigmoid (``num_classes=2``).
        threshold: probability threshold of the binary (``out_channels=1``) prediction.
        dropout_ratio: ``Dropout2d`` probability before ``conv_seg`` (0 disables it).
        conv_cfg: conv type of the head's ConvModules.
        norm_cfg: norm of the head's ConvModules.
        act_cfg: activation of the head's ConvModules.
        in_index: which backbone output(s) to use.
        input_transform: None (one level), ``'resize_concat'`` (resize all selected levels to the
            first one's size and concatenate) or ``'multiple_select'`` (a list of levels).
        loss_decode: one loss dict or a list; entries with the same ``loss_name`` are summed.
        ignore_index: label value ignored by losses and accuracy.
        sampler: pixel sampler dict (e.g. ``OHEMPixelSampler``) or None.
        align_corners: ``align_corners`` of every bilinear resize of this head.
        init_cfg: init of :meth:`init_weights`; default N(0, 0.01) for ``conv_seg``.
    """

    # Label maps besides gt_semantic_seg that forward_train takes as keywords (PIDHead:
    # 'gt_edge_map'); the segmentor passes those of the training batch to the heads naming them.
    extra_gt_keys: Tuple[str, ...] = ()
    # The lean loss (one softmax CrossEntropyLoss resizing inside itself, keeping no
    # full-resolution log-probabilities for backward; bit-identical): True, False, or None =
    # on CUDA only, where memory bounds the batch. benchmarks/lean_loss.py: an FCN R18-D8 step's
    # peak memory 0.98x (19 classes: the convolutions' buffers set it) / 0.81x (150 classes),
    # the recomputation costing up to 10% of the step's time on a 2-core CPU (noisy).
    lean_loss: Optional[bool] = None

    def __init_subclass__(cls, fixed_keys: Sequence[str] = (), **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        publish_signature(cls, exclude=fixed_keys)

    def __init__(self, in_channels: Union[int, Sequence[int]], channels: int, *,
                 num_classes: int, out_channels: Optional[int] = None,
                 threshold: Optional[float] = None, dropout_ratio: float = 0.1,
                 conv_cfg: Optional[Mapping] = None, norm_cfg: Optional[Mapping] = None,
                 act_cfg: Optional[Mapping] = dict(type="ReLU"),
                 in_index: Union[int, Sequence[int]] = -1, input_transform: Optional[str] = None,
                 loss_decode: Union[Mapping, Sequence[Mapping]] = dict(
                     type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
                 ignore_index: int = 255, sampler: Optional[Mapping] = None,
                 align_corners: bool = False,
                 init_cfg: InitCfg = dict(type="Normal", std=0.01, override=dict(name="conv_seg"))):
        super().__init__()
        self._init_inputs(in_channels, in_index, input_transform)
        self.channels = channels
        self.dropout_ratio = dropout_ratio
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        self.ignore_index = ignore_index
        self.align_corners = align_corners
        self.init_cfg = init_cfg

        if out_channels is None:
            if num_classes == 2:
                warnings.warn("For binary segmentation, we suggest out_channels=1 (one sigmoid "
                              "output) with a threshold to turn it into a prediction.")
            out_channels = num_classes
        if out_channels != num_classes and out_channels != 1:
            raise ConfigError(f"{_where()}out_channels={out_channels} must equal num_classes="
                              f"{num_classes}, or be 1 for binary segmentation (num_classes=2).")
        if out_channels == 1 and threshold is None:
            threshold = 0.3
            warnings.warn("threshold is not set for binary segmentation (out_channels=1); using 0.3")
        self.num_classes, self.out_channels, self.threshold = num_classes, out_channels, threshold

        if isinstance(loss_decode, Mapping):
            self.loss_decode = build_loss(loss_decode)
        elif isinstance(loss_decode, (list, tuple)):
            self.loss_decode = nn.ModuleList(
                build_loss(cfg, key=f"loss_decode[{i}]") for i, cfg in enumerate(loss_decode))
        else:
            raise ConfigError(f"{_where()}loss_decode must be a dict or a list of dicts, got "
                              f"{type(loss_decode).__name__}")
        self.sampler = build_pixel_sampler(sampler, context=self) if sampler is not None else None
        self.conv_seg = nn.Conv2d(channels, self.out_channels, kernel_size=1)
        self.dropout = nn.Dropout2d(dropout_ratio) if dropout_ratio > 0 else None

    def _init_inputs(self, in_channels, in_index, input_transform: Optional[str]) -> None:
        if input_transform not in (None, "resize_concat", "multiple_select"):
            raise ConfigError(f"{_where()}input_transform={input_transform!r} must be None, "
                              f"'resize_concat' or 'multiple_select'.")
        self.input_transform, self.in_index = input_transform, in_index
        if input_transform is None:
            if not isinstance(in_channels, int) or not isinstance(in_index, int):
                raise ConfigError(
                    f"{_where()}with input_transform=None, in_channels and in_index must be ints, "
                    f"got in_channels={in_channels!r}, in_index={in_index!r}; set input_transform="
                    f"'resize_concat' or 'multiple_select' to use several levels.")
            self.in_channels = in_channels
            self._input_spec = InputSpec("in_channels", in_channels, in_index)
            return
        if not isinstance(in_channels, (list, tuple)) or not isinstance(in_index, (list, tuple)) \
                or len(in_channels) != len(in_index):
            raise ConfigError(f"{_where()}with input_transform={input_transform!r}, in_channels and "
                              f"in_index must be lists of the same length, got "
                              f"in_channels={in_channels!r}, in_index={in_index!r}.")
        self.in_channels = sum(in_channels) if input_transform == "resize_concat" else in_channels
        self.in_index = list(in_index)
        self._input_spec = InputSpec("in_channels", tuple(in_channels), tuple(in_index))

    @property
    def conv_args(self) -> Dict[str, Optional[Mapping]]:
        """``conv_cfg``, ``norm_cfg`` and ``act_cfg`` of the head's ConvModules."""
        return dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)

    def input_specs(self) -> List[InputSpec]:
        """The producer outputs this head reads; heads with more inputs (``c1``) extend it."""
        return [self._input_spec]

    def _loss_modules(self) -> List[nn.Module]:
        if isinstance(self.loss_decode, nn.ModuleList):
            return list(self.loss_decode)
        return [self.loss_decode]

    @property
    def loss_names(self) -> List[str]:
        """Keys of this head's loss terms in :meth:`losses` (accuracies are not among them)."""
        return list(dict.fromkeys(m.loss_name for m in self._loss_modules()))

    def extra_repr(self) -> str:
        return (f"input_transform={self.input_transform}, ignore_index={self.ignore_index}, "
                f"align_corners={self.align_corners}")

    def init_weights(self) -> None:
        """Apply ``init_cfg`` (by default ``conv_seg`` ~ N(0, 0.01), bias 0)."""
        initialize(self, self.init_cfg)

    def _transform_inputs(self, inputs: Inputs) -> Union[torch.Tensor, List[torch.Tensor]]:
        """Select (and for 'resize_concat' resize and concatenate) the backbone levels."""
        if self.input_transform == "resize_concat":
            selected = [inputs[i] for i in self.in_index]
            size = selected[0].shape[2:]
            return torch.cat([resize(x, size=size, mode="bilinear", align_corners=self.align_corners)
                              for x in selected], dim=1)
        if self.input_transform == "multiple_select":
            return [inputs[i] for i in self.in_index]
        return inputs[self.in_index]

    def cls_seg(self, feat: torch.Tensor) -> torch.Tensor:
        """Dropout2d then ``conv_seg``: (N, channels, h, w) -> (N, out_channels, h, w)."""
        if self.dropout is not None:
            feat = self.dropout(feat)
        return self.conv_seg(feat)

    def _forward_feature(self, inputs: Inputs) -> torch.Tensor:
        """Features before :meth:`cls_seg`: (N, channels, h, w). Each head implements it."""
        raise NotImplementedError(f"{type(self).__name__} must implement _forward_feature")

    def forward(self, inputs: Inputs) -> torch.Tensor:
        """Args: inputs: backbone (or neck) outputs. Returns: logits (N, out_channels, h, w)."""
        return self.cls_seg(self._forward_feature(inputs))

    def forward_train(self, inputs: Inputs, img_metas: List[dict], gt_semantic_seg: torch.Tensor,
                      train_cfg: Optional[Mapping]) -> Dict[str, torch.Tensor]:
        """Logits then :meth:`losses`; ``gt_semantic_seg`` is (N, 1, H, W) int64."""
        return self.losses(self(inputs), gt_semantic_seg)

    def forward_test(self, inputs: Inputs, img_metas: List[dict],
                     test_cfg: Optional[Mapping]) -> torch.Tensor:
        """Logits (N, out_channels, h, w) at the head's resolution."""
        return self(inputs)

    def losses(self, seg_logit: torch.Tensor, seg_label: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Loss terms and ``acc_seg``.

        Args:
            seg_logit: (N, out_channels, h, w) logits; resized bilinearly to the label size.
            seg_label: (N, 1, H, W) int64 labels.

        Returns:
            ``{loss_name: weighted loss, ..., 'acc_seg': accuracy in percent}``.
        """
        lean = self._lean_loss_module(seg_logit)
        loss: Dict[str, torch.Tensor] = {}
        if lean is not None:
            # One softmax cross-entropy: resize inside the loss, which keeps no full-resolution
            # map for backward (bit-identical; see CrossEntropyLoss.forward_resized).
            seg_label = seg_label.squeeze(1)
            loss[lean.loss_name], seg_logit = lean.forward_resized(
                seg_logit, seg_label, self.align_corners, ignore_index=self.ignore_index)
        else:
            seg_logit = resize(seg_logit, size=seg_label.shape[2:], mode="bilinear",
                               align_corners=self.align_corners)
            seg_weight = (self.sampler.sample(seg_logit, seg_label) if self.sampler is not None
                          else None)
            seg_label = seg_label.squeeze(1)
            for module in self._loss_modules():
                value = module(seg_logit, seg_label, weight=seg_weight,
                               ignore_index=self.ignore_index)
                name = module.loss_name
                loss[name] = loss[name] + value if name in loss else value
        loss["acc_seg"] = accuracy(seg_logit, seg_label, ignore_index=self.ignore_index)
        return loss

    def _lean_loss_module(self, seg_logit: torch.Tensor) -> Optional[nn.Module]:
        """The head's one softmax CrossEntropyLoss when the lean resized loss applies, else None.

        It applies when :attr:`lean_loss` says so, a gradient will flow (otherwise nothing is
        kept anyway), there is no pixel sampler (it reads the resized logits) and the only loss
        is a plain ``CrossEntropyLoss`` (a subclass may change ``forward``).
        """
        lean = self.lean_loss if self.lean_loss is not None else seg_logit.is_cuda
        modules = self._loss_modules()
        if (not lean or len(modules) != 1 or self.sampler is not None
                or not (torch.is_grad_enabled() and seg_logit.requires_grad)):
            return None
        module = modules[0]
        if type(module) is not CrossEntropyLoss or not module.takes_resized_logits:
            return None
        return module
