"""``CustomDataset``: image/label pairs in two folders, as MMSegmentation 0.x lays them out.

.. code-block:: none

    data_root/img_dir/xxx{img_suffix}      data_root/ann_dir/xxx{seg_map_suffix}

With ``split`` (a text file of ``xxx`` names, or a list of such files) only the listed names are
used; without it every file under ``img_dir`` ending in ``img_suffix`` is (recursively, sorted).
"""
from __future__ import annotations

import logging
import os
import os.path as osp
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from torch.utils.data import Dataset

from ..errors import ConfigError, DatasetError, SeglabError
from ..registry import DATASETS, TRANSFORMS, build_from_cfg
from .declared_defaults import declare_constructor
from .label_check import (BinaryMaskWarner, check_label_values, require_file,
                          size_mismatch_message)
from .metrics_report import num_classes_or_raise, summarize_metrics
from .sample_loading import (add_sample_note, build_compose, load_failure_message, run_loading,
                             split_loading)

logger = logging.getLogger("seglab")

Palette = Union[Sequence[Sequence[int]], np.ndarray]
ALLOWED_METRICS = ("mIoU", "mDice", "mFscore")


def _read_lines(path: str, what: str) -> List[str]:
    if not osp.isfile(path):
        raise DatasetError(f"{what} '{path}' does not exist. Check `split` and `data_root` in the "
                           "data config (`ann_file` and `data_root` of the dataloader's dataset "
                           "in a MMSegmentation 1.x config; relative paths are joined to "
                           "data_root).")
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


