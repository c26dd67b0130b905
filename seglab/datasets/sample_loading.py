"""Run a dataset pipeline in two parts, checking each sample between them.

The leading ``Load*`` transforms (``LoadImageFromFile``, ``LoadAnnotations``) decode the files;
right after them :class:`~seglab.datasets.custom.CustomDataset` checks the sample (image decoded,
label values in range, image and label of the same size) before any augmentation can fail in
an obscure way. Failures of the loaders themselves are re-raised as :class:`DatasetError`
naming the files.
"""
from __future__ import annotations

from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple

from ..errors import DatasetError, SeglabError


def transform_name(transform: Any) -> str:
    """The type name of a transform given as a config dict or as an object."""
    if isinstance(transform, Mapping):
        name = transform.get("type", "")
        return name if isinstance(name, str) else getattr(name, "__name__", "")
    return type(transform).__name__


def split_loading(pipeline: Sequence) -> Tuple[List, List]:
    """Split a pipeline into its leading ``Load*`` transforms and the rest."""
    pipeline = list(pipeline)
    n = 0
    while n < len(pipeline) and transform_name(pipeline[n]).rpartition(".")[2].startswith("Load"):
        n += 1
    return pipeline[:n], pipeline[n:]


def build_compose(pipeline: Sequence) -> Callable:
    """``Compose(pipeline)`` from :mod:`seglab.datasets.transforms`."""
    from .transforms import Compose

    return Compose(list(pipeline))


def load_failure_message(img_path: str, seg_path: Optional[str], error: BaseException) -> str:
    files = f"'{img_path}'" + (f" (label '{seg_path}')" if seg_path else "")
    return (f"Failed to load {files}: {type(error).__name__}: {error}. The file is probably "
            "corrupt or not an image; re-create or remove it. Check the whole dataset with "
            "`python tools/check_dataset.py CONFIG`.")


def run_loading(load: Callable, results: dict, img_path: str, seg_path: Optional[str]) -> dict:
    """Run the loading transforms; turn any failure into a :class:`DatasetError` naming files."""
    try:
        out = load(results)
    except SeglabError:
        raise
    except Exception as e:
        raise DatasetError(load_failure_message(img_path, seg_path, e)) from e
    if out is None:
        return None
    img = out.get("img")
    if img is None or not hasattr(img, "shape"):
        raise DatasetError(f"Image file '{img_path}' could not be decoded (the loader returned "
                           "no image). Re-create or remove it.")
    return out


def add_sample_note(error: BaseException, index: int, img_path: str,
                    seg_path: Optional[str]) -> None:
    """Attach which sample was being prepared to an exception raised by a later transform."""
    if hasattr(error, "add_note"):  # Python >= 3.11; the note shows in worker tracebacks too
        files = f"image '{img_path}'" + (f", label '{seg_path}'" if seg_path else "")
        error.add_note(f"seglab: while preparing sample {index} ({files})")
