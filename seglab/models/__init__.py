"""Models: building blocks, backbones, necks, decode heads, losses and segmentors.

Importing this package registers every model class in ``seglab.registry.MODELS``.
"""
from . import backbones, decode_heads, layers, losses, necks, segmentors  # noqa: F401 (registers)
from .backbones import ResNet, ResNetV1c, ResNetV1d
from .builder import (build_backbone, build_head, build_loss, build_neck, build_pixel_sampler,
                      build_segmentor)
from .decode_heads import (ASPPHead, BaseDecodeHead, DepthwiseSeparableASPPHead, FCNHead, PSPHead,
                           UPerHead)
from .segmentors import BaseSegmentor, EncoderDecoder

__all__ = [
    "build_backbone", "build_head", "build_loss", "build_neck", "build_pixel_sampler",
    "build_segmentor", "ResNet", "ResNetV1c", "ResNetV1d", "BaseDecodeHead", "FCNHead",
    "PSPHead", "ASPPHead", "DepthwiseSeparableASPPHead", "UPerHead", "BaseSegmentor",
    "EncoderDecoder",
]