@DATASETS.register_module()
class CustomDataset(Dataset):
    """Semantic segmentation dataset of MMSegmentation 0.x.

    Args:
        pipeline: transforms (config dicts or callables) that turn a sample into model inputs.
        img_dir: image folder (joined to ``data_root`` when relative).
        img_suffix: image file suffix, extension included.
        ann_dir: label folder; None for a dataset without labels.
        seg_map_suffix: label file suffix, extension included.
        split: text file (or list of files) of sample names without suffix.
        data_root: folder that relative ``img_dir``, ``ann_dir`` and ``split`` are joined to.
        test_mode: ``__getitem__`` runs the test pipeline (no label loading).
        ignore_index: label value excluded from loss and metrics.
        reduce_zero_label: the ground truth used for evaluation maps 0 to ignore and shifts the
            other labels down by one (ADE20K); the pipeline's ``LoadAnnotations`` has its own flag.
        classes: a subset (or reordering) of ``CLASSES``, or a file with one name per line;
            labels are re-mapped with :attr:`label_map` (dropped classes become 255).
        palette: colours per class (default ``PALETTE``, else a fixed random palette).
        gt_seg_map_loader_cfg: extra ``LoadAnnotations`` arguments for loading the evaluation
            ground truth.
        file_client_args: only ``dict(backend='disk')`` is supported.
    """

    CLASSES: Optional[Tuple[str, ...]] = None
    PALETTE: Optional[Palette] = None
    PREPARE_HINT = "Prepare the dataset (see tools/convert_datasets/)"
    # A named dataset declares only how its constructor differs (see declared_defaults.py).
    DEFAULTS: Mapping[str, Any] = {}
    FIXED: Mapping[str, Any] = {}
    REQUIRED: Tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        declare_constructor(cls)

    def __init__(self, pipeline: Sequence, img_dir: str, img_suffix: str = ".jpg",
                 ann_dir: Optional[str] = None, seg_map_suffix: str = ".png",
                 split: Union[str, Sequence[str], None] = None, data_root: Optional[str] = None,
                 test_mode: bool = False, ignore_index: int = 255,
                 reduce_zero_label: bool = False,
                 classes: Union[str, Sequence[str], None] = None,
                 palette: Optional[Palette] = None,
                 gt_seg_map_loader_cfg: Optional[Mapping] = None,
                 file_client_args: Optional[Mapping] = None):
        if file_client_args is not None and dict(file_client_args).get("backend", "disk") != "disk":
            raise ConfigError(f"file_client_args={dict(file_client_args)!r}: seglab reads files "
                              "from the local disk only; remove file_client_args.")
        for key, value in (("img_dir", img_dir), ("ann_dir", ann_dir)):
            if isinstance(value, (list, tuple)):
                raise DatasetError(
                    f"{type(self).__name__} got a list {key}={list(value)!r}; lists of folders "
                    "(as in the VOC aug configs) are handled by build_dataset(cfg), which builds "
                    "one dataset per entry and concatenates them.")
        self.pipeline_cfg = list(pipeline)
        self.pipeline = build_compose(self.pipeline_cfg)
        # The same transform objects, in two parts: the sample is checked between them.
        load_part, rest = split_loading(self.pipeline.transforms)
        self._load_pipeline = build_compose(load_part)
        self._aug_pipeline = build_compose(rest) if rest else None
        self.img_dir = img_dir
        self.img_suffix = img_suffix
        self.ann_dir = ann_dir
        self.seg_map_suffix = seg_map_suffix
        self.split = split
        self.data_root = data_root
        self.test_mode = test_mode
        self.ignore_index = ignore_index
        self.reduce_zero_label = reduce_zero_label
        self.label_map: Optional[Dict[int, int]] = None
        self.CLASSES, self.PALETTE = self.get_classes_and_palette(classes, palette)
        loader_cfg = {"type": "LoadAnnotations", "reduce_zero_label": reduce_zero_label,
                      **dict(gt_seg_map_loader_cfg or {})}
        self.gt_seg_map_loader = build_from_cfg(loader_cfg, TRANSFORMS,
                                                key="gt_seg_map_loader_cfg")
        self._binary_warner = BinaryMaskWarner()
        if test_mode and self.CLASSES is None:
            raise DatasetError(f"{type(self).__name__} in test mode needs class names: set "
                               "`classes=(...)` in its config.")

        if self.data_root is not None:
            self.img_dir = self._join_root(self.img_dir)
            self.ann_dir = None if self.ann_dir is None else self._join_root(self.ann_dir)
            if isinstance(self.split, str):
                self.split = self._join_root(self.split)
            elif self.split is not None:
                self.split = [self._join_root(s) for s in self.split]
        self._check_dirs()
        self.img_infos = self.load_annotations(self.img_dir, self.img_suffix, self.ann_dir,
                                               self.seg_map_suffix, self.split)

    # ----------------------------------------------------------------------------- listing
    def _join_root(self, path: str) -> str:
        return path if osp.isabs(path) else osp.join(self.data_root, path)

    def _check_dirs(self) -> None:
        if not osp.isdir(self.img_dir):
            raise DatasetError(
                f"img_dir '{self.img_dir}' of {type(self).__name__} does not exist (data_root="
                f"{self.data_root!r}, current directory '{os.getcwd()}'). {self.PREPARE_HINT}, "
                "or fix data_root / img_dir in the config (data_root / data_prefix.img_path "
                "of the dataloader's dataset in a MMSegmentation 1.x config).")
        if self.ann_dir is not None and not self.test_mode and not osp.isdir(self.ann_dir):
            raise DatasetError(
                f"ann_dir '{self.ann_dir}' of {type(self).__name__} does not exist (data_root="
                f"{self.data_root!r}). Fix ann_dir in the config (data_prefix.seg_map_path in "
                "a MMSegmentation 1.x config), or set ann_dir=None for a dataset without labels.")

    def __len__(self) -> int:
        return len(self.img_infos)

    def load_annotations(self, img_dir: str, img_suffix: str, ann_dir: Optional[str],
                         seg_map_suffix: str, split: Union[str, Sequence[str], None]) -> List[dict]:
        """List the samples: ``[{'filename': 'xxx.jpg', 'ann': {'seg_map': 'xxx.png'}}, ...]``."""
        img_infos = []
        if split is not None:
            for split_file in [split] if isinstance(split, str) else list(split):
                for name in _read_lines(split_file, "Split file"):
                    info: Dict[str, Any] = dict(filename=name + img_suffix)
                    if ann_dir is not None:
                        info["ann"] = dict(seg_map=name + seg_map_suffix)
                    img_infos.append(info)
        else:
            for root, _, files in os.walk(img_dir, followlinks=True):
                for fname in files:
                    if not fname.endswith(img_suffix):
                        continue
                    rel = osp.relpath(osp.join(root, fname), img_dir)
                    info = dict(filename=rel)
                    if ann_dir is not None:
                        stem = rel[:len(rel) - len(img_suffix)]
                        info["ann"] = dict(seg_map=stem + seg_map_suffix)
                    img_infos.append(info)
            img_infos.sort(key=lambda x: x["filename"])
        logger.info("Loaded %d images from %s", len(img_infos), img_dir)
        return img_infos

    def get_ann_info(self, idx: int) -> dict:
        """The annotation dict (``{'seg_map': ...}``) of sample ``idx``."""
        info = self.img_infos[idx]
        if "ann" not in info:
            raise DatasetError(f"{type(self).__name__} has no labels (ann_dir is None), so sample "
                               f"{idx} ('{info['filename']}') has no annotation. Set ann_dir.")
        return info["ann"]

    def sample_paths(self, idx: int) -> Tuple[str, Optional[str]]:
        """(image path, label path or None) of sample ``idx``."""
        info = self.img_infos[idx]
        img = osp.join(self.img_dir, info["filename"]) if self.img_dir else info["filename"]
        seg = None
        if "ann" in info:
            seg_map = info["ann"]["seg_map"]
            seg = osp.join(self.ann_dir, seg_map) if self.ann_dir else seg_map
        return img, seg

    # ------------------------------------------------------------------------ samples
    def pre_pipeline(self, results: dict) -> None:
        """Add the keys that the loading transforms read."""
        results["seg_fields"] = []
        results["img_prefix"] = self.img_dir
        results["seg_prefix"] = self.ann_dir
        if self.custom_classes:
            results["label_map"] = self.label_map

    def __getitem__(self, idx: int):
        if self.test_mode:
            return self.prepare_test_img(idx)
        return self.prepare_train_img(idx)

    def prepare_train_img(self, idx: int):
        """Load sample ``idx`` with its label, check it, and run the training pipeline."""
        img_path, seg_path = self.sample_paths(idx)
        results = dict(img_info=self.img_infos[idx], ann_info=self.get_ann_info(idx))
        return self._run_pipeline(results, idx, img_path, seg_path, check_label=True)

    def prepare_test_img(self, idx: int):
        """Load sample ``idx`` (no label) and run the test pipeline."""
        img_path, _ = self.sample_paths(idx)
        results = dict(img_info=self.img_infos[idx])
        return self._run_pipeline(results, idx, img_path, None, check_label=False)

    def _run_pipeline(self, results: dict, idx: int, img_path: str, seg_path: Optional[str],
                      check_label: bool):
        self.pre_pipeline(results)
        require_file(img_path, "Image")
        if check_label and seg_path is not None:
            require_file(seg_path, "Label")
        results = run_loading(self._load_pipeline, results, img_path, seg_path)
        if results is None:
            return None
        if check_label and "gt_semantic_seg" in results:
            self._check_loaded_label(results, img_path, seg_path)
        if self._aug_pipeline is None:
            return results
        try:
            return self._aug_pipeline(results)
        except Exception as e:
            add_sample_note(e, idx, img_path, seg_path)
            raise

    def _check_loaded_label(self, results: dict, img_path: str, seg_path: str) -> None:
        img_hw = tuple(results["img"].shape[:2])
        seg = np.asarray(results["gt_semantic_seg"])
        if tuple(seg.shape[:2]) != img_hw:
            raise DatasetError(size_mismatch_message(img_path, img_hw, seg_path, seg.shape[:2]))
        num_classes = None if self.CLASSES is None else len(self.CLASSES)
        counts = check_label_values(seg, seg_path, num_classes, self.ignore_index,
                                    type(self).__name__)
        self._binary_warner.update(counts, seg_path, num_classes, self.ignore_index)

    # ---------------------------------------------------------------------- evaluation
    def get_gt_seg_map_by_idx(self, index: int) -> np.ndarray:
        """The evaluation ground truth of sample ``index`` (label_map, reduce_zero_label done)."""
        results = dict(ann_info=self.get_ann_info(index))
        self.pre_pipeline(results)
        seg_path = self.sample_paths(index)[1]
        require_file(seg_path, "Label")
        try:
            results = self.gt_seg_map_loader(results) or results
        except SeglabError:
            raise
        except Exception as e:
            raise DatasetError(load_failure_message(seg_path, None, e)) from e
        seg = results["gt_semantic_seg"]
        num_classes = None if self.CLASSES is None else len(self.CLASSES)
        check_label_values(seg, seg_path, num_classes, self.ignore_index, type(self).__name__)
        return seg

    def get_gt_seg_maps(self, efficient_test: Optional[bool] = None) -> Iterator[np.ndarray]:
        """Yield the ground truth of every sample (a generator: one map in memory at a time)."""
        for idx in range(len(self)):
            yield self.get_gt_seg_map_by_idx(idx)

    def pre_eval(self, preds, indices) -> list:
        """Per-image (area_intersect, area_union, area_pred, area_label) for evaluation.

        Args:
            preds: one predicted label map (H, W) or a list of them.
            indices: the dataset index (or list of indices) of each prediction.

        Returns:
            list of 4-tuples of (num_classes,) tensors, one per prediction.
        """
        from ..evaluation import intersect_and_union

        if not isinstance(indices, list):
            indices = [indices]
        if not isinstance(preds, list):
            preds = [preds]
        num_classes = num_classes_or_raise(self.CLASSES, type(self).__name__)
        return [
            # label_map and reduce_zero_label were applied by the ground-truth loader already.
            intersect_and_union(pred, self.get_gt_seg_map_by_idx(index), num_classes,
                                self.ignore_index, label_map=dict(), reduce_zero_label=False)
            for pred, index in zip(preds, indices)]

    def evaluate(self, results: list, metric: Union[str, Sequence[str]] = "mIoU",
                 logger=None, gt_seg_maps=None, **kwargs) -> Dict[str, float]:
        """Compute mIoU / mDice / mFscore, print MMSeg's tables and return the flat dict.

        Args:
            results: ``pre_eval`` results (list of 4-tuples), or predicted label maps (arrays or
                .npy paths) in dataset order.
            metric: one of, or a list of, 'mIoU', 'mDice', 'mFscore'.
            logger: a Logger, a logger name, 'silent', or None to print.
            gt_seg_maps: ground truths matching ``results`` (default: this dataset's).
            **kwargs: ``nan_to_num`` and ``beta`` go to the metric functions; the deprecated
                ``efficient_test`` is ignored.
        """
        from ..evaluation import eval_metrics, pre_eval_to_metrics

        metrics = [metric] if isinstance(metric, str) else list(metric)
        unknown = [m for m in metrics if m not in ALLOWED_METRICS]
        if unknown:
            raise KeyError(f"metric {unknown} is not supported; use {list(ALLOWED_METRICS)}.")
        extra = {k: kwargs.pop(k) for k in ("nan_to_num", "beta") if k in kwargs}
        kwargs.pop("efficient_test", None)
        if kwargs:
            raise TypeError(f"{type(self).__name__}.evaluate() got unexpected arguments "
                            f"{sorted(kwargs)}; accepted: metric, logger, gt_seg_maps, "
                            "nan_to_num, beta.")
        num_classes = num_classes_or_raise(self.CLASSES, type(self).__name__)
        if results and all(isinstance(r, (np.ndarray, str)) for r in results):
            if gt_seg_maps is None:
                gt_seg_maps = self.get_gt_seg_maps()
            ret_metrics = eval_metrics(results, gt_seg_maps, num_classes, self.ignore_index,
                                       metrics, label_map=dict(), reduce_zero_label=False,
                                       **extra)
        else:
            ret_metrics = pre_eval_to_metrics(results, metrics, **extra)
        return summarize_metrics(ret_metrics, self.CLASSES, logger)

    def format_results(self, results: list, imgfile_prefix: str,
                       indices: Optional[List[int]] = None) -> List[str]:
        """Write predicted label maps as palette PNGs ``<imgfile_prefix>/<image name>.png``."""
        from .result_files import write_label_pngs

        return write_label_pngs(self, results, imgfile_prefix, indices)

    # --------------------------------------------------------------------- classes
    def get_classes_and_palette(self, classes: Union[str, Sequence[str], None] = None,
                                palette: Optional[Palette] = None):
        """Class names and palette, with :attr:`label_map` set when ``classes`` is a subset.

        Args:
            classes: None (use ``CLASSES``), a file with one name per line, or names.
            palette: colours per class; None keeps ``PALETTE`` (or a fixed random palette).
        """
        if classes is None:
            self.custom_classes = False
            return self.CLASSES, self.PALETTE
        self.custom_classes = True
        if isinstance(classes, str):
            class_names = tuple(_read_lines(classes, "Class-name file"))
        elif isinstance(classes, (tuple, list)):
            class_names = tuple(classes)
        else:
            raise DatasetError(f"classes must be a file name or a list of names, got "
                               f"{type(classes).__name__}: {classes!r}")
        if self.CLASSES:
            unknown = [c for c in class_names if c not in self.CLASSES]
            if unknown:
                raise DatasetError(
                    f"classes {unknown} are not classes of {type(self).__name__}; `classes` must "
                    f"be a subset of {list(self.CLASSES)}.")
            # old label id -> new label id; classes left out become 255 (ignored).
            self.label_map = {i: (class_names.index(c) if c in class_names else 255)
                              for i, c in enumerate(self.CLASSES)}
        return class_names, self.get_palette_for_custom_classes(class_names, palette)

    def get_palette_for_custom_classes(self, class_names: Sequence[str],
                                       palette: Optional[Palette] = None):
        """The palette of ``class_names``: ``palette``, else the kept rows of ``PALETTE``."""
        if palette is not None:
            return palette
        if self.label_map is not None:
            kept = sorted((new, old) for old, new in self.label_map.items() if new != 255)
            rows = [self.PALETTE[old] for _, old in kept]
            return np.asarray(rows) if isinstance(self.PALETTE, np.ndarray) else \
                type(self.PALETTE)(rows)
        if self.PALETTE is not None:
            return self.PALETTE
        # A fixed seed so every process (and every run) draws the same colours.
        return np.random.RandomState(42).randint(0, 255, size=(len(class_names), 3))
