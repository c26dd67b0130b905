"""Python API: build a segmentor from a config and checkpoint, run it on images, paint results.

MMSegmentation 0.x ``mmseg.apis.inference`` names and behaviour::

    model = init_segmentor('configs/fcn/fcn_r50-d8_512x512_20k_voc12aug.py', 'fcn.pth', 'cpu')
    result = inference_segmentor(model, 'demo.jpg')          # [label map (H, W)]
    show_result_pyplot(model, 'demo.jpg', result, out_file='overlay.png')
"""
from __future__ import annotations

import logging
import os
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, DatasetError
from .batching import forward_test_batch
from .test import model_device, unwrap_model

ImageLike = Union[str, os.PathLike, np.ndarray]
logger = logging.getLogger("seglab")


def _load_config(config: Any, cfg_options: Optional[Mapping[str, Any]] = None):
    from ..config import Config, load_config

    if isinstance(config, (str, os.PathLike)):
        config = Config.fromfile(os.fspath(config))
    elif not isinstance(config, Config):
        raise TypeError(f"config must be a filename or a Config object, got "
                        f"{type(config).__name__}")
    return load_config(config, cfg_options)  # a MMSegmentation 1.x config: its 0.x form


def _dataset_classes(cfg) -> Tuple[Optional[Sequence[str]], Any]:
    """CLASSES and PALETTE that the config's test dataset would have, without reading any file."""
    from ..datasets import CustomDataset  # noqa: F401  (registers the dataset classes)
    from ..registry import DATASETS

    data = cfg.get("data") or {}
    test = data.get("test") if isinstance(data, Mapping) else None
    if isinstance(test, (list, tuple)):
        test = test[0] if test else None
    if not isinstance(test, Mapping):
        return None, None
    if test.get("type") in ("RepeatDataset",) and isinstance(test.get("dataset"), Mapping):
        test = test["dataset"]
    classes = test.get("classes")
    palette = test.get("palette")
    cls = DATASETS.get(test["type"]) if isinstance(test.get("type"), str) and \
        test["type"] in DATASETS else None
    if classes is None and cls is not None:
        classes = getattr(cls, "CLASSES", None)
    if palette is None and cls is not None and (classes is None or
                                                tuple(classes) == tuple(cls.CLASSES or ())):
        palette = getattr(cls, "PALETTE", None)
    if isinstance(classes, str):  # a file of names: left to the dataset to read
        classes = None
    return (tuple(classes) if classes is not None else None), palette


def init_segmentor(config: Any, checkpoint: Optional[str] = None,
                   device: Union[str, torch.device] = "cuda:0",
                   cfg_options: Optional[Mapping[str, Any]] = None,
                   strict: bool = False, precision: Optional[str] = None,
                   fuse_conv_bn: Optional[bool] = None, channels_last: Optional[bool] = None,
                   compile: Union[bool, str] = False) -> nn.Module:  # noqa: A002
    """Build a segmentor for inference from a config file (or Config) and a checkpoint.

    As MMSeg 0.x: ``model.pretrained`` and ``model.train_cfg`` are dropped, the checkpoint is
    loaded on the CPU, ``CLASSES`` / ``PALETTE`` come from its ``meta`` (else from the config's
    test dataset), the config is kept as ``model.cfg``, and the model is moved to ``device`` in
    eval mode.

    Args:
        config: config file path or :class:`~seglab.config.Config`.
        checkpoint: checkpoint path (or model-zoo name); None keeps the initial weights.
        device: e.g. ``'cpu'``, ``'cuda:0'``.
        cfg_options: overrides merged into the config (``{'model.test_cfg.mode': 'slide'}``).
        strict: fail (:class:`~seglab.errors.CheckpointError`, listing the keys) when the
            checkpoint does not match the model exactly (e.g. another ``num_classes``).
        precision: 'fp32', 'bf16' or 'fp16' autocast of the network for every later
            inference (``model.test_cfg.precision``; None: the config's, else fp32); see
            :mod:`seglab.utils.precision` for where each one runs natively.
        fuse_conv_bn, channels_last: float32 fast paths; None (default): the config's
            ``model.test_cfg.fuse_conv_bn`` / ``channels_last``, else BN folding OFF (the
            returned model keeps the checkpoint's layers and state_dict, as MMSeg's; pass
            ``fuse_conv_bn=True`` for a faster inference-only model whose BN layers are folded
            and auxiliary heads dropped) and channels_last on for convolutional backbones
            (:func:`seglab.apis.fast_paths.resolve_fast_paths`; the memory format changes no
            key or value); False turns one off.
        compile: ``torch.compile`` the network (off by default), see
            :func:`seglab.apis.fast_paths.optimize_for_inference`.

    Returns:
        The model.
    """
    cfg = _load_config(config, cfg_options)
    if precision is not None:
        from ..utils.precision import set_test_precision

        set_test_precision(cfg, precision)
    model, meta = build_and_load(cfg, checkpoint, strict)
    if meta.get("CLASSES") is not None:
        model.CLASSES, model.PALETTE = tuple(meta["CLASSES"]), meta.get("PALETTE")
    else:
        model.CLASSES, model.PALETTE = _dataset_classes(cfg)
    model.to(device)
    model.eval()
    from .fast_paths import optimize_for_inference, resolve_fast_paths

    options = resolve_fast_paths(model, fuse_conv_bn, channels_last, fuse_default=False)
    return optimize_for_inference(model, compile=compile, **options)


