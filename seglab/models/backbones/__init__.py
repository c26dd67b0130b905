"""Backbones: ``forward(img) -> tuple`` of multi-level feature maps."""
from .resnet import ResNet, ResNetV1c, ResNetV1d
from .resnet_blocks import BasicBlock, Bottleneck, ResLayer

__all__ = ["ResNet", "ResNetV1c", "ResNetV1d", "BasicBlock", "Bottleneck", "ResLayer"]
