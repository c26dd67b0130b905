"""Write dataset samples with their label overlays, as the model sees them after the pipeline.

Usage:
    python tools/browse_dataset.py CONFIG [--output-dir DIR] [--split train] [--num 20]
        [--opacity 0.5] [--seed 0] [--options k=v ...]

For the training split each output shows the augmented image (after the train pipeline, the
normalisation undone) next to it with the augmented label painted over (255 = ignore in a light
colour). The augmentations are seeded per sample from --seed, as in training. For val/test the
original image and its ground truth are shown (test pipelines carry no labels).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

import numpy as np

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from seglab.config import add_cfg_options_args, load_config  # noqa: E402
from seglab.errors import SeglabError  # noqa: E402

IGNORE_COLOUR = (224, 224, 192)  # VOC's colour for its 255 boundary band


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Write samples with label overlays")
    parser.add_argument("config", help="config file path")
    parser.add_argument("--output-dir", default="browse_dataset", help="where to write images")
    parser.add_argument("--split", choices=["train", "val", "test"], default="train")
    parser.add_argument("--num", type=int, default=20, help="number of samples to write")
    parser.add_argument("--opacity", type=float, default=0.5, help="label colour weight (0, 1]")
    parser.add_argument("--seed", type=int, default=0, help="seed of the augmentations")
    add_cfg_options_args(parser)
    return parser.parse_args(argv)


def overlay_palette(palette, num_classes: int) -> np.ndarray:
    """A 256-entry RGB palette: the dataset's colours, IGNORE_COLOUR at 255."""
    from seglab.visualization.palettes import resolve_palette

    table = np.zeros((256, 3), np.uint8)
    colours = resolve_palette(palette, num_classes)[:255]
    table[:len(colours)] = colours
    table[255] = IGNORE_COLOUR
    return table


def denormalized_bgr(img, norm_cfg) -> np.ndarray:
    """(3, H, W) float tensor normalised by ``norm_cfg`` -> (H, W, 3) uint8 BGR."""
    array = img.numpy().transpose(1, 2, 0).astype(np.float64)
    if norm_cfg is not None:
        array = array * np.asarray(norm_cfg["std"]) + np.asarray(norm_cfg["mean"])
        if norm_cfg.get("to_rgb"):
            array = array[..., ::-1]
    return np.clip(array, 0, 255).round().astype(np.uint8)


def train_views(dataset, index: int, seed: int):
    """(augmented BGR image, augmented label, file name) of sample ``index``."""
    from seglab.datasets import SeededDataset, collate, prepare_batch
    from seglab.datasets.samplers import SampleIndex, sample_seed

    sample = SeededDataset(dataset)[SampleIndex(index, sample_seed(seed, index))]
    batch = prepare_batch(collate([sample]), "cpu")
    meta = batch["img_metas"][0]
    img = denormalized_bgr(batch["img"][0], meta.get("img_norm_cfg"))
    label = batch["gt_semantic_seg"][0, 0].numpy()
    return img, label, meta.get("ori_filename", str(index))


def gt_views(dataset, index: int):
    """(original BGR image, ground truth, file name) of sample ``index``."""
    import cv2

    img_path, _ = dataset.sample_paths(index)
    img = cv2.imread(img_path, cv2.IMREAD_COLOR)
    return img, dataset.get_gt_seg_map_by_idx(index), osp.basename(img_path)


def main(argv=None) -> int:
    args = parse_args(argv)
    from seglab.datasets import RepeatDataset, build_dataset
    from seglab.datasets.dataset_check import leaf_datasets
    from seglab.visualization import show_result
    from seglab.visualization.overlay import write_image

    try:
        cfg = load_config(args.config, args.cfg_options)  # a MMSeg 1.x config: its 0.x form
        dataset = build_dataset(cfg.data[args.split])
        if isinstance(dataset, RepeatDataset):  # browse each sample once
            dataset = dataset.dataset
        os.makedirs(args.output_dir, exist_ok=True)
        num = min(args.num, len(dataset))
        leaf = next(leaf_datasets(dataset))
        palette = overlay_palette(leaf.PALETTE, len(leaf.CLASSES or ()) or 256)
        for index in range(num):
            if args.split == "train":
                img, label, name = train_views(dataset, index, args.seed)
            else:
                img, label, name = gt_views(dataset, index)
            blended = show_result(img, label, palette=palette, opacity=args.opacity)
            stem = osp.splitext(name.replace(os.sep, "_"))[0]
            write_image(np.concatenate([img, blended], axis=1),
                        osp.join(args.output_dir, f"{index:05d}_{stem}.png"))
    except SeglabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"Wrote {num} images to {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
