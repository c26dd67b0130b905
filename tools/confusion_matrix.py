"""The confusion matrix of saved predictions (MMSegmentation 0.x ``tools/confusion_matrix.py``).

Usage:
    python tools/test.py CONFIG CHECKPOINT --out results.pkl
    python tools/confusion_matrix.py CONFIG results.pkl SAVE_DIR [--show] [--color-theme winter]
        [--title 'Normalized Confusion Matrix'] [--options k=v ...]
    (``--show-dir DIR`` is accepted for SAVE_DIR.)

Writes ``SAVE_DIR/confusion_matrix.png``: rows are the ground-truth classes, columns the
predicted ones, each row normalised to percent of its pixels (a class absent from the ground truth
reads ``n/a``). Ground truth comes from ``data.test`` as the evaluation reads it (label_map,
reduce_zero_label); pixels labelled ``ignore_index`` are left out (MMSeg's tool counts them into
an out-of-range bin and fails). The pickle is read with a loader that only accepts numpy arrays.
Needs matplotlib (``pip install seglab[plot]``).
"""
from __future__ import annotations

import argparse
import os.path as osp
import pickle
import sys
from typing import List, Optional, Sequence

import numpy as np

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from seglab.apis.cli import run_tool  # noqa: E402
from seglab.config import add_cfg_options_args  # noqa: E402
from seglab.errors import ConfigError, DatasetError  # noqa: E402

# The globals a pickled list of numpy arrays needs (numpy 1.x and 2.x module names).
_NUMPY_GLOBALS = {(module, name) for prefix in ("numpy.core", "numpy._core")
                  for module, name in ((f"{prefix}.multiarray", "_reconstruct"),
                                       (f"{prefix}.multiarray", "scalar"),
                                       (f"{prefix}.numeric", "_frombuffer"))}
_NUMPY_GLOBALS |= {("numpy", "ndarray"), ("numpy", "dtype")}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Generate confusion matrix from segmentation results")
    parser.add_argument("config", help="test config file path")
    parser.add_argument("prediction_path", help="prediction path where test .pkl result")
    parser.add_argument("save_dir", nargs="?", default=None,
                        help="directory where confusion matrix will be saved")
    parser.add_argument("--show-dir", default=None, help="the same as save_dir")
    parser.add_argument("--show", action="store_true", help="show confusion matrix")
    parser.add_argument("--color-theme", default="winter", help="theme of the matrix color map")
    parser.add_argument("--title", default="Normalized Confusion Matrix",
                        help="title of the matrix color map")
    add_cfg_options_args(parser)
    args = parser.parse_args(argv)
    if args.save_dir and args.show_dir and args.save_dir != args.show_dir:
        raise ConfigError(f"save_dir {args.save_dir!r} and --show-dir {args.show_dir!r} differ; "
                          "give one of them.")
    args.save_dir = args.save_dir or args.show_dir
    if args.save_dir is None and not args.show:
        raise ConfigError("Nothing to do: give SAVE_DIR (or --show-dir DIR) to write "
                          "confusion_matrix.png, or --show.")
    return args


class _NumpyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _NUMPY_GLOBALS or module == "numpy.dtypes":
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name}")


def load_results(path: str) -> List[np.ndarray]:
    """The label maps ``tools/test.py --out`` pickled: a list of integer arrays."""
    if not osp.isfile(path):
        raise ConfigError(f"Prediction file {path!r} does not exist; write it with "
                          "tools/test.py CONFIG CHECKPOINT --out results.pkl.")
    try:
        with open(path, "rb") as f:
            results = _NumpyUnpickler(f).load()
    except pickle.UnpicklingError as exc:
        raise ConfigError(f"{path!r} is not a pickle of label maps (it needs {exc}); write it "
                          "with tools/test.py --out.") from None
    except (EOFError, ValueError) as exc:
        raise ConfigError(f"{path!r} cannot be read ({exc}); it may be truncated.") from None
    if not isinstance(results, list) or not all(isinstance(r, np.ndarray) for r in results):
        raise ConfigError(f"{path!r} must hold a list of label maps (numpy arrays), as "
                          "tools/test.py --out writes; got another object.")
    return results


