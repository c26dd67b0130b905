"""Pascal Context: 60 classes (background included) or the 59 without background."""
from __future__ import annotations

from ..registry import DATASETS
from .ade import ADE20KDataset
from .custom import CustomDataset

_CONTEXT_CLASSES = (
    "background", "aeroplane", "bag", "bed", "bedclothes", "bench", "bicycle", "bird", "boat",
    "book", "bottle", "building", "bus", "cabinet", "car", "cat", "ceiling", "chair", "cloth",
    "computer", "cow", "cup", "curtain", "dog", "door", "fence", "floor", "flower", "food",
    "grass", "ground", "horse", "keyboard", "light", "motorbike", "mountain", "mouse", "person",
    "plate", "platform", "pottedplant", "road", "rock", "sheep", "shelves", "sidewalk", "sign",
    "sky", "snow", "sofa", "table", "track", "train", "tree", "truck", "tvmonitor", "wall",
    "water", "window", "wood")


@DATASETS.register_module()
class PascalContextDataset(CustomDataset):
    """Pascal Context (60 classes): ``JPEGImages/*.jpg`` with ``SegmentationClassContext/*.png``
    (made by ``tools/convert_datasets/pascal_context.py``; 0 is background, a class).

    ``img_suffix='.jpg'``, ``seg_map_suffix='.png'`` and ``reduce_zero_label=False`` are fixed
    and ``split`` is required, as in MMSegmentation.

    Args: see :class:`CustomDataset`.
    """

    CLASSES = _CONTEXT_CLASSES
    # MMSeg gives Pascal Context the first 60 colours of the ADE20K palette.
    PALETTE = ADE20KDataset.PALETTE[:60]
    FIXED = dict(img_suffix=".jpg", seg_map_suffix=".png", reduce_zero_label=False)
    REQUIRED = ("split",)


@DATASETS.register_module()
class PascalContextDataset59(PascalContextDataset):
    """Pascal Context without background (59 classes): label 0 becomes 255 and the classes
    0..58 (``reduce_zero_label=True`` fixed; configs also set it in ``LoadAnnotations``).

    Args: see :class:`CustomDataset`.
    """

    CLASSES = _CONTEXT_CLASSES[1:]
    PALETTE = ADE20KDataset.PALETTE[1:60]
    FIXED = dict(reduce_zero_label=True)
