"""``tools/test.py --show / --show-dir`` for a MMSegmentation 1.x config, as 1.x does it.

1.x's tools/test.py turns on the config's ``SegVisualizationHook``, which paints the result of
every ``interval``-th test batch (50 by default; the 1.x test loaders hold one image per batch)
with ``SegLocalVisualizer.add_datasample``: the ground truth beside the prediction, blended with
``visualizer.alpha`` (0.8), class names written in. ``--show-dir DIR`` is the visualizer's
``save_dir``: the images are ``DIR/vis_data/vis_image/test_<image file name>_0.png`` (the step
is the runner's iteration, 0 when testing; a relative DIR is taken from the current folder, as
1.2.2 does, although its ``--help`` says ``work_dir/timestamp/DIR``). ``--show`` opens a window
per painted image for ``--wait-time`` seconds (2 by default); with both flags seglab also writes
the files (1.x's hook then drops its file backends and writes none).

The converter (:mod:`seglab.config.v1x_schedule`) writes what the run needs into one key of the
converted config, ``visualization_1x = dict(interval=..., alpha=...)``; 0.x configs have no such
key and keep 0.x's overlays (:class:`seglab.apis.test.OverlayWriter`).
"""
from __future__ import annotations

import os.path as osp
from typing import Any, Mapping, Optional

import numpy as np

from ..errors import ConfigError, DatasetError
from .outputs import as_label_map
from .predict_loop import unwrap_model


class DataSampleWriter:
    """Paints results as 1.x's visualization hook does (a ``run_test`` painter).

    Args:
        dataset: the test dataset (class names, palette, ground truth by index).
        show_dir: 1.x's ``--show-dir`` (the images go to ``show_dir/vis_data/vis_image``); None:
            no files.
        show: also show each image in a window.
        interval: paint the images whose 1-based position is a multiple of it.
        alpha: weight of the colours.
        wait_time: seconds each window stays (0: until a key is pressed).
        classes, palette: default the dataset's.
    """

    def __init__(self, dataset, show_dir: Optional[str], show: bool = False, interval: int = 50,
                 alpha: float = 0.8, wait_time: float = 2.0, classes=None, palette=None):
        from ..visualization import require_display, resolve_palette

        if not isinstance(interval, int) or interval <= 0:
            raise ConfigError(f"default_hooks.visualization.interval must be a positive int, "
                              f"got {interval!r}.")
        if not 0 < alpha <= 1:
            raise ConfigError(f"visualizer.alpha / --opacity {alpha}: must be in (0, 1].")
        if show:
            require_display()
        self.dataset, self.show, self.interval = dataset, show, interval
        self.alpha, self.wait_time = alpha, wait_time
        self.classes = classes if classes is not None else getattr(dataset, "CLASSES", None)
        if not self.classes:
            raise ConfigError("Painting 1.x results needs the class names: the test dataset has "
                              "no CLASSES (set `metainfo=dict(classes=...)` in its config).")
        palette = palette if palette is not None else getattr(dataset, "PALETTE", None)
        self.palette = resolve_palette(palette, len(self.classes))
        self.folder = None if show_dir is None else osp.join(show_dir, "vis_data", "vis_image")

    def describe(self) -> str:
        """Where the images went and which were painted (for the tool's last log line)."""
        which = "every image" if self.interval == 1 else \
            f"every {self.interval}th image (default_hooks.visualization.interval, as 1.x)"
        return f"{self.folder}, {which}"

    def _ground_truth(self, index: int, shape) -> Optional[np.ndarray]:
        """The label map of image ``index`` at the prediction's size; None when the dataset has
        none for it (1.x then paints the prediction alone)."""
        try:
            gt = self.dataset.get_gt_seg_map_by_idx(index)
        except (DatasetError, AttributeError, KeyError, TypeError):
            return None
        return gt if gt is not None and gt.shape == tuple(shape) else None

    def __call__(self, index: int, pred: Any, meta: Mapping) -> Optional[str]:
        from ..visualization.datasample import draw_datasample
        from ..visualization.display import imshow, seconds_to_ms
        from ..visualization.overlay import _load_image, write_image

        if (index + 1) % self.interval:
            return None
        filename = meta.get("filename")
        if filename is None:
            raise ConfigError(f"Sample {index} has no 'filename' in its img_metas; 1.x's "
                              "PackSegInputs keeps it.")
        image = _load_image(filename)[..., ::-1]  # BGR file -> RGB, as 1.x reads it
        seg = as_label_map(pred, np.dtype(np.int64))
        drawn = draw_datasample(image, seg, self.classes, self.palette,
                                gt=self._ground_truth(index, seg.shape), alpha=self.alpha)
        bgr = np.ascontiguousarray(drawn[..., ::-1])
        name = f"test_{osp.basename(filename)}"
        if self.show:
            imshow(bgr, win_name=name, wait_time=seconds_to_ms(self.wait_time))
        if self.folder is None:
            return None
        out_file = osp.join(self.folder, f"{name}_0.png")
        write_image(bgr, out_file)  # creates the folder
        return out_file


def painter_for(cfg: Mapping[str, Any], model, dataset, show: bool, show_dir: Optional[str],
                opacity: Optional[float], wait_time: Optional[float]):
    """1.x's painter for ``tools/test.py`` when ``cfg`` came from a 1.x config and something is
    to be painted, else None (0.x's overlays). ``opacity`` (``--opacity``) overrides the
    visualizer's alpha; ``wait_time`` None: 1.x's 2 seconds."""
    vis = cfg.get("visualization_1x")
    if vis is None or not (show or show_dir):
        return None
    module = unwrap_model(model)
    return DataSampleWriter(
        dataset, show_dir, show=show, interval=vis.get("interval", 50),
        alpha=vis.get("alpha", 0.8) if opacity is None else opacity,
        wait_time=2.0 if wait_time is None else wait_time,
        # 1.x's visualizer takes the test dataset's metainfo; the checkpoint's when it has none
        classes=getattr(dataset, "CLASSES", None) or getattr(module, "CLASSES", None),
        palette=next((p for p in (getattr(dataset, "PALETTE", None),
                                  getattr(module, "PALETTE", None)) if p is not None), None))
