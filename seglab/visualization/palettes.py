"""Class colour palettes (RGB) of the standard datasets, and MMSeg's seeded random palette.

Values equal MMSegmentation's ``voc_palette()``, ``cityscapes_palette()`` and ``ade_palette()``
(checkpoints store them in ``meta['PALETTE']``); tables are kept as hex strings to stay compact.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from seglab.errors import ConfigError

Palette = List[List[int]]

# ADE20K, 150 classes (MMSeg ``ade_palette``), "RRGGBB" per class in class-index order.
_ADE_HEX = (
    "787878 b47878 06e6e6 503232 04c803 787850 8c8c8c cc05ff e6e6e6 04fa07 "
    "e005ff ebff07 96053d 787846 08ff33 ff0652 8fff8c ccff04 ff3307 cc4603 "
    "0066c8 3de6fa ff0633 0b66ff ff0747 ff09e0 0907e6 dcdcdc ff095c 7009ff "
    "08ffd6 07ffe0 ffb806 0aff47 ff290a 07ffff e0ff08 6608ff ff3d06 ffc207 "
    "ff7a08 00ff14 ff0829 ff0599 0633ff eb0cff a09614 00a3ff 8c8c8c fa0a0f "
    "14ff00 1fff00 ff1f00 ffe000 99ff00 0000ff ff4700 00ebff 00adff 1f00ff "
    "0bc8c8 ff5200 00fff5 003dff 00ff70 00ff85 ff0000 ffa300 ff6600 c2ff00 "
    "008fff 33ff00 0052ff 00ff29 00ffad 0a00ff adff00 00ff99 ff5c00 ff00ff "
    "ff00f5 ff0066 ffad00 ff0014 ffb8b8 001fff 00ff3d 0047ff ff00cc 00ffc2 "
    "00ff52 000aff 0070ff 3300ff 00c2ff 007aff 00ffa3 ff9900 00ff0a ff7000 "
    "8fff00 5200ff a3ff00 ffeb00 08b8aa 8500ff 00ff5c b800ff ff001f 00b8ff "
    "00d6ff ff0070 5cff00 00e0ff 70e0ff 46b8a0 a300ff 9900ff 47ff00 ff00a3 "
    "ffcc00 ff008f 00ffeb 85ff00 ff00eb f500ff ff007a fff500 0abed4 d6ff00 "
    "00ccff 1400ff ffff00 0099ff 0029ff 00ffcc 2900ff 29ff00 ad00ff 00f5ff "
    "4700ff 7a00ff 00ffb8 005cff b8ff00 0085ff ffd600 19c2c2 66ff00 5c00ff "
)

# Cityscapes, 19 train ids (MMSeg ``cityscapes_palette``).
_CITYSCAPES_HEX = (
    "804080 f423e8 464646 66669c be9999 999999 faaa1e dcdc00 6b8e23 98fb98 "
    "4682b4 dc143c ff0000 00008e 000046 003c64 005064 0000e6 770b20 "
)


def _from_hex(table: str) -> Palette:
    return [[int(c[i:i + 2], 16) for i in (0, 2, 4)] for c in table.split()]


def voc_palette(num_classes: int = 21) -> Palette:
    """PASCAL VOC colours: the standard colormap that spreads the bits of the class index over
    the high bits of R, G and B (index 1 -> (128, 0, 0), 2 -> (0, 128, 0), ...)."""
    palette = []
    for index in range(num_classes):
        rgb = [0, 0, 0]
        value = index
        for shift in range(7, -1, -1):  # bit triplets of the index fill bits 7, 6, ... of R, G, B
            for channel in range(3):
                rgb[channel] |= ((value >> channel) & 1) << shift
            value >>= 3
        palette.append(rgb)
    return palette


def cityscapes_palette() -> Palette:
    """Cityscapes colours of the 19 train ids."""
    return _from_hex(_CITYSCAPES_HEX)


def ade_palette() -> Palette:
    """ADE20K colours of the 150 SceneParsing classes."""
    return _from_hex(_ADE_HEX)


_PALETTES = {"voc": voc_palette, "cityscapes": cityscapes_palette, "ade": ade_palette}
DATASET_ALIASES: Dict[str, str] = {
    "voc": "voc", "pascal_voc": "voc", "voc12": "voc", "voc12aug": "voc",
    "cityscapes": "cityscapes", "ade": "ade", "ade20k": "ade",
}


def canonical_dataset_name(dataset: str) -> str:
    """'ade20k' -> 'ade', 'pascal_voc' -> 'voc', ...; unknown names raise ``ConfigError``."""
    if not isinstance(dataset, str):
        raise TypeError(f"dataset must be a str such as 'voc', got {type(dataset).__name__}.")
    try:
        return DATASET_ALIASES[dataset.lower()]
    except KeyError:
        raise ConfigError(f"Unknown dataset {dataset!r} for a palette; known names: "
                          f"{sorted(DATASET_ALIASES)}. Pass the colours explicitly "
                          "(a list of [R, G, B]) for other datasets.") from None


def get_palette(dataset: str) -> Palette:
    """RGB palette of a dataset by name ('voc', 'cityscapes', 'ade20k' and their aliases)."""
    return _PALETTES[canonical_dataset_name(dataset)]()


def random_palette(num_classes: int, seed: int = 42) -> Palette:
    """The palette MMSeg 0.x draws when a dataset has no PALETTE.

    Same numbers as ``np.random.seed(42); np.random.randint(0, 255, size=(num_classes, 3))``
    (MMSeg draws from 0 to 254), from a private generator so global NumPy state is untouched.
    """
    return np.random.RandomState(seed).randint(0, 255, size=(num_classes, 3)).tolist()


def resolve_palette(palette: Optional[Union[str, Sequence[Sequence[int]], np.ndarray]],
                    num_classes: Optional[int] = None) -> np.ndarray:
    """A palette argument as a (N, 3) uint8 RGB array.

    Args:
        palette: A dataset name, a list/array of [R, G, B] in 0..255, or None for
            :func:`random_palette` of ``num_classes`` colours.
        num_classes: Needed when ``palette`` is None.
    """
    if palette is None:
        if num_classes is None:
            raise ValueError("palette=None needs num_classes to draw a random palette.")
        palette = random_palette(num_classes)
    elif isinstance(palette, str):
        palette = get_palette(palette)
    array = np.asarray(palette)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"A palette must be a list of [R, G, B] triples, got an array of shape "
                         f"{array.shape}.")
    if array.size and (array.min() < 0 or array.max() > 255):
        raise ValueError(f"Palette colours must lie in 0..255, got values from {array.min()} to "
                         f"{array.max()}.")
    return array.astype(np.uint8)
