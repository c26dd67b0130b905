"""K-Net (`K-Net <https://arxiv.org/abs/2106.14855>`_): dynamic class kernels refined in stages.

``IterativeDecodeHead`` wraps an ordinary decode head (the ``kernel_generate_head``, e.g. UPerHead):
its logits are stage 0 and its ``conv_seg`` weights (num_classes, channels, 1, 1) the first class
kernels. Each ``KernelUpdateHead`` softmax-weights the features by the previous masks into one
feature per class, gates it into the kernels (``KernelUpdator``), lets the kernels attend to each
other (MultiheadAttention + LN, FFN + LN), and turns them into the conv kernels of the next masks.

Training sums the generating head's losses of every stage under ``<name>.s<i>`` (``decode.loss_ce.
s0`` ... ``s3`` for three updates); testing returns the last stage. State-dict keys are MMSeg's
(``kernel_update_head.0.attention.attn.in_proj_weight``, ``...kernel_update_conv.dynamic_layer.
weight``). The two parts are built through the small registries below (MMSeg keeps them in HEADS
and mmcv's TRANSFORMER_LAYER), so a wrong ``type`` lists what is available.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...registry import MODELS, Registry, build_from_cfg, check_keys, current_build_path
from ..builder import build_head
from ..layers import (FFN, ConvModule, MultiheadAttention, build_activation_layer,
                      build_norm_layer)
from .decode_head import BaseDecodeHead, InputSpec, Inputs

TRANSFORMER_LAYERS = Registry("transformer layer")
KERNEL_UPDATE_HEADS = Registry("kernel update head")
_LN = dict(type="LN")
_RELU = dict(type="ReLU", inplace=True)


def _key(key: str) -> str:
    """The config path of ``key`` of the dict being built (``'model.decode_head.num_stages'``)."""
    path = current_build_path()
    return f"{path}.{key}" if path else key


@TRANSFORMER_LAYERS.register_module()
class KernelUpdator(nn.Module):
    """Gated update of the kernels by their assembled features (Eq. 4-5 of the paper).

    The inputs are read in groups of ``in_channels``: a head with 512 channels and an updator
    with 256 updates two 256-wide halves of every kernel independently (MMSeg's configs).

    Args:
        in_channels: width of one group of the assembled features and of the kernels.
        feat_channels: width of the gates; must equal ``in_channels`` (the kernels are read in
            ``feat_channels``-wide groups and fed to ``input_layer``, which takes ``in_channels``).
        out_channels: output width of a group; None = ``in_channels``.
        gate_sigmoid: squash both gates with a sigmoid.
        gate_norm_act: norm + activation on the gate features (``gate_norm``).
        activate_out: activation on both gated terms.
        norm_cfg: norm of every LN here.
        act_cfg: activation.

    Shape:
        update_feature (..., in_channels) with G groups in all, input_feature with G * k*k
        groups -> (G, k*k, out_channels).
    """

    def __init__(self, in_channels: int = 256, feat_channels: int = 64,
                 out_channels: Optional[int] = None, gate_sigmoid: bool = True,
                 gate_norm_act: bool = False, activate_out: bool = False,
                 norm_cfg: Mapping = _LN, act_cfg: Mapping = _RELU):
        super().__init__()
        if feat_channels != in_channels:
            raise ConfigError(
                f"{_key('feat_channels')} = {feat_channels} must equal in_channels "
                f"({in_channels}): the kernels are read in feat_channels-wide groups "
                f"and projected by input_layer, which takes in_channels inputs.")
        self.in_channels, self.feat_channels = in_channels, feat_channels
        self.out_channels = out_channels if out_channels else in_channels
        self.gate_sigmoid, self.gate_norm_act = gate_sigmoid, gate_norm_act
        self.activate_out = activate_out
        self.num_params_in = self.num_params_out = feat_channels
        both = self.num_params_in + self.num_params_out
        self.dynamic_layer = nn.Linear(in_channels, both)
        self.input_layer = nn.Linear(in_channels, both)
        self.input_gate = nn.Linear(in_channels, feat_channels)
        self.update_gate = nn.Linear(in_channels, feat_channels)
        if gate_norm_act:
            self.gate_norm = build_norm_layer(norm_cfg, feat_channels)[1]
        self.norm_in = build_norm_layer(norm_cfg, feat_channels)[1]
        self.norm_out = build_norm_layer(norm_cfg, feat_channels)[1]
        self.input_norm_in = build_norm_layer(norm_cfg, feat_channels)[1]
        self.input_norm_out = build_norm_layer(norm_cfg, feat_channels)[1]
        self.activation = build_activation_layer(act_cfg)
        self.fc_layer = nn.Linear(feat_channels, self.out_channels)
        self.fc_norm = build_norm_layer(norm_cfg, self.out_channels)[1]

    def forward(self, update_feature: torch.Tensor, input_feature: torch.Tensor) -> torch.Tensor:
        """Args: update_feature: assembled class features (B, P, C); input_feature: the kernels
        (B, P, k*k, C). Returns: the updated kernels (B * P * C / in_channels, k*k, out)."""
        update = update_feature.reshape(-1, self.in_channels)
        groups = update.size(0)
        params = self.dynamic_layer(update)
        param_in = params[:, :self.num_params_in]
        param_out = params[:, -self.num_params_out:]
        inputs = self.input_layer(input_feature.reshape(groups, -1, self.feat_channels))
        input_in = inputs[..., :self.num_params_in]
        input_out = inputs[..., -self.num_params_out:]

        gate_feats = input_in * param_in.unsqueeze(-2)
        if self.gate_norm_act:
            gate_feats = self.activation(self.gate_norm(gate_feats))
        input_gate = self.input_norm_in(self.input_gate(gate_feats))
        update_gate = self.norm_in(self.update_gate(gate_feats))
        if self.gate_sigmoid:
            input_gate, update_gate = input_gate.sigmoid(), update_gate.sigmoid()
        param_out = self.norm_out(param_out)
        input_out = self.input_norm_out(input_out)
        if self.activate_out:
            param_out, input_out = self.activation(param_out), self.activation(input_out)
        features = update_gate * param_out.unsqueeze(-2) + input_gate * input_out
        return self.activation(self.fc_norm(self.fc_layer(features)))


@KERNEL_UPDATE_HEADS.register_module()
class KernelUpdateHead(nn.Module):
    """One K-Net stage: update the class kernels from the features and predict new masks.

    Args:
        num_classes: number of kernels (classes).
        num_ffn_fcs: Linear layers of the FFN.
        num_heads: heads of the kernel-to-kernel attention.
        num_mask_fcs: Linear(no bias) + LN + activation blocks before ``fc_mask``.
        feedforward_channels: hidden width of the FFN.
        in_channels: feature and kernel channels.
        out_channels: ``fc_mask`` outputs, the channels of the new conv kernels; must equal
            ``in_channels``.
        dropout: attention-weight dropout and FFN dropout.
        act_cfg: activation of ``mask_fcs``.
        ffn_act_cfg: activation of the FFN.
        conv_kernel_size: spatial size k of the kernels.
        feat_transform_cfg: ConvModule keys (and ``kernel_size``) of a conv on the features
            before everything else; None = none.
        kernel_init: :meth:`init_weights` draws ``fc_mask.weight`` ~ N(0, 0.01).
        with_ffn: apply the FFN (+ LN).
        feat_gather_stride: stride of ``feat_transform``.
        mask_transform_stride: 2 predicts the masks at half resolution, then upsamples them.
        kernel_updator_cfg: the ``KernelUpdator`` dict; its ``in_channels`` must divide
            ``in_channels`` and its ``out_channels`` must equal its ``in_channels``.

    Shape:
        x (N, in_channels, H, W), kernels (N, P, in_channels, k, k), masks (N, P, h, w) ->
        masks (N, P, H, W) and kernels (N, P, in_channels, k, k).
    """

    def __init__(self, num_classes: int = 150, num_ffn_fcs: int = 2, num_heads: int = 8,
                 num_mask_fcs: int = 3, feedforward_channels: int = 2048,
                 in_channels: int = 256, out_channels: int = 256, dropout: float = 0.0,
                 act_cfg: Mapping = _RELU, ffn_act_cfg: Mapping = _RELU,
                 conv_kernel_size: int = 1, feat_transform_cfg: Optional[Mapping] = None,
                 kernel_init: bool = False, with_ffn: bool = True, feat_gather_stride: int = 1,
                 mask_transform_stride: int = 1,
                 kernel_updator_cfg: Mapping = dict(type="KernelUpdator", in_channels=256,
                                                    feat_channels=256, out_channels=256,
                                                    act_cfg=_RELU, norm_cfg=_LN)):
        super().__init__()
        self._check(in_channels, out_channels, conv_kernel_size, mask_transform_stride)
        self.num_classes, self.in_channels, self.out_channels = (num_classes, in_channels,
                                                                 out_channels)
        self.dropout, self.num_heads = dropout, num_heads
        self.kernel_init, self.with_ffn = kernel_init, with_ffn
        self.conv_kernel_size = conv_kernel_size
        self.feat_gather_stride = feat_gather_stride
        self.mask_transform_stride = mask_transform_stride

        dims = in_channels * conv_kernel_size ** 2
        self.attention = MultiheadAttention(dims, num_heads, dropout)
        self.attention_norm = build_norm_layer(_LN, dims)[1]
        self.kernel_update_conv = build_from_cfg(kernel_updator_cfg, TRANSFORMER_LAYERS,
                                                 key="kernel_updator_cfg")
        self._check_updator(self.kernel_update_conv)
        self.feat_transform = None
        if feat_transform_cfg is not None:
            conv_args = dict(feat_transform_cfg)
            kernel_size = conv_args.pop("kernel_size", 1)
            check_keys(ConvModule, conv_args, _key("feat_transform_cfg"))
            # MMSeg pads by feat_gather_stride // 2 whatever the kernel size: kept for its weights.
            self.feat_transform = ConvModule(in_channels, in_channels, kernel_size,
                                             stride=feat_gather_stride,
                                             padding=feat_gather_stride // 2, **conv_args)
        if with_ffn:
            self.ffn = FFN(in_channels, feedforward_channels, num_ffn_fcs, act_cfg=ffn_act_cfg,
                           ffn_drop=dropout)
            self.ffn_norm = build_norm_layer(_LN, in_channels)[1]
        self.mask_fcs = nn.ModuleList()
        for _ in range(num_mask_fcs):
            self.mask_fcs.append(nn.Linear(in_channels, in_channels, bias=False))
            self.mask_fcs.append(build_norm_layer(_LN, in_channels)[1])
            self.mask_fcs.append(build_activation_layer(act_cfg))
        self.fc_mask = nn.Linear(in_channels, out_channels)

    @staticmethod
    def _check(in_channels: int, out_channels: int, kernel_size: int, mask_stride: int) -> None:
        if out_channels != in_channels:
            raise ConfigError(f"{_key('out_channels')} = {out_channels} must equal in_channels "
                              f"({in_channels}): fc_mask's outputs are conv kernels applied to "
                              f"the in_channels-channel features.")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ConfigError(f"{_key('conv_kernel_size')} = {kernel_size} must be odd and "
                              f"positive (padding k // 2 keeps the feature size).")
        if mask_stride not in (1, 2):
            raise ConfigError(f"{_key('mask_transform_stride')} = {mask_stride} must be 1 or 2.")

    def _check_updator(self, updator: nn.Module) -> None:
        width, out = getattr(updator, "in_channels", None), getattr(updator, "out_channels", None)
        if width is None:
            return
        if self.in_channels % width or out != width:
            raise ConfigError(
                f"{_key('kernel_updator_cfg')} has in_channels={width}, "
                f"out_channels={out}; in_channels must divide the head's in_channels "
                f"({self.in_channels}) and out_channels must equal in_channels, so that the "
                f"updated groups refill the kernels.")

    def init_weights(self) -> None:
        """Xavier-uniform for every weight matrix; ``kernel_init``: ``fc_mask`` ~ N(0, 0.01).

        MMSeg never reaches this from the segmentor (the heads sit in a torch ModuleList, which
        mmcv's ``init_weights`` walk skips), and neither does :class:`IterativeDecodeHead`.
        """
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        if self.kernel_init:
            nn.init.normal_(self.fc_mask.weight, mean=0.0, std=0.01)

    def forward(self, x: torch.Tensor, proposal_feat: torch.Tensor, mask_preds: torch.Tensor,
                mask_shape: Optional[Tuple[int, int]] = None
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Args: x: features (N, C, H, W); proposal_feat: kernels (N, P, C, k, k); mask_preds:
        previous masks (N, P, h, w); mask_shape: size of the returned masks (None = H, W).
        Returns: new masks (N, P, H, W) and new kernels (N, P, C, k, k)."""
        n, num = proposal_feat.shape[:2]
        k = self.conv_kernel_size
        if self.feat_transform is not None:
            x = self.feat_transform(x)
        c, h, w = x.shape[-3:]
        if mask_preds.shape[-2:] != (h, w):
            mask_preds = F.interpolate(mask_preds, (h, w), mode="bilinear", align_corners=False)
        # Group feature assembling (Eq. 3): one feature per class, softmax over the classes.
        x_feat = torch.einsum("bnhw,bchw->bnc", mask_preds.softmax(dim=1), x)

        kernels = proposal_feat.reshape(n, num, self.in_channels, -1).permute(0, 1, 3, 2)
        obj_feat = self.kernel_update_conv(x_feat, kernels).reshape(n, num, -1)
        # The kernels attend to each other: sequence = classes (MMCV's (L, N, C) layout).
        obj_feat = self.attention_norm(self.attention(obj_feat.permute(1, 0, 2)))
        obj_feat = obj_feat.permute(1, 0, 2).reshape(n, num, -1, self.in_channels)
        if self.with_ffn:
            obj_feat = self.ffn_norm(self.ffn(obj_feat))

        mask_feat = obj_feat
        for layer in self.mask_fcs:
            mask_feat = layer(mask_feat)
        mask_feat = self.fc_mask(mask_feat).permute(0, 1, 3, 2)  # (N, P, C, k*k)

        mask_x = x
        if self.mask_transform_stride == 2 and self.feat_gather_stride == 1:
            mask_x = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
            h, w = mask_x.shape[-2:]
        # Each image with its own P kernels: one grouped conv over the batch.
        weight = mask_feat.reshape(n * num, c, k, k)
        masks = F.conv2d(mask_x.reshape(1, n * c, h, w), weight, padding=k // 2, groups=n)
        masks = masks.reshape(n, num, h, w)
        if self.mask_transform_stride == 2:
            masks = F.interpolate(masks, scale_factor=2, mode="bilinear", align_corners=False)
        if mask_shape is not None and mask_shape[0] != h:
            masks = F.interpolate(masks, mask_shape, mode="bilinear", align_corners=False)
        new_kernels = obj_feat.permute(0, 1, 3, 2).reshape(n, num, self.in_channels, k, k)
        return masks, new_kernels


@MODELS.register_module()
class IterativeDecodeHead(BaseDecodeHead):
    """K-Net's decode head: a kernel-generating head, then ``num_stages`` kernel updates.

    The classifier, losses, ``in_index``, ``align_corners`` and ``ignore_index`` are the
    ``kernel_generate_head``'s (BaseDecodeHead's own keys are not taken here).

    Args:
        num_stages: number of ``KernelUpdateHead`` stages; ``len(kernel_update_head)``.
        kernel_generate_head: a decode head dict (UPerHead, FCNHead, ASPPHead, PSPHead, ...).
        kernel_update_head: a list of ``num_stages`` ``KernelUpdateHead`` dicts with
            ``in_channels`` = the generating head's ``channels``, its ``num_classes`` and
            ``conv_kernel_size=1`` (the first kernels are ``conv_seg``'s 1x1 weights).
        init_cfg: accepted for MMSeg compatibility (MMSeg sets none).

    Shape:
        inputs as the generating head's -> list of ``num_stages + 1`` logits (training) or the
        last stage's logits (evaluation), (N, num_classes, h, w).
    """

    def __init__(self, num_stages: int, kernel_generate_head: Mapping,
                 kernel_update_head: Sequence[Mapping], init_cfg: Optional[Mapping] = None):
        nn.Module.__init__(self)  # BaseDecodeHead's keys belong to kernel_generate_head
        if isinstance(kernel_update_head, Mapping) or not isinstance(kernel_update_head,
                                                                     (list, tuple)):
            raise ConfigError(f"{_key('kernel_update_head')} must be a list of num_stages dicts "
                              f"(one per stage), got "
                              f"{type(kernel_update_head).__name__}.")
        if num_stages != len(kernel_update_head):
            raise ConfigError(f"{_key('num_stages')} = {num_stages} but kernel_update_head has "
                              f"{len(kernel_update_head)} dicts; give one dict per stage.")
        self.num_stages, self.init_cfg = num_stages, init_cfg
        self.kernel_generate_head = build_head(kernel_generate_head, key="kernel_generate_head")
        gen = self.kernel_generate_head
        self._check_generator(gen)
        self.kernel_update_head = nn.ModuleList(
            build_from_cfg(cfg, KERNEL_UPDATE_HEADS, key=f"kernel_update_head[{i}]")
            for i, cfg in enumerate(kernel_update_head))
        for i, head in enumerate(self.kernel_update_head):
            self._check_stage(i, head, gen)
        for name in ("align_corners", "num_classes", "out_channels", "threshold",
                     "input_transform", "in_index", "ignore_index"):
            setattr(self, name, getattr(gen, name))

    @staticmethod
    def _check_generator(gen: nn.Module) -> None:
        where = _key("kernel_generate_head")
        if not isinstance(gen, BaseDecodeHead) or isinstance(gen, IterativeDecodeHead) or \
                type(gen)._forward_feature is BaseDecodeHead._forward_feature:
            raise ConfigError(f"{where} = {type(gen).__name__}: K-Net needs a decode head with "
                              f"_forward_feature and a 1x1 conv_seg (UPerHead, FCNHead, ASPPHead, "
                              f"PSPHead, ...).")
        if gen.out_channels != gen.num_classes:
            raise ConfigError(f"{where}.out_channels = {gen.out_channels}: K-Net needs one kernel "
                              f"per class (out_channels = num_classes = {gen.num_classes}).")

    @staticmethod
    def _check_stage(i: int, head: nn.Module, gen: BaseDecodeHead) -> None:
        where = _key(f"kernel_update_head[{i}]")
        wanted = dict(in_channels=gen.channels, num_classes=gen.num_classes, conv_kernel_size=1)
        for key, value in wanted.items():
            if getattr(head, key) != value:
                raise ConfigError(
                    f"{where}.{key} = {getattr(head, key)} must be {value}: the kernels start "
                    f"as kernel_generate_head.conv_seg's weights (num_classes={gen.num_classes}, "
                    f"channels={gen.channels}, 1x1).")

    def input_specs(self) -> List[InputSpec]:
        """The generating head's inputs, under its config keys."""
        return [spec._replace(key=f"kernel_generate_head.{spec.key}",
                              index_key=spec.index_key and f"kernel_generate_head.{spec.index_key}")
                for spec in self.kernel_generate_head.input_specs()]

    @property
    def loss_names(self) -> List[str]:
        """``<loss_name>.s<i>`` for each stage (0 = the generating head)."""
        return [f"{name}.s{i}" for i in range(self.num_stages + 1)
                for name in self.kernel_generate_head.loss_names]

    def extra_repr(self) -> str:
        return f"num_stages={self.num_stages}"

    def init_weights(self) -> None:
        """The generating head's init only; the update heads keep their construction init, as
        in MMSeg (see :meth:`KernelUpdateHead.init_weights`)."""
        self.kernel_generate_head.init_weights()

    def stage_logits(self, inputs: Inputs) -> List[torch.Tensor]:
        """Logits of every stage: [generating head, update 1, ..., update num_stages]."""
        gen = self.kernel_generate_head
        feats = gen._forward_feature(inputs)
        logits = gen.cls_seg(feats)
        weight = gen.conv_seg.weight
        kernels = weight.clone()[None].expand(feats.size(0), *weight.shape)
        stages = [logits]
        for head in self.kernel_update_head:
            logits, kernels = head(feats, kernels, logits)
            stages.append(logits)
        return stages

    def forward(self, inputs: Inputs):  # type: ignore[override]
        """All stages' logits in training (for the losses), the last stage's in evaluation."""
        stages = self.stage_logits(inputs)
        return stages if self.training else stages[-1]

    def forward_train(self, inputs: Inputs, img_metas: List[dict], gt_semantic_seg: torch.Tensor,
                      train_cfg: Optional[Mapping]) -> Dict[str, torch.Tensor]:
        """Losses of every stage (:meth:`losses`)."""
        return self.losses(self.stage_logits(inputs), gt_semantic_seg)

    def forward_test(self, inputs: Inputs, img_metas: List[dict],
                     test_cfg: Optional[Mapping]) -> torch.Tensor:
        """The last stage's logits (N, num_classes, h, w)."""
        return self.stage_logits(inputs)[-1]

    def losses(self, seg_logit: Sequence[torch.Tensor],  # type: ignore[override]
               seg_label: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The generating head's losses of each stage's logits, keys suffixed ``.s<i>``."""
        losses: Dict[str, torch.Tensor] = {}
        for i, logit in enumerate(seg_logit):
            for key, value in self.kernel_generate_head.losses(logit, seg_label).items():
                losses[f"{key}.s{i}"] = value
        return losses
