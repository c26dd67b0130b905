"""``PIDNet``: `PIDNet <https://arxiv.org/abs/2206.02066>`_, a three-branch real-time CNN (1.x).

Same constructor keys, module names (state_dict keys) and arithmetic as MMSegmentation 1.x's
``mmseg.models.backbones.PIDNet`` (a 1.x-only model). After DDRNet's stem (1/8):

- the I (integral, context) branch goes down to 1/64 (``i_branch_layers``) and ends in a PAPPM
  (PIDNet-S/M, ``num_stem_blocks=2``) or a DAPPM (PIDNet-L);
- the P (proportional, detail) branch stays at 1/8 and takes in the I branch twice through
  :class:`PagFM` (pixel-attention-guided fusion);
- the D (derivative, boundary) branch stays at 1/8 and adds the upsampled ``diff_*`` of the I
  branch;
- :class:`LightBag` (S/M) or :class:`Bag` (L) fuses the three, guided by the D branch.

Outputs, in train and eval mode alike: ``(P after stage 3, fused map, D after stage 4)`` at 1/8
with ``2c``, ``4c`` and ``2c`` channels (c = ``channels``). MMSeg returns the triple while
training and only the fused map in eval mode; :class:`~seglab.models.decode_heads.PIDHead` reads
the fused map (index 1) at test time, so the logits are the same.

Deviations (no change for a checkpoint or a single-process run): ``norm_cfg`` reaches every norm
(MMSeg keeps the residual blocks, PagFMs and the PPM on plain BN, so a SyncBN config synchronises
only some of them); maps are resized to the P branch's size instead of ``input // 8``, equal for
inputs divisible by 8 (MMSeg fails on others); PagFM's ``upsample_mode='nearest'`` works (MMSeg
passes align_corners to it and fails).
"""
from __future__ import annotations

from typing import Mapping, Optional, Tuple

import torch
from torch import nn

from ...registry import MODELS
from ..layers import ConvModule, build_activation_layer, initialize, resize
from ..layers.basic_block import BasicBlock, Block, Bottleneck, make_downsample, make_res_layer
from ..layers.dappm import DAPPM, PAPPM
from ..layers.weight_init import CONV_NORM_INIT, InitCfg
from .base import BaseBackbone, OutputShapes, shape_specs
from .ddrnet import BN, RELU, make_stem


def _upsample(x: torch.Tensor, like: torch.Tensor, mode: str = "bilinear",
              align_corners: bool = False) -> torch.Tensor:
    corners = align_corners if mode in ("linear", "bilinear", "bicubic", "trilinear") else None
    return resize(x, size=like.shape[2:], mode=mode, align_corners=corners)


class PagFM(nn.Module):
    """Pixel-attention-guided fusion: ``sigma * up(x_i) + (1 - sigma) * x_p``.

    ``sigma = sigmoid(<f_p(x_p), up(f_i(x_i))>)`` over channels (with ``with_channel``: a 1x1
    ConvModule ``up`` of the product instead of the channel sum).

    Args:
        in_channels: channels of both inputs (and the output).
        channels: channels of the 1x1 embeddings ``f_i``, ``f_p``.
        after_relu: apply ``act_cfg`` to both inputs first.
        with_channel: channel-wise instead of pixel-wise attention.
        upsample_mode: interpolation of the I-branch maps.
        norm_cfg: norm of the ConvModules.
        act_cfg: activation of ``after_relu``.

    Shape:
        x_p (N, in_channels, H, W), x_i (N, in_channels, h, w) -> (N, in_channels, H, W).
    """

    def __init__(self, in_channels: int, channels: int, after_relu: bool = False,
                 with_channel: bool = False, upsample_mode: str = "bilinear",
                 norm_cfg: Optional[Mapping] = BN, act_cfg: Optional[Mapping] = RELU):
        super().__init__()
        self.after_relu, self.with_channel = after_relu, with_channel
        self.upsample_mode = upsample_mode
        self.f_i = ConvModule(in_channels, channels, 1, norm_cfg=norm_cfg, act_cfg=None)
        self.f_p = ConvModule(in_channels, channels, 1, norm_cfg=norm_cfg, act_cfg=None)
        if with_channel:
            self.up = ConvModule(channels, in_channels, 1, norm_cfg=norm_cfg, act_cfg=None)
        if after_relu:
            # not in place: the inputs are the caller's maps
            self.relu = build_activation_layer(
                dict(act_cfg, inplace=False) if "inplace" in act_cfg else act_cfg)

    def forward(self, x_p: torch.Tensor, x_i: torch.Tensor) -> torch.Tensor:
        if self.after_relu:
            x_p, x_i = self.relu(x_p), self.relu(x_i)
        f_i = _upsample(self.f_i(x_i), x_p, self.upsample_mode)
        f_pi = self.f_p(x_p) * f_i
        sigma = torch.sigmoid(self.up(f_pi) if self.with_channel else f_pi.sum(1, keepdim=True))
        x_i = _upsample(x_i, x_p, self.upsample_mode)
        return sigma * x_i + (1 - sigma) * x_p


