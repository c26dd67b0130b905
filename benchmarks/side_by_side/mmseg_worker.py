"""MMSegmentation 1.2.2 side of benchmarks/mmseg_side_by_side.py: one measurement per process.

Runs in the MMSegmentation virtualenv (``--setup``), never imports seglab. The model is the
0.x ``model`` dict that seglab resolved (``model.json``; MMSeg 1.x keeps the FCN/ResNet
arguments) plus a 1.x ``SegDataPreProcessor``; the weights are seglab's ``model.pth`` loaded
strictly (seglab keeps MMSegmentation's state_dict keys).

Tasks (``--task``):
    infer      ``init_model`` + ``inference_model`` on one BGR image (``--precision bf16``:
               inside ``torch.autocast('cpu', torch.bfloat16)``, MMSeg has no switch of its own)
    train      ``model.train_step`` (data_preprocessor, losses, backward, SGD step) on a batch
               (``--precision bf16``: inside ``torch.autocast('cpu', torch.bfloat16)``; mmengine's
               ``AmpOptimWrapper`` refuses a CPU)
    test_tool  MMSegmentation's own ``tools/test.py`` (shipped in the wheel under ``.mim``) on a
               1.x config written here for the synthetic VOC-layout test set; ``--precision
               bf16`` sets ``test_cfg=dict(type='TestLoop', fp16=True)``, mmengine's autocast,
               which is bfloat16 on a CPU
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import os.path as osp
import runpy
import sys

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import mmcv_ops_standin  # noqa: E402
from worker_common import (MEAN, STD, add_measure_args, make_image,  # noqa: E402
                           make_train_batch, run_worker, time_calls)

mmcv_ops_standin.install()


def model_config(args, crop_size=None) -> dict:
    with open(args.model_json) as f:
        model = json.load(f)
    model["data_preprocessor"] = dict(type="SegDataPreProcessor", mean=list(MEAN),
                                      std=list(STD), bgr_to_rgb=True, pad_val=0,
                                      seg_pad_val=255, size=crop_size)
    return model


def test_pipeline(args) -> list:
    return [dict(type="LoadImageFromFile"),
            dict(type="Resize", scale=tuple(args.test_scale), keep_ratio=True),
            dict(type="PackSegInputs")]


def load_weights(model, ckpt: str) -> None:
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    model.load_state_dict(state, strict=True)


def bf16_autocast(args):
    """bfloat16 autocast on the row's device for ``--precision bf16``, else nothing."""
    if args.precision == "bf16":
        return torch.autocast(args.device.split(":")[0], dtype=torch.bfloat16)
    return contextlib.nullcontext()


def task_infer(args) -> dict:
    from mmengine import Config
    from mmseg.apis import inference_model, init_model

    cfg = Config(dict(model=model_config(args), test_pipeline=test_pipeline(args),
                      default_scope="mmseg"))
    model = init_model(cfg, None, device=args.device)
    load_weights(model, args.ckpt)
    num_classes = model.decode_head.num_classes
    model.dataset_meta = dict(classes=[str(i) for i in range(num_classes)],
                              palette=[[i, i, i] for i in range(num_classes)])
    img = make_image(args.height, args.width, seed=args.seed)
    def call():
        with bf16_autocast(args):
            return inference_model(model, img)

    stats = time_calls(call, args.warmup, args.iters)
    if args.save_pred:
        np.save(args.save_pred, call().pred_sem_seg.data[0].numpy().astype(np.uint8))
    return stats


def task_train(args) -> dict:
    from mmengine.optim import OptimWrapper
    from mmengine.registry import init_default_scope
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    init_default_scope("mmseg")
    # The preprocessor pads to its size: the batch is that size, so both train on the same pixels.
    model = MODELS.build(model_config(args, crop_size=(args.height, args.width)))
    load_weights(model, args.ckpt)
    model.to(args.device).train()  # the data_preprocessor moves the batch there
    num_classes = model.decode_head.num_classes
    images, labels = make_train_batch(args.batch, args.height, args.width, num_classes, args.seed)
    shape = (args.height, args.width)
    samples = []
    for label in labels:
        sample = SegDataSample(metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape))
        sample.gt_sem_seg = PixelData(data=torch.from_numpy(label)[None])
        samples.append(sample)
    data = dict(inputs=[torch.from_numpy(img).permute(2, 0, 1).contiguous() for img in images],
                data_samples=samples)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9,
                                         weight_decay=5e-4))

    def step():
        with bf16_autocast(args):
            return model.train_step(data, optim)

    return time_calls(step, args.warmup, args.iters)


def task_test_tool(args) -> dict:
    """MMSeg's tools/test.py on the synthetic set (the driver times the whole process)."""
    import mmseg

    classes = ["background", "disc", "square", "triangle", "stripes", "ring"]
    pipeline = test_pipeline(args)
    pipeline.insert(2, dict(type="LoadAnnotations"))
    cfg = dict(
        default_scope="mmseg",
        model=model_config(args),
        env_cfg=dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method="fork"),
                     dist_cfg=dict(backend="gloo")),
        test_dataloader=dict(
            batch_size=1, num_workers=args.workers, persistent_workers=args.workers > 0,
            sampler=dict(type="DefaultSampler", shuffle=False),
            dataset=dict(type="BaseSegDataset", data_root=args.data_root,
                         metainfo=dict(classes=classes), img_suffix=".jpg",
                         seg_map_suffix=".png", ann_file="ImageSets/Segmentation/val.txt",
                         data_prefix=dict(img_path="JPEGImages",
                                          seg_map_path="SegmentationClass"),
                         pipeline=pipeline)),
        test_evaluator=dict(type="IoUMetric", iou_metrics=["mIoU"]),
        # fp16=True is mmengine's autocast, bfloat16 on a CPU (float16 on CUDA).
        test_cfg=dict(type="TestLoop", fp16=args.precision == "bf16"),
        default_hooks=dict(timer=dict(type="IterTimerHook"),
                           logger=dict(type="LoggerHook", interval=50, log_metric_by_epoch=False),
                           visualization=dict(type="SegVisualizationHook")),
        log_level="WARNING",
        visualizer=dict(type="SegLocalVisualizer", vis_backends=[dict(type="LocalVisBackend")]))
    os.makedirs(args.work_dir, exist_ok=True)
    config_file = osp.join(args.work_dir, "mmseg_test_config.py")
    with open(config_file, "w") as f:
        f.write("".join(f"{k} = {v!r}\n" for k, v in cfg.items()))
    tool = osp.join(osp.dirname(mmseg.__file__), ".mim", "tools", "test.py")
    sys.argv = [tool, config_file, args.ckpt, "--work-dir", args.work_dir]
    runpy.run_path(tool, run_name="__main__")
    return dict(images=args.num_images)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True, choices=["infer", "train", "test_tool"])
    parser.add_argument("--model-json", required=True)
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--test-scale", type=int, nargs=2, default=[2048, 512])
    add_measure_args(parser)
    parser.add_argument("--data-root")
    parser.add_argument("--work-dir")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--num-images", type=int, default=100)
    args = parser.parse_args(argv)
    return run_worker(dict(infer=task_infer, train=task_train, test_tool=task_test_tool), args)


if __name__ == "__main__":
    sys.exit(main())
