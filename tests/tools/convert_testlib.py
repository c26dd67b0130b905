"""Helpers for the dataset converter tests: load a converter, build tiny archives laid out as
the originals are, read outputs back."""
from __future__ import annotations

import importlib.util
import io
import os
import os.path as osp
import tarfile
import zipfile
from typing import Dict, List

import numpy as np
from PIL import Image

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONVERTERS = osp.join(ROOT, "tools", "convert_datasets")

# ISPRS (Potsdam, Vaihingen) label colours, written out from MMSeg's BGR colour_map as RGB.
ISPRS_COLOURS = np.array([[0, 0, 0], [255, 255, 255], [0, 0, 255], [0, 255, 255], [0, 255, 0],
                          [255, 255, 0], [255, 0, 0]], np.uint8)


def isprs_labels(seed: int, h: int = 10, w: int = 12) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 7, (h, w), dtype=np.uint8)


def load_converter(name: str):
    """Import ``tools/convert_datasets/<name>.py`` as a module (to call ``run_main(main, argv)``
    in-process, as the command line does)."""
    path = osp.join(CONVERTERS, f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"convert_tool_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(tool, *argv) -> int:
    return tool.run_main(tool.main, [str(a) for a in argv])


def encode(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array, np.uint8)).save(buffer, format=fmt)
    return buffer.getvalue()


def make_zip(path, members: Dict[str, bytes]) -> str:
    os.makedirs(osp.dirname(str(path)), exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return str(path)


def make_tar(path, members: Dict[str, bytes]) -> str:
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return str(path)


def rgb(seed: int, h: int = 6, w: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def read(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def files(folder) -> List[str]:
    """Sorted file names under ``folder`` (relative, '/' separated)."""
    found = []
    for root, _, names in os.walk(folder):
        found += [osp.relpath(osp.join(root, n), folder).replace(os.sep, "/") for n in names]
    return sorted(found)


def leftovers(parent) -> List[str]:
    """Hidden staging folders a converter left in ``parent`` (there should be none)."""
    return [n for n in os.listdir(parent) if ".partial-" in n]