def build_and_load(cfg, checkpoint: Optional[str], strict: bool) -> Tuple[nn.Module, dict]:
    """Build ``cfg.model`` for testing and load ``checkpoint``; returns (model, checkpoint meta).

    ``model.pretrained`` and ``model.train_cfg`` are set to None (the weights come from the
    checkpoint, and building never reads a pretrained file); the config is kept as
    ``model.cfg``.
    """
    from ..checkpoint import load_checkpoint
    from ..config.v1x import checkpoint_meta
    from ..models import build_segmentor

    if "model" not in cfg:
        raise ConfigError("The config has no `model` section; is it a segmentation config?")
    cfg.model.pretrained = None
    cfg.model.train_cfg = None
    model = build_segmentor(cfg.model, test_cfg=cfg.get("test_cfg"))
    meta: dict = {}
    if checkpoint is not None:
        ckpt = load_checkpoint(model, checkpoint, map_location="cpu", strict=strict)
        meta = checkpoint_meta(ckpt.get("meta"))  # 0.x CLASSES/PALETTE or 1.x dataset_meta
    model.cfg = cfg
    return model, meta


class LoadImage:
    """First step of the inference pipeline: take a path or a BGR array (``mmcv.imread``)."""

    def __call__(self, results: dict) -> dict:
        img = results["img"]
        if isinstance(img, (str, os.PathLike)):
            from ..datasets.transforms.loading import imfrombytes, read_bytes

            path = os.fspath(img)
            if not os.path.isfile(path):
                raise DatasetError(f"Image file '{path}' does not exist (current directory "
                                   f"'{os.getcwd()}').")
            results["filename"] = results["ori_filename"] = path
            img = imfrombytes(read_bytes(path, "image file"), "color", "cv2", path, "image file")
        else:
            results["filename"] = results["ori_filename"] = None
            img = np.asarray(img)
            if img.ndim == 2:  # grayscale: as mmcv.imread's 'color' flag would give
                img = np.repeat(img[:, :, None], 3, axis=2)
            if img.ndim != 3 or img.shape[2] != 3:
                raise DatasetError(f"An image array must be (H, W, 3) BGR (or (H, W)), got shape "
                                   f"{img.shape}.")
        results["img"] = img
        results["img_shape"] = results["ori_shape"] = results["pad_shape"] = img.shape
        results["scale_factor"] = 1.0
        results["img_norm_cfg"] = dict(mean=np.zeros(3, dtype=np.float32),
                                       std=np.ones(3, dtype=np.float32), to_rgb=False)
        return results


