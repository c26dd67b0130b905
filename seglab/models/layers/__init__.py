"""Building blocks shared by backbones, necks and heads (MMCV's ``cnn`` bricks, pure PyTorch)."""
from .activation import build_activation_layer
from .attention import MultiheadAttention
from .conv import build_conv_layer
from .conv2d_adaptive_padding import Conv2dAdaptivePadding
from .conv_module import ConvModule
from .depthwise_separable_conv_module import DepthwiseSeparableConvModule
from .drop import DropPath, Dropout, build_dropout, drop_path
from .ffn import FFN
from .inverted_residual import InvertedResidual, InvertedResidualV3
from .make_divisible import make_divisible
from .norm import LayerNorm2d, build_norm_layer, is_norm, named_norm
from .patch_embed import AdaptivePadding, PatchEmbed, PatchMerging
from .se_layer import SELayer
from .pos_embed import (beit_num_relative_distance, beit_relative_position_index, double_step_seq,
                        relative_position_bias, resize_pos_embed,
                        resize_relative_position_bias_table, swin_relative_position_index)
from .shape_convert import nchw2nlc2nchw, nchw_to_nlc, nlc2nchw2nlc, nlc_to_nchw
from .weight_init import (bias_init_with_prob, constant_init, initialize, kaiming_init,
                          load_pretrained, normal_init, trunc_normal_init, uniform_init, xavier_init)
from .wrappers import Upsample, resize

__all__ = [
    "build_activation_layer", "build_conv_layer", "ConvModule", "DepthwiseSeparableConvModule",
    "build_norm_layer", "is_norm", "named_norm", "bias_init_with_prob", "constant_init",
    "initialize", "kaiming_init", "load_pretrained", "normal_init", "trunc_normal_init",
    "uniform_init",
    "xavier_init", "Upsample", "resize",
    "MultiheadAttention", "FFN", "DropPath", "Dropout", "build_dropout", "drop_path",
    "AdaptivePadding", "PatchEmbed", "PatchMerging", "resize_pos_embed", "double_step_seq",
    "swin_relative_position_index", "beit_relative_position_index", "beit_num_relative_distance",
    "Conv2dAdaptivePadding", "InvertedResidual", "InvertedResidualV3", "make_divisible", "SELayer",
    "relative_position_bias", "resize_relative_position_bias_table", "nlc_to_nchw", "nchw_to_nlc", "nchw2nlc2nchw", "nlc2nchw2nlc",
]
__all__ += ["LayerNorm2d"]

from .self_attention_block import SelfAttentionBlock  # noqa: E402

__all__ += ["SelfAttentionBlock"]

from .point_sample import point_sample  # noqa: E402

__all__ += ["point_sample"]

from .cc_attention import CrissCrossAttention  # noqa: E402
from .context_block import ContextBlock  # noqa: E402
from .encoding import Encoding  # noqa: E402
from .psa_mask import PSAMask, psa_mask  # noqa: E402
from .scale import Scale  # noqa: E402

__all__ += ["CrissCrossAttention", "ContextBlock", "Encoding", "PSAMask", "psa_mask", "Scale"]

from .non_local import NonLocal2d  # noqa: E402

__all__ += ["NonLocal2d"]