class Bag(nn.Module):
    """Boundary-attention-guided fusion (PIDNet-L): ``conv(s * x_p + (1 - s) * x_i)``,
    ``s = sigmoid(x_d)``; ``conv`` is a pre-activation (norm, act, conv) ConvModule.

    Shape:
        three (N, in_channels, H, W) maps -> (N, out_channels, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 padding: int = 1, norm_cfg: Optional[Mapping] = BN,
                 act_cfg: Optional[Mapping] = RELU,
                 conv_cfg: Mapping = dict(order=("norm", "act", "conv"))):
        super().__init__()
        self.conv = ConvModule(in_channels, out_channels, kernel_size, padding=padding,
                               norm_cfg=norm_cfg, act_cfg=act_cfg, **conv_cfg)

    def forward(self, x_p: torch.Tensor, x_i: torch.Tensor, x_d: torch.Tensor) -> torch.Tensor:
        sigma = torch.sigmoid(x_d)
        return self.conv(sigma * x_p + (1 - sigma) * x_i)


class LightBag(nn.Module):
    """Light boundary-attention-guided fusion (PIDNet-S/M), ``s = sigmoid(x_d)``:
    ``f_p((1 - s) * x_i + x_p) + f_i(x_i + s * x_p)`` with 1x1 ConvModules.

    Shape:
        three (N, in_channels, H, W) maps -> (N, out_channels, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: Optional[Mapping] = BN,
                 act_cfg: Optional[Mapping] = None):
        super().__init__()
        self.f_p = ConvModule(in_channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.f_i = ConvModule(in_channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x_p: torch.Tensor, x_i: torch.Tensor, x_d: torch.Tensor) -> torch.Tensor:
        sigma = torch.sigmoid(x_d)
        return self.f_p((1 - sigma) * x_i + x_p) + self.f_i(x_i + sigma * x_p)


@MODELS.register_module()
class PIDNet(BaseBackbone):
    """PIDNet-S (``channels=32``), -M (64) and -L (64, ``num_stem_blocks=3``,
    ``num_branch_blocks=4``, ``ppm_channels=112``).

    Args:
        in_channels: image channels.
        channels: base width c (stem ``c`` then ``2c``; I branch ``4c, 8c, 16c``; P ``2c``).
        ppm_channels: branch channels of the PAPPM / DAPPM.
        num_stem_blocks: BasicBlocks per stem layer and P-branch layer; 2 selects the light
            D branch (PAPPM, LightBag), anything else the full one (DAPPM, Bag).
        num_branch_blocks: BasicBlocks of the first two I-branch layers.
        align_corners: of the bilinear resizes of the I-branch maps.
        norm_cfg: norm of every layer.
        act_cfg: activation of the ConvModules (blocks use ReLU).
        init_cfg: ``dict(type='Pretrained', checkpoint=...)`` loads (non-strict) after MMSeg's
            default init (Kaiming convs, unit norms).

    Shape:
        (N, in_channels, H, W) -> ``((N, 2c, H/8, W/8), (N, 4c, H/8, W/8), (N, 2c, H/8, W/8))``.
    """

    def __init__(self, in_channels: int = 3, channels: int = 64, ppm_channels: int = 96,
                 num_stem_blocks: int = 2, num_branch_blocks: int = 3,
                 align_corners: bool = False, norm_cfg: Mapping = BN,
                 act_cfg: Mapping = RELU, init_cfg: InitCfg = None):
        super().__init__(init_cfg=init_cfg)
        self.channels, self.align_corners = channels, align_corners
        self.norm_cfg, self.act_cfg = norm_cfg, act_cfg
        c = channels
        layer = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        conv = dict(bias=False, norm_cfg=norm_cfg, act_cfg=None)
        self.stem = make_stem(in_channels, c, num_stem_blocks, norm_cfg, act_cfg,
                              conv_module_downsample=True)
        self.relu = nn.ReLU()
        # I branch: 2c -> 4c (1/16) -> 8c (1/32) -> 16c (1/64, Bottleneck 8c x 2)
        self.i_branch_layers = nn.ModuleList([
            make_res_layer(BasicBlock, c * 2, c * 4, num_branch_blocks, stride=2, **layer),
            make_res_layer(BasicBlock, c * 4, c * 8, num_branch_blocks, stride=2, **layer),
            make_res_layer(Bottleneck, c * 8, c * 8, 2, stride=2, **layer)])
        # P branch at 1/8: 2c, 2c, then 4c (Bottleneck 2c x 2)
        self.p_branch_layers = nn.ModuleList([
            make_res_layer(BasicBlock, c * 2, c * 2, num_stem_blocks, **layer),
            make_res_layer(BasicBlock, c * 2, c * 2, num_stem_blocks, **layer),
            make_res_layer(Bottleneck, c * 2, c * 2, 1, **layer)])
        self.compression_1 = ConvModule(c * 4, c * 2, 1, **conv)
        self.compression_2 = ConvModule(c * 8, c * 2, 1, **conv)
        self.pag_1 = PagFM(c * 2, c, norm_cfg=norm_cfg)
        self.pag_2 = PagFM(c * 2, c, norm_cfg=norm_cfg)
        # D branch at 1/8
        light = num_stem_blocks == 2
        if light:
            self.d_branch_layers = nn.ModuleList([
                self._single_block(BasicBlock, c * 2, c),
                make_res_layer(Bottleneck, c, c, 1, **layer)])
        else:
            self.d_branch_layers = nn.ModuleList([
                self._single_block(BasicBlock, c * 2, c * 2),
                self._single_block(BasicBlock, c * 2, c * 2)])
        self.diff_1 = ConvModule(c * 4, c if light else c * 2, 3, padding=1, **conv)
        self.diff_2 = ConvModule(c * 8, c * 2, 3, padding=1, **conv)
        self.spp = (PAPPM if light else DAPPM)(c * 16, ppm_channels, c * 4, num_scales=5,
                                               norm_cfg=norm_cfg)
        self.dfm = (LightBag(c * 4, c * 4, norm_cfg=norm_cfg, act_cfg=None) if light
                    else Bag(c * 4, c * 4, norm_cfg=norm_cfg, act_cfg=act_cfg))
        self.d_branch_layers.append(make_res_layer(Bottleneck, c * 2, c * 2, 1, **layer))

    def _single_block(self, block: Block, in_channels: int, channels: int) -> nn.Module:
        """One block without the activation after the sum (MMSeg's ``_make_single_layer``)."""
        downsample = None
        if in_channels != channels * block.expansion:
            downsample = make_downsample(in_channels, channels * block.expansion, 1,
                                         self.norm_cfg, conv_module=True)
        return block(in_channels, channels, 1, downsample, norm_cfg=self.norm_cfg,
                     act_cfg_out=None)

    def output_shapes(self) -> OutputShapes:
        """P after stage 3 (2c, 8), the fused map (4c, 8), D after stage 4 (2c, 8)."""
        c = self.channels
        return shape_specs((c * 2, c * 4, c * 2), (8, 8, 8))

    def init_weights(self) -> None:
        """MMSeg's init (Kaiming convs, unit norms), then ``init_cfg`` (pretrained weights)."""
        initialize(self, CONV_NORM_INIT)
        initialize(self, self.init_cfg)

    def _up(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return _upsample(x, like, align_corners=self.align_corners)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Args: x: (N, C, H, W). Returns: (P stage 3, fused map, D stage 4), all at 1/8."""
        relu, i_layers = self.relu, self.i_branch_layers
        p_layers, d_layers = self.p_branch_layers, self.d_branch_layers
        x = self.stem(x)
        # stage 3
        x_i = relu(i_layers[0](x))
        x_p = self.pag_1(p_layers[0](x), self.compression_1(x_i))
        x_d = d_layers[0](x)
        x_d = x_d + self._up(self.diff_1(x_i), x_d)
        p_stage3 = x_p
        # stage 4
        x_i = relu(i_layers[1](x_i))
        x_p = self.pag_2(p_layers[1](relu(x_p)), self.compression_2(x_i))
        x_d = d_layers[1](relu(x_d))
        x_d = x_d + self._up(self.diff_2(x_i), x_d)
        d_stage4 = x_d
        # stage 5
        x_i = self._up(self.spp(i_layers[2](x_i)), x_d)
        x_p = p_layers[2](relu(x_p))
        x_d = d_layers[2](relu(x_d))
        return p_stage3, self.dfm(x_p, x_i, x_d), d_stage4
