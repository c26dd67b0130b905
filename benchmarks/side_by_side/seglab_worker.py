"""seglab side of benchmarks/mmseg_side_by_side.py: one measurement per process.

Tasks (``--task``):
    prepare  build the row's model from its 0.x config with random weights (seed 0), write
             ``model.pth`` (``state_dict`` + empty meta; MMSeg's keys) and ``model.json`` (the
             resolved ``model`` dict, SyncBN -> BN, for the MMSegmentation worker)
    infer    ``init_segmentor`` + ``inference_segmentor`` on one BGR image (whole or slide, as
             the model's test_cfg), median of ``--iters`` calls after ``--warmup``;
             ``--precision bf16`` is ``init_segmentor(precision='bf16')`` where seglab has it
    train    one SGD step (forward, losses, then the runner's ``OptimStep``: backward, step,
             ``zero_grad(set_to_none=True)``) on a ``--batch`` of uint8 images normalised in the
             step, median of ``--iters`` steps after ``--warmup``; ``--precision bf16`` is
             ``--amp`` (``OptimStep(amp='bf16')``: the forward under its bfloat16 autocast)
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import os.path as osp
import sys

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(osp.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from worker_common import (MEAN, STD, add_measure_args, make_image,  # noqa: E402
                           make_train_batch, run_worker, time_calls)

sys.path.insert(0, osp.dirname(HERE))
from models import syncbn_to_bn  # noqa: E402  (benchmarks/models.py)


def load_config(args):
    """The row's config: the file, SyncBN -> BN, then the row's edits (``--edits`` JSON)."""
    from seglab.config import Config

    cfg = Config.fromfile(args.config)
    cfg.model = syncbn_to_bn(cfg.model.to_dict() if hasattr(cfg.model, "to_dict")
                             else dict(cfg.model))
    edits = json.loads(args.edits)
    model = cfg.model
    model["pretrained"] = None
    if "num_classes" in edits:
        for head in ("decode_head", "auxiliary_head"):
            if model.get(head):
                model[head]["num_classes"] = edits["num_classes"]
    if "test_cfg" in edits:
        model["test_cfg"] = edits["test_cfg"]
    if "test_scale" in edits:
        cfg.data.test.pipeline[1]["img_scale"] = tuple(edits["test_scale"])
    cfg.model = model
    return cfg


def model_dict(cfg) -> dict:
    model = cfg.model
    return json.loads(json.dumps(model.to_dict() if hasattr(model, "to_dict") else model))


def task_prepare(args) -> dict:
    from seglab.models import build_segmentor

    cfg = load_config(args)
    torch.manual_seed(0)
    model = build_segmentor(cfg.model)
    model.init_weights()
    os.makedirs(args.out_dir, exist_ok=True)
    torch.save(dict(state_dict=model.state_dict(), meta={}), osp.join(args.out_dir, "model.pth"))
    with open(osp.join(args.out_dir, "model.json"), "w") as f:
        json.dump(model_dict(cfg), f, indent=1)
    return dict(params=sum(p.numel() for p in model.parameters()))


def precision_kwargs(fn, precision: str) -> dict:
    """``precision=`` for an API that takes it; fp32 needs none; else the row is n/a."""
    if precision == "fp32":
        return {}
    if "precision" not in inspect.signature(fn).parameters:
        raise NotImplementedError(f"this seglab has no precision= in {fn.__name__} (n/a)")
    return dict(precision=precision)


def task_infer(args) -> dict:
    from seglab.apis import inference_segmentor, init_segmentor

    cfg = load_config(args)
    # The tools' inference defaults (tools/test.py, tools/benchmark.py): BN folded, NHWC for
    # convolutional backbones; init_segmentor folds only when asked.
    model = init_segmentor(cfg, args.ckpt, device=args.device, strict=True, fuse_conv_bn=True,
                           **precision_kwargs(init_segmentor, args.precision))
    img = make_image(args.height, args.width, seed=args.seed)
    stats = time_calls(lambda: inference_segmentor(model, img), args.warmup, args.iters)
    if args.save_pred:
        np.save(args.save_pred, np.asarray(inference_segmentor(model, img)[0], dtype=np.uint8))
    return stats


def task_train(args) -> dict:
    from seglab.engine.optim_step import OptimStep
    from seglab.models import build_segmentor

    cfg = load_config(args)
    model = build_segmentor(cfg.model)
    state = torch.load(args.ckpt, map_location="cpu", weights_only=True)["state_dict"]
    model.load_state_dict(state, strict=True)
    model.to(args.device).train()
    num_classes = cfg.model["decode_head"]["num_classes"]
    images, labels = make_train_batch(args.batch, args.height, args.width, num_classes, args.seed)
    images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(args.device)  # BGR
    labels = torch.from_numpy(labels)[:, None].to(args.device)
    mean = torch.tensor(MEAN, device=args.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=args.device).view(1, 3, 1, 1)
    shape = (args.height, args.width, 3)
    metas = [dict(img_shape=shape, ori_shape=shape, pad_shape=shape, flip=False)
             for _ in range(args.batch)]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    # what IterBasedRunner runs after each forward; bf16: what tools/train.py --amp gives a CPU
    optim_step = OptimStep(args.device, amp="bf16" if args.precision == "bf16" else None)

    def step():
        img = (images.flip(1).float() - mean) / std  # to_rgb, then normalise (the preprocessor)
        with optim_step.autocast():  # as the runner's train iteration
            out = model.train_step(dict(img=img, img_metas=metas, gt_semantic_seg=labels))
        # backward, step, then the gradients freed before the next forward (as MMSeg's
        # OptimWrapper.update_params does), not kept alive through it
        optim_step.step(out["loss"], model, optimizer, 0, 1)

    stats = time_calls(step, args.warmup, args.iters)
    stats["precision"] = optim_step.amp or "fp32"  # as run (fp32 where bf16 is emulated)
    return stats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True, choices=["prepare", "infer", "train"])
    parser.add_argument("--config", required=True)
    parser.add_argument("--edits", default="{}", help="JSON: num_classes, test_cfg, test_scale")
    parser.add_argument("--out-dir")
    parser.add_argument("--ckpt")
    add_measure_args(parser)
    args = parser.parse_args(argv)
    # What tools/benchmark.py and tools/train.py do at start (the same input size over and
    # over): the allocator policy of SEGLAB_MALLOC, default 'speed'.
    from seglab.utils.malloc import apply_malloc_policy_from_env

    apply_malloc_policy_from_env(default="speed")
    return run_worker(dict(prepare=task_prepare, infer=task_infer, train=task_train), args)


if __name__ == "__main__":
    sys.exit(main())
