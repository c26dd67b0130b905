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

from .unet import UNet  # noqa: E402

__all__ += ["UNet"]

from .erfnet import DownsamplerBlock, ERFNet, NonBottleneck1d, UpsamplerBlock  # noqa: E402

__all__ += ["ERFNet", "DownsamplerBlock", "NonBottleneck1d", "UpsamplerBlock"]

from .poolformer import PoolFormer, PoolFormerBlock, Pooling  # noqa: E402

__all__ += ["PoolFormer", "PoolFormerBlock", "Pooling"]

from .convnext import ConvNeXt, ConvNeXtBlock  # noqa: E402

__all__ += ["ConvNeXt", "ConvNeXtBlock"]

from .cgnet import CGNet, ContextGuidedBlock, GlobalContextExtractor, InputInjection  # noqa: E402

__all__ += ["CGNet", "ContextGuidedBlock", "GlobalContextExtractor", "InputInjection"]

from .mobilenet_v2 import MobileNetV2  # noqa: E402
from .mobilenet_v3 import MobileNetV3  # noqa: E402

__all__ += ["MobileNetV2", "MobileNetV3"]

from .hrnet import HRNet  # noqa: E402
from .hrnet_module import HRModule  # noqa: E402

__all__ += ["HRNet", "HRModule"]

from .icnet import ICNet  # noqa: E402

__all__ += ["ICNet"]

from .bisenetv1 import BiSeNetV1  # noqa: E402
from .bisenetv2 import BiSeNetV2  # noqa: E402
from .stdc import STDCContextPathNet, STDCNet  # noqa: E402

__all__ += ["BiSeNetV1", "BiSeNetV2", "STDCNet", "STDCContextPathNet"]

from .fast_scnn import (FastSCNN, FeatureFusionModule, GlobalFeatureExtractor,  # noqa: E402
                        LearningToDownsample)

__all__ += ["FastSCNN", "LearningToDownsample", "GlobalFeatureExtractor", "FeatureFusionModule"]

from .resnest import ResNeSt, SplitAttentionConv2d  # noqa: E402
from .resnext import ResNeXt  # noqa: E402

__all__ += ["ResNeSt", "SplitAttentionConv2d", "ResNeXt"]

from .mscan import MSCABlock, MSCAAttention, MSCAN, MSCASpatialAttention  # noqa: E402

__all__ += ["MSCAN", "MSCABlock", "MSCAAttention", "MSCASpatialAttention"]

from .ddrnet import DDRNet  # noqa: E402
from .pidnet import PIDNet  # noqa: E402

__all__ += ["DDRNet", "PIDNet"]
