"""Building blocks shared by backbones, necks and heads (MMCV's ``cnn`` bricks, pure PyTorch)."""
from .activation import build_activation_layer
from .conv import build_conv_layer
from .conv_module import ConvModule
from .depthwise_separable_conv_module import DepthwiseSeparableConvModule
from .norm import build_norm_layer, is_norm
from .weight_init import (bias_init_with_prob, constant_init, initialize, kaiming_init,
                          load_pretrained, normal_init, trunc_normal_init, uniform_init, xavier_init)
from .wrappers import Upsample, resize

__all__ = [
    "build_activation_layer", "build_conv_layer", "ConvModule", "DepthwiseSeparableConvModule",
    "build_norm_layer", "is_norm", "bias_init_with_prob", "constant_init", "initialize",
    "kaiming_init", "load_pretrained", "normal_init", "trunc_normal_init", "uniform_init",
    "xavier_init", "Upsample", "resize",
]