def _test_pipeline(cfg) -> List[Any]:
    try:
        pipeline = list(cfg.data.test.pipeline)
    except (AttributeError, KeyError, TypeError):
        raise ConfigError("inference_segmentor needs data.test.pipeline in the config (the "
                          "model's config, model.cfg).") from None
    if not pipeline:
        raise ConfigError("data.test.pipeline is empty.")
    return [LoadImage()] + pipeline[1:]  # the config's first step loads from the dataset


def inference_segmentor(model: nn.Module, imgs: Union[ImageLike, Sequence[ImageLike]]
                        ) -> List[np.ndarray]:
    """Segment one image or a list of images (file paths or BGR uint8 arrays).

    The images go through the config's test pipeline (``model.cfg.data.test.pipeline``, its
    loading step replaced) and through the network as one batch (images of different sizes in
    same-size groups, so each result equals segmenting that image alone).

    Returns:
        One int64 label map (H, W) per image, at the image's size.
    """
    from ..datasets import collate, prepare_batch
    from ..datasets.transforms import Compose

    cfg = getattr(model, "cfg", None) or getattr(unwrap_model(model), "cfg", None)
    if cfg is None:
        raise ConfigError("model.cfg is missing; build the model with init_segmentor().")
    pipeline = Compose(_test_pipeline(cfg))
    images = list(imgs) if isinstance(imgs, (list, tuple)) else [imgs]
    if not images:
        return []
    batch = collate([pipeline(dict(img=img)) for img in images])
    model.eval()
    with torch.inference_mode():
        batch = prepare_batch(batch, model_device(model))
        return forward_test_batch(model, batch)


def _palette_of(model: nn.Module, palette: Any) -> Any:
    if palette is not None:
        return palette
    return getattr(unwrap_model(model), "PALETTE", None)


def show_result(model: nn.Module, img: ImageLike, result: Any, palette: Any = None,
                opacity: float = 0.5, out_file: Optional[str] = None, show: bool = False,
                win_name: str = "", wait_time: int = 0) -> np.ndarray:
    """Paint ``result`` (a label map, or the list ``inference_segmentor`` returned) over ``img``.

    ``model.show_result`` of MMSeg 0.x as a function: the palette defaults to the model's.

    Returns:
        The blended BGR uint8 image (H, W, 3); also written to ``out_file`` when given.
    """
    from ..visualization import show_result as paint

    return paint(img, result, _palette_of(model, palette), opacity=opacity, out_file=out_file,
                 show=show, win_name=win_name, wait_time=wait_time)


def show_result_pyplot(model: nn.Module, img: ImageLike, result: Any, palette: Any = None,
                       fig_size: Tuple[int, int] = (15, 10), opacity: float = 0.5,
                       title: str = "", block: bool = True,
                       out_file: Optional[str] = None) -> np.ndarray:
    """Show the overlay with matplotlib (MMSeg 0.x), and/or write it to ``out_file``.

    Without a display (or without matplotlib) and with ``out_file``, the window is skipped with
    a log line; with neither, :class:`~seglab.visualization.DisplayUnavailableError` says to pass
    ``out_file``.

    Returns:
        The blended BGR uint8 image (H, W, 3).
    """
    from ..visualization import DisplayUnavailableError, display_problems

    blended = show_result(model, img, result, palette=palette, opacity=opacity,
                          out_file=out_file)
    problems = list(display_problems())
    plt = None
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        problems.append("matplotlib is not installed")
    # matplotlib draws without OpenCV's GUI; only a missing display or matplotlib matters.
    problems = [p for p in problems if "OpenCV" not in p]
    if problems:
        if out_file is not None:
            logger.info("show_result_pyplot: not showing a window (%s); wrote %s",
                        "; ".join(problems), out_file)
            return blended
        raise DisplayUnavailableError("show_result_pyplot cannot open a window: "
                                      + "; ".join(problems) + ". Pass out_file='overlay.png' "
                                      "(demo/image_demo.py: --out-file) to write the result "
                                      "instead.")
    plt.figure(figsize=fig_size)
    plt.imshow(blended[:, :, ::-1])
    plt.title(title)
    plt.tight_layout()
    plt.show(block=block)
    return blended
