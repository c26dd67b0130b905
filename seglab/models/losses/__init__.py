"""Losses, the accuracy metric of the decode heads, and pixel samplers (MMSegmentation 0.x names).

Importing this package registers every loss in ``seglab.registry.MODELS`` (alias ``LOSSES``) and
``OHEMPixelSampler`` in ``seglab.registry.PIXEL_SAMPLERS``.
"""
from .accuracy import Accuracy, accuracy
from .base_pixel_sampler import BasePixelSampler, build_pixel_sampler
from .cross_entropy_loss import (CrossEntropyLoss, binary_cross_entropy, cross_entropy,
                                 mask_cross_entropy)
from .dice_loss import DiceLoss, binary_dice_loss, dice_loss
from .focal_loss import FocalLoss, py_sigmoid_focal_loss
from .lovasz_loss import LovaszLoss, lovasz_hinge, lovasz_softmax
from .ohem_pixel_sampler import OHEMPixelSampler
from .utils import get_class_weight, reduce_loss, weight_reduce_loss

__all__ = [
    "Accuracy", "accuracy", "BasePixelSampler", "build_pixel_sampler", "CrossEntropyLoss",
    "binary_cross_entropy", "cross_entropy", "mask_cross_entropy", "DiceLoss", "binary_dice_loss",
    "dice_loss", "FocalLoss", "py_sigmoid_focal_loss", "LovaszLoss", "lovasz_hinge",
    "lovasz_softmax", "OHEMPixelSampler", "get_class_weight", "reduce_loss", "weight_reduce_loss",
]

from .boundary_loss import BoundaryLoss  # noqa: E402
from .ohem_cross_entropy_loss import OhemCrossEntropy  # noqa: E402

__all__ += ["BoundaryLoss", "OhemCrossEntropy"]
