"""Data pipeline transforms under MMSegmentation 0.x names, acting on the sample dict.

Importing this package registers every transform in ``seglab.registry.TRANSFORMS`` (alias
``PIPELINES``). Normalisation is deferred to the device by default: see :mod:`.deferred`.
"""
from .base import BaseTransform
from .compose import Compose
from .crop import RandomCrop
from .cutout import RandomCutOut
from .deferred import apply_deferred_normalize, normalize_tensor
from .flip import RandomFlip
from .formatting import (Collect, DefaultFormatBundle, ImageToTensor, ToTensor, Transpose,
                         to_tensor)
from .intensity import CLAHE, AdjustGamma, Rerange, RGB2Gray
from .loading import LoadAnnotations, LoadImageFromFile
from .normalize import Normalize
from .pad import Pad
from .photometric import PhotoMetricDistortion
from .resize import Resize, ResizeToMultiple, SegRescale
from .rotate import RandomRotate
from .test_time_aug import MultiScaleFlipAug
# MMSegmentation 1.x transforms (1.x configs run their pipelines as written)
from .augment_1x import GenerateEdge, RandomRotFlip
from .formatting_1x import PackSegInputs
from .resize_1x import RandomChoiceResize, RandomResize, ResizeShortestEdge
from .tta_1x import TestTimeAug

__all__ = [
    "BaseTransform", "Compose", "apply_deferred_normalize", "normalize_tensor", "to_tensor",
    "LoadImageFromFile", "LoadAnnotations", "Resize", "ResizeToMultiple", "RandomCrop",
    "RandomFlip", "PhotoMetricDistortion", "Normalize", "Pad", "RandomRotate",
    "DefaultFormatBundle", "ImageToTensor", "ToTensor", "Transpose", "Collect",
    "MultiScaleFlipAug", "SegRescale", "RandomCutOut", "Rerange", "CLAHE", "RGB2Gray",
    "AdjustGamma",
]
__all__ += ["RandomResize", "RandomChoiceResize", "ResizeShortestEdge", "PackSegInputs",
            "TestTimeAug", "GenerateEdge", "RandomRotFlip"]
