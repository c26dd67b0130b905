"""Test-time ensemble of several models (MMSegmentation 0.x ``tools/model_ensemble.py``).

Usage:
    python tools/model_ensemble.py --config A.py B.py --checkpoint a.pth b.pth [--aug-test]
        [--out results] [--gpus 0 1] [--device cpu|cuda] [--options k=v ...]

Every image of the first config's ``data.test`` goes through every model; their class
probabilities (softmax at the original image size, averaged over the flips and scales of
``--aug-test``: ratios 0.5-1.75 and a flip) are summed and the argmax is written as a grey-level
PNG ``<out>/<label file name>`` (MMSeg's naming: the basename of the image's ``seg_map``).
Model ``i`` runs on GPU ``gpus[i % len(gpus)]`` with CUDA, else on the CPU. All models must
predict the same classes. ``--options`` (a seglab addition) applies to every config.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from seglab.apis.cli import run_tool  # noqa: E402
from seglab.config import add_cfg_options_args  # noqa: E402
from seglab.errors import ConfigError  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Model Ensemble with logits result")
    parser.add_argument("--config", type=str, nargs="+", help="ensemble config files path")
    parser.add_argument("--checkpoint", type=str, nargs="+", help="ensemble checkpoint files path")
    parser.add_argument("--aug-test", action="store_true", help="control ensemble aug-result or "
                        "single-result (default)")
    parser.add_argument("--out", type=str, default="results", help="the dir to save result")
    parser.add_argument("--gpus", type=int, nargs="+", default=[0], help="id of gpu to use")
    parser.add_argument("--device", default=None,
                        help="cpu or cuda (default: cuda when available, else cpu)")
    add_cfg_options_args(parser)
    args = parser.parse_args(argv)
    if not args.config or not args.checkpoint:
        raise ConfigError("Give the models: --config A.py [B.py ...] --checkpoint a.pth "
                          "[b.pth ...] (one checkpoint per config).")
    if len(args.config) != len(args.checkpoint):
        raise ConfigError(f"Ensemble about configs and checkpoints must be the same: "
                          f"{len(args.config)} --config and {len(args.checkpoint)} --checkpoint.")
    if not args.out:
        raise ConfigError("ensemble result out-dir can't be None: give --out DIR.")
    return args


def load_test_config(path: str, args: argparse.Namespace):
    """A config with ``--options`` applied, ready to test (MMSeg's augmentation switch:
    ratios 0.5-1.75 with flip, or the single scale without flip)."""
    from seglab.apis.cli import prepare_test_config
    from seglab.config import load_config

    cfg = load_config(path, args.cfg_options)  # a MMSeg 1.x config: its 0.x form
    aug_test = args.aug_test
    prepare_test_config(cfg, aug_test=aug_test)
    aug = cfg.data.test.pipeline[1] if len(cfg.data.test.get("pipeline", [])) > 1 else None
    if not aug_test and aug is not None and aug.get("type") == "MultiScaleFlipAug":
        aug["img_ratios"] = [1.0]
        aug["flip"] = False
    return cfg


def ensemble_probs(models, batch):
    """The sum over ``models`` of their class probabilities, averaged over the augmentations.

    Args:
        models: segmentors in eval mode, each on its own device.
        batch: one collated test sample (batch size 1), as the loader gives it.

    Returns:
        (1, C, H, W) on the first model's device, at the original image size.
    """
    from seglab.apis.predict_loop import model_device
    from seglab.datasets import prepare_batch

    total = None
    for model in models:
        device = model_device(model)
        sample = prepare_batch(batch, device)
        imgs, metas = sample["img"], sample["img_metas"]
        if not isinstance(imgs, list):
            imgs, metas = [imgs], [metas]
        probs = sum(model.inference(img, meta, rescale=True) for img, meta in zip(imgs, metas))
        probs = probs / len(imgs)
        if total is None:
            total = probs
        else:
            total += probs.to(total.device)
    return total


def output_name(dataset, index: int) -> str:
    """MMSeg's name of an ensembled prediction: its label file's basename."""
    info = dataset.img_infos[index]
    seg_map = (info.get("ann") or {}).get("seg_map")
    if seg_map:
        return osp.basename(seg_map)
    return osp.splitext(osp.basename(info["filename"]))[0] + ".png"


def main(argv=None) -> int:
    args = parse_args(argv)

    import torch

    from seglab.apis.cli import build_test_loader, build_test_model, resolve_device
    from seglab.apis.predict_loop import loader_batch_indices
    from seglab.apis.progress import Progress
    from seglab.datasets.result_files import save_label_png

    cfg = load_test_config(args.config[0], args)
    dataset, loader = build_test_loader(cfg, batch_size=1)
    base_device = resolve_device(args.device)
    models = []
    for idx, (config, ckpt) in enumerate(zip(args.config, args.checkpoint)):
        model_cfg = load_test_config(config, args)
        device = base_device
        if base_device.type == "cuda":
            device = torch.device("cuda", args.gpus[idx % len(args.gpus)])
        models.append(build_test_model(model_cfg, ckpt, device, dataset, strict=True,
                                       tool="tools/model_ensemble.py"))
    classes = [model.out_channels for model in models]
    if len(set(classes)) > 1:
        raise ConfigError("Ensembled models need the same classes; the models predict "
                          + ", ".join(f"{n} ({c})" for n, c in zip(classes, args.config))
                          + " output channels.")
    os.makedirs(args.out, exist_ok=True)
    progress = Progress(len(dataset), desc="ensemble")
    for batch_indices, batch in zip(loader_batch_indices(loader), loader):
        with torch.inference_mode():
            probs = ensemble_probs(models, batch)
        pred = probs.argmax(dim=1)[0] if probs.shape[1] > 1 else (probs[0, 0] > 0.5).long()
        path = osp.join(args.out, output_name(dataset, batch_indices[0]))
        save_label_png(pred.cpu().numpy(), path)
        progress.update(1)
    progress.close()
    print(f"Wrote the ensembled predictions of {len(args.config)} models for {len(dataset)} "
          f"images to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
