"""Convert colour (RGB) label masks, or 0/255 binary masks, to class-index PNGs.

Usage:
    python tools/convert_datasets/color_to_index.py IN_DIR OUT_DIR
        (--palette voc|cityscapes|ade20k|synthetic_voc|FILE | --binary) [--suffix .png]
        [--threshold 128] [--strict]

``--palette``: pixel colour i of the palette becomes label i. FILE is a JSON list of [R, G, B]
(index = position) or a text file with one "R G B" line per class. Colours in no palette entry
become 255 (ignore) and are reported; with ``--strict`` they are an error. VOC's boundary colour
(224, 224, 192) becomes 255.

``--binary``: for foreground/background masks (often saved as 0/255): a pixel whose grey value is
at least ``--threshold`` becomes 1, others 0. (Left as 0/255 such masks train nothing: 255 is the
ignore_index.)

Outputs are palette PNGs with the same relative names (suffix ``--suffix``) under OUT_DIR. Input
files that are already palette (mode 'P') images keep their indices.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

IMAGE_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg")
VOC_BOUNDARY = (224, 224, 192)


def load_palette(spec: str) -> np.ndarray:
    """A (N, 3) palette from a dataset name or a JSON / text file."""
    if osp.isfile(spec):
        with open(spec, encoding="utf-8") as f:
            text = f.read()
        try:
            rows = json.loads(text)
        except ValueError:
            rows = [[int(v) for v in line.replace(",", " ").split()]
                    for line in text.splitlines() if line.strip()]
    else:
        from seglab.datasets import (ADE20KDataset, CityscapesDataset, PascalVOCDataset,
                                     SyntheticVOCDataset)

        named = {"voc": PascalVOCDataset, "cityscapes": CityscapesDataset, "ade20k":
                 ADE20KDataset, "ade": ADE20KDataset, "synthetic_voc": SyntheticVOCDataset}
        if spec.lower() not in named:
            raise ValueError(f"--palette {spec!r} is neither a file nor one of {sorted(named)}")
        rows = named[spec.lower()].PALETTE
    palette = np.asarray(rows, dtype=np.int64)
    if palette.ndim != 2 or palette.shape[1] != 3 or palette.min() < 0 or palette.max() > 255:
        raise ValueError(f"palette {spec!r} must be a list of [R, G, B] triples in 0..255")
    if len(palette) > 255:
        raise ValueError(f"palette {spec!r} has {len(palette)} colours; at most 255 fit uint8 "
                         "labels next to the ignore value 255")
    return palette


def _keys(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def color_to_index(rgb: np.ndarray, palette: np.ndarray) -> Tuple[np.ndarray, Dict[Tuple, int]]:
    """Map an (H, W, 3) RGB mask to indices; returns (labels, {unknown colour: pixels})."""
    keys = _keys(rgb[..., :3])
    lookup = {int(k): i for i, k in reversed(list(enumerate(_keys(palette))))}
    lookup.setdefault(int(_keys(np.asarray(VOC_BOUNDARY))), 255)
    uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    mapped = np.array([lookup.get(int(k), 255) for k in uniq], dtype=np.uint8)
    unknown = {(int(k) >> 16, (int(k) >> 8) & 255, int(k) & 255): int(c)
               for k, c in zip(uniq, counts) if int(k) not in lookup}
    return mapped[inverse.reshape(keys.shape)], unknown


def binary_to_index(gray: np.ndarray, threshold: int = 128) -> np.ndarray:
    """Foreground (>= threshold) -> 1, background -> 0."""
    if gray.ndim == 3:
        gray = gray[..., :3].mean(axis=2)
    return (gray >= threshold).astype(np.uint8)


def convert_file(src: str, dst: str, palette: Optional[np.ndarray], binary: bool,
                 threshold: int, out_palette: Sequence) -> Dict[Tuple, int]:
    from PIL import Image

    from seglab.datasets.result_files import save_label_png

    with Image.open(src) as im:
        if im.mode == "P" and not binary:
            labels, unknown = np.asarray(im), {}
        elif binary:
            labels, unknown = binary_to_index(np.asarray(im.convert("L")), threshold), {}
        else:
            labels, unknown = color_to_index(np.asarray(im.convert("RGB")), palette)
    os.makedirs(osp.dirname(dst) or ".", exist_ok=True)
    save_label_png(labels, dst, out_palette)
    return unknown


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Colour or binary masks -> class-index PNGs")
    parser.add_argument("in_dir", help="folder of colour masks (searched recursively)")
    parser.add_argument("out_dir", help="where the index PNGs go")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--palette", help="voc, cityscapes, ade20k, synthetic_voc or a file")
    mode.add_argument("--binary", action="store_true", help="0/255 (or any) binary masks -> 0/1")
    parser.add_argument("--threshold", type=int, default=128, help="foreground grey level")
    parser.add_argument("--suffix", default=".png", help="suffix of the output files")
    parser.add_argument("--strict", action="store_true",
                        help="fail on colours that are not in the palette")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from seglab.datasets.voc import voc_palette

    try:
        palette = None if args.binary else load_palette(args.palette)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out_palette = voc_palette(256) if palette is None else \
        [list(map(int, c)) for c in palette] + [[0, 0, 0]] * (255 - len(palette)) + \
        [list(VOC_BOUNDARY)]
    sources = []
    for root, _, files in os.walk(args.in_dir):
        sources += [osp.join(root, f) for f in files if f.lower().endswith(IMAGE_SUFFIXES)]
    if not sources:
        print(f"error: no images found in '{args.in_dir}'", file=sys.stderr)
        return 2
    unknown_total: Dict[Tuple, int] = {}
    bad_files = []
    for src in sorted(sources):
        rel = osp.splitext(osp.relpath(src, args.in_dir))[0] + args.suffix
        unknown = convert_file(src, osp.join(args.out_dir, rel), palette, args.binary,
                               args.threshold, out_palette)
        if unknown:
            bad_files.append(src)
            for colour, pixels in unknown.items():
                unknown_total[colour] = unknown_total.get(colour, 0) + pixels
    print(f"Converted {len(sources)} masks into {args.out_dir}")
    if unknown_total:
        top = sorted(unknown_total.items(), key=lambda kv: -kv[1])[:10]
        print(f"{len(bad_files)} file(s) hold colours that are in no palette entry; they became "
              "255 (ignore). Most frequent: " + ", ".join(f"{c}: {n} px" for c, n in top))
        if args.strict:
            print("error: --strict: unknown colours in " + ", ".join(bad_files[:10]),
                  file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
