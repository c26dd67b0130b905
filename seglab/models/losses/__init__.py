"""Losses, the accuracy metric of the decode heads, and pixel samplers (MMSegmentation 0.x names).

Importing this package registers every loss in ``seglab.registry.MODELS`` (alias ``LOSSES``).
"""
from .accuracy import Accuracy, accuracy
from .cross_entropy_loss import (CrossEntropyLoss, binary_cross_entropy, cross_entropy,
                                 mask_cross_entropy)
from .utils import get_class_weight, reduce_loss, weight_reduce_loss

__all__ = [
    "Accuracy", "accuracy", "CrossEntropyLoss", "binary_cross_entropy", "cross_entropy",
    "mask_cross_entropy", "get_class_weight", "reduce_loss", "weight_reduce_loss",
]