def calculate_confusion_matrix(dataset, results: Sequence[np.ndarray]) -> np.ndarray:
    """Pixel counts (C, C), int64: entry [i, j] counts ground truth i predicted as j.

    Args:
        dataset: the test dataset (its ``CLASSES``, ``ignore_index``, ``get_gt_seg_map_by_idx``).
        results: one (H, W) integer label map per image, in dataset order.
    """
    n = len(dataset.CLASSES)
    if len(results) != len(dataset):
        raise DatasetError(f"{len(results)} predictions for {len(dataset)} test images; the "
                           "pickle must come from tools/test.py --out on the same data.test.")
    confusion = np.zeros((n, n), dtype=np.int64)
    for idx, pred in enumerate(results):
        gt = dataset.get_gt_seg_map_by_idx(idx).astype(np.int64)
        if pred.shape != gt.shape:
            raise DatasetError(f"Prediction {idx} has shape {pred.shape}, its label "
                               f"{gt.shape}; predictions must be at the original image size.")
        keep = gt != dataset.ignore_index
        gt, pred = gt[keep], pred[keep].astype(np.int64)
        if pred.size and (pred.min() < 0 or pred.max() >= n):
            raise DatasetError(f"Prediction {idx} has class ids outside [0, {n}): "
                               f"{np.unique(pred[(pred < 0) | (pred >= n)]).tolist()[:10]}.")
        confusion += np.bincount(n * gt + pred, minlength=n * n).reshape(n, n)
    return confusion


def plot_confusion_matrix(confusion_matrix: np.ndarray, labels: Sequence[str],
                          save_dir: Optional[str] = None, show: bool = True,
                          title: str = "Normalized Confusion Matrix",
                          color_theme: str = "winter") -> Optional[str]:
    """Draw the row-normalised matrix as MMSeg lays it out; the PNG path when saved."""
    from seglab.visualization.figures import import_pyplot, save_figure

    plt = import_pyplot("tools/confusion_matrix.py", show=show)
    from matplotlib.ticker import MultipleLocator

    try:
        cmap = plt.get_cmap(color_theme)
    except ValueError:
        raise ConfigError(f"--color-theme {color_theme!r} is not a matplotlib colormap; e.g. "
                          "winter, viridis, Blues.") from None
    with np.errstate(invalid="ignore", divide="ignore"):
        percent = confusion_matrix / confusion_matrix.sum(axis=1, keepdims=True) * 100
    n = len(labels)
    fig, ax = plt.subplots(figsize=(2 * n, 2 * n * 0.8), dpi=180)
    im = ax.imshow(percent, cmap=cmap)
    fig.colorbar(mappable=im, ax=ax)
    ax.set_title(title, fontdict={"weight": "bold", "size": 12})
    ax.set_ylabel("Ground Truth Label", fontdict={"size": 10})
    ax.set_xlabel("Prediction Label", fontdict={"size": 10})
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MultipleLocator(1))
        axis.set_minor_locator(MultipleLocator(0.5))
    ax.grid(True, which="minor", linestyle="-")
    ax.set_xticks(np.arange(n))
    ax.set_yticks(np.arange(n))
    ax.set_xticklabels(labels)
    ax.set_yticklabels(labels)
    ax.tick_params(axis="x", bottom=False, top=True, labelbottom=False, labeltop=True)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="left", rotation_mode="anchor")
    for i in range(n):
        for j in range(n):
            text = "n/a" if np.isnan(percent[i, j]) else f"{round(float(percent[i, j]), 2)}%"
            ax.text(j, i, text, ha="center", va="center", color="w", size=7)
    ax.set_ylim(n - 0.5, -0.5)
    fig.tight_layout()
    out_file = None
    if save_dir is not None:
        out_file = osp.join(save_dir, "confusion_matrix.png")
        save_figure(fig, out_file)
    if show:
        plt.show()
    plt.close(fig)
    return out_file


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.show:
        from seglab.visualization.figures import require_figure_window

        require_figure_window("SAVE_DIR (or --show-dir DIR) without --show")
    from seglab.config import load_config
    from seglab.datasets import build_dataset

    cfg = load_config(args.config, args.cfg_options)  # a MMSeg 1.x config: its 0.x form
    results = load_results(args.prediction_path)
    dataset = build_dataset(cfg.data.test, dict(test_mode=True))
    confusion = calculate_confusion_matrix(dataset, results)
    out_file = plot_confusion_matrix(confusion, dataset.CLASSES, save_dir=args.save_dir,
                                     show=args.show, title=args.title,
                                     color_theme=args.color_theme)
    if out_file is not None:
        print(f"Wrote the confusion matrix of {len(results)} images to {out_file}")
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
