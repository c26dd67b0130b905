"""Backbones: ``forward(img) -> tuple`` of feature maps, declared by ``output_shapes()``."""
from .base import BaseBackbone, OutputShapes, ShapeSpec, shape_specs
from .resnet import ResNet, ResNetV1c, ResNetV1d
from .resnet_blocks import BasicBlock, Bottleneck, ResLayer
from .vit import VisionTransformer

__all__ = ["BaseBackbone", "OutputShapes", "ShapeSpec", "shape_specs", "ResNet", "ResNetV1c",
           "ResNetV1d", "BasicBlock", "Bottleneck", "ResLayer"]
__all__ += ["VisionTransformer"]
from .swin import SwinBlock, SwinBlockSequence, SwinTransformer  # noqa: E402
from .swin_attention import ShiftWindowMSA, WindowMSA  # noqa: E402

__all__ += ["SwinTransformer", "SwinBlock", "SwinBlockSequence", "ShiftWindowMSA", "WindowMSA"]

from .mit import MixVisionTransformer  # noqa: E402
from .mit_blocks import EfficientMultiheadAttention, MixFFN, TransformerEncoderLayer  # noqa: E402

__all__ += ["MixVisionTransformer", "EfficientMultiheadAttention", "MixFFN",
            "TransformerEncoderLayer"]

from .beit import BEiT  # noqa: E402
from .beit_layer import BEiTAttention, BEiTTransformerEncoderLayer  # noqa: E402
from .mae import MAE  # noqa: E402

__all__ += ["BEiT", "BEiTAttention", "BEiTTransformerEncoderLayer", "MAE"]

from .twins import PCPVT, SVT  # noqa: E402
from .twins_blocks import (ConditionalPositionEncoding, GlobalSubsampledAttention,  # noqa: E402
                           GSAEncoderLayer, LocallygroupedSelfAttention, LSAEncoderLayer)

__all__ += ["PCPVT", "SVT", "ConditionalPositionEncoding", "GlobalSubsampledAttention",
            "GSAEncoderLayer", "LocallygroupedSelfAttention", "LSAEncoderLayer"]
