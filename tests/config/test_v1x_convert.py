"""convert_1x_config: each 1.x key family against hand-written 0.x values, and the errors.

The 1.x values follow MMSegmentation 1.2.2's configs/_base_ files (default_runtime.py,
schedule_20k.py, pascal_voc12.py); the expected 0.x values are what MMSegmentation 0.30's
files say for the same run (configs/_base_/schedules/schedule_20k.py etc.).
"""
import copy
import re

import pytest

from seglab.config import Config, V1xConfigError, convert_1x_config, is_1x_config, load_config
from seglab.config.v1x_checkpoint import checkpoint_meta

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
NORMALIZE = dict(type="Normalize", mean=MEAN, std=STD, to_rgb=True)
TRAIN_PIPELINE = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations"),
                  dict(type="RandomResize", scale=(2048, 512), ratio_range=(0.5, 2.0),
                       keep_ratio=True),
                  dict(type="RandomCrop", crop_size=(512, 512), cat_max_ratio=0.75),
                  dict(type="RandomFlip", prob=0.5), dict(type="PhotoMetricDistortion"),
                  dict(type="PackSegInputs")]
TEST_PIPELINE = [dict(type="LoadImageFromFile"), dict(type="Resize", scale=(2048, 512),
                                                       keep_ratio=True),
                 dict(type="LoadAnnotations"), dict(type="PackSegInputs")]


def voc(split, pipeline):
    return dict(type="PascalVOCDataset", data_root="data/VOCdevkit/VOC2012",
                data_prefix=dict(img_path="JPEGImages", seg_map_path="SegmentationClass"),
                ann_file=f"ImageSets/Segmentation/{split}.txt", pipeline=pipeline)


def base_1x(**changes):
    """A complete 1.x config, as the _base_ files of fcn_r50-d8_4xb4-20k_voc12aug give it."""
    cfg = dict(
        model=dict(type="EncoderDecoder",
                   data_preprocessor=dict(type="SegDataPreProcessor", mean=MEAN, std=STD,
                                          bgr_to_rgb=True, pad_val=0, seg_pad_val=255,
                                          size=(512, 512)),
                   backbone=dict(type="ResNetV1c", depth=18),
                   decode_head=dict(type="FCNHead", num_classes=21),
                   train_cfg=dict(), test_cfg=dict(mode="whole")),
        train_dataloader=dict(batch_size=4, num_workers=4, persistent_workers=True,
                              sampler=dict(type="InfiniteSampler", shuffle=True),
                              dataset=voc("train", TRAIN_PIPELINE)),
        val_dataloader=dict(batch_size=1, num_workers=4, persistent_workers=True,
                            sampler=dict(type="DefaultSampler", shuffle=False),
                            dataset=voc("val", TEST_PIPELINE)),
        val_evaluator=dict(type="IoUMetric", iou_metrics=["mIoU"]),
        default_scope="mmseg",
        env_cfg=dict(cudnn_benchmark=True, mp_cfg=dict(mp_start_method="fork",
                                                       opencv_num_threads=0),
                     dist_cfg=dict(backend="nccl")),
        vis_backends=[dict(type="LocalVisBackend")],
        visualizer=dict(type="SegLocalVisualizer", vis_backends=[dict(type="LocalVisBackend")],
                        name="visualizer"),
        log_processor=dict(by_epoch=False), log_level="INFO", load_from=None, resume=False,
        tta_model=dict(type="SegTTAModel"),
        optimizer=dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=0.0005),
        optim_wrapper=dict(type="OptimWrapper",
                           optimizer=dict(type="SGD", lr=0.01, momentum=0.9,
                                          weight_decay=0.0005), clip_grad=None),
        param_scheduler=[dict(type="PolyLR", eta_min=1e-4, power=0.9, begin=0, end=20000,
                              by_epoch=False)],
        train_cfg=dict(type="IterBasedTrainLoop", max_iters=20000, val_interval=2000),
        val_cfg=dict(type="ValLoop"), test_cfg=dict(type="TestLoop"),
        default_hooks=dict(timer=dict(type="IterTimerHook"),
                           logger=dict(type="LoggerHook", interval=50,
                                       log_metric_by_epoch=False),
                           param_scheduler=dict(type="ParamSchedulerHook"),
                           checkpoint=dict(type="CheckpointHook", by_epoch=False,
                                           interval=2000),
                           sampler_seed=dict(type="DistSamplerSeedHook"),
                           visualization=dict(type="SegVisualizationHook")))
    cfg.update(changes)
    return Config(copy.deepcopy(cfg), filename="cfg_1x.py")


def convert(**changes):
    return convert_1x_config(base_1x(**changes)).to_dict()


def test_recognised_by_its_keys():
    assert is_1x_config(base_1x())
    assert is_1x_config({"train_cfg": dict(type="IterBasedTrainLoop", max_iters=1)})
    assert is_1x_config({"model": dict(type="EncoderDecoder", data_preprocessor=dict())})
    assert is_1x_config({"optim_wrapper": dict()})
    # 0.x: top-level train_cfg / test_cfg are the model's, data holds the loaders.
    assert not is_1x_config({"model": dict(type="EncoderDecoder"), "train_cfg": dict(),
                             "test_cfg": dict(mode="whole"), "data": dict(samples_per_gpu=2)})
    assert not is_1x_config(Config.fromfile("configs/fcn/fcn_r50-d8_512x512_20k_voc12aug.py"))


def test_input_unchanged_and_result_is_0x():
    cfg = base_1x()
    before = cfg.to_dict()
    out = convert_1x_config(cfg)
    assert cfg.to_dict() == before
    assert isinstance(out, Config) and out.filename == "cfg_1x.py"
    assert not is_1x_config(out)
    for key in ("train_dataloader", "optim_wrapper", "param_scheduler", "default_hooks",
                "train_cfg", "test_cfg", "val_cfg", "env_cfg", "visualizer", "vis_backends",
                "tta_model", "default_scope", "log_processor", "resume"):
        assert key not in out, key


def test_model_and_data_preprocessor():
    out = convert()
    assert out["model"] == dict(type="EncoderDecoder", backbone=dict(type="ResNetV1c", depth=18),
                                decode_head=dict(type="FCNHead", num_classes=21),
                                train_cfg=dict(), test_cfg=dict(mode="whole"))
    # Normalise, then pad the training sample to `size` (0 in normalised space), before Pack.
    assert out["data"]["train"]["pipeline"] == TRAIN_PIPELINE[:-1] + [
        NORMALIZE, dict(type="Pad", size=(512, 512), pad_val=0, seg_pad_val=255),
        dict(type="PackSegInputs")]
    # Evaluation pipelines lose LoadAnnotations: seglab's evaluator reads the label files.
    assert out["data"]["val"]["pipeline"] == TEST_PIPELINE[:2] + [NORMALIZE,
                                                                  dict(type="PackSegInputs")]


def test_preprocessor_variants():
    model = copy.deepcopy(dict(base_1x().to_dict()["model"]))
    model["data_preprocessor"] = dict(type="SegDataPreProcessor", mean=None, std=None,
                                      size_divisor=32, pad_val=1, seg_pad_val=0,
                                      test_cfg=dict(size_divisor=16))
    out = convert(model=model)
    plain = dict(type="Normalize", mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0], to_rgb=False)
    assert out["data"]["train"]["pipeline"][-3:] == [
        plain, dict(type="Pad", size_divisor=32, pad_val=1, seg_pad_val=0),
        dict(type="PackSegInputs")]
    assert out["data"]["val"]["pipeline"][-3:] == [
        plain, dict(type="Pad", size_divisor=16, pad_val=1, seg_pad_val=0),
        dict(type="PackSegInputs")]
    model["data_preprocessor"] = dict(type="SegDataPreProcessor", batch_augments=[dict()])
    with pytest.raises(V1xConfigError, match=r"model.data_preprocessor.batch_augments = \[\{\}\] "
                       r"is a MMSegmentation 1.x feature seglab does not run yet \(in 1.x "
                       r"config cfg_1x.py\)"):
        convert(model=model)


def test_dataloaders_and_datasets():
    data = convert()["data"]
    assert data["samples_per_gpu"] == 4 and data["workers_per_gpu"] == 4
    assert data["train_dataloader"] == dict(samples_per_gpu=4, workers_per_gpu=4,
                                            persistent_workers=True, shuffle=True, infinite=True)
    assert data["val_dataloader"] == dict(samples_per_gpu=1, workers_per_gpu=4,
                                          persistent_workers=True)
    train = dict(data["train"])
    train.pop("pipeline")
    assert train == dict(type="PascalVOCDataset", data_root="data/VOCdevkit/VOC2012",
                         img_dir="JPEGImages", ann_dir="SegmentationClass",
                         split="ImageSets/Segmentation/train.txt")


def test_dataset_wrappers_and_arguments():
    leaf = dict(type="BaseSegDataset", data_root="d", data_prefix=dict(img_path="img"),
                img_suffix=".png", seg_map_suffix="_seg.png", reduce_zero_label=True,
                metainfo=dict(classes=("a", "b"), palette=[[0, 0, 0], [1, 1, 1]]),
                lazy_init=True, serialize_data=False, backend_args=None, ignore_index=7,
                pipeline=TEST_PIPELINE)
    loader = dict(batch_size=2, num_workers=0, sampler=dict(type="DefaultSampler",
                                                            shuffle=False),
                  dataset=dict(type="ConcatDataset",
                               datasets=[leaf, dict(type="RepeatDataset", times=3,
                                                    dataset=leaf)]))
    test = convert(test_dataloader=loader)["data"]["test"]
    want_leaf = dict(type="CustomDataset", data_root="d", img_dir="img", ann_dir=None,
                     img_suffix=".png", seg_map_suffix="_seg.png", reduce_zero_label=True,
                     classes=("a", "b"), palette=[[0, 0, 0], [1, 1, 1]], ignore_index=7,
                     pipeline=TEST_PIPELINE[:2] + [NORMALIZE, dict(type="PackSegInputs")])
    assert test == dict(type="ConcatDataset", separate_eval=False, datasets=[
        want_leaf, dict(type="RepeatDataset", times=3, dataset=want_leaf)])
    with pytest.raises(V1xConfigError, match=r"test_dataloader.dataset.datasets\[0\].indices = "
                       r"\[1, 2\] is a MMSegmentation 1.x feature"):
        convert(test_dataloader=dict(loader, dataset=dict(type="ConcatDataset", datasets=[
            dict(leaf, indices=[1, 2])])))


def test_tta_pipeline_normalised_inside_test_time_aug():
    tta = [dict(type="LoadImageFromFile"), dict(type="TestTimeAug", transforms=[
        [dict(type="Resize", scale_factor=0.5, keep_ratio=True)],
        [dict(type="RandomFlip", prob=0.0), dict(type="RandomFlip", prob=1.0)],
        [dict(type="LoadAnnotations")], [dict(type="PackSegInputs")]])]
    out = convert(tta_pipeline=tta)["tta_pipeline"]
    assert out[1]["transforms"][2:] == [[NORMALIZE], [dict(type="PackSegInputs")]]


def test_evaluation_labels_keep_reduce_zero_label():
    pipeline = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations",
                                                     reduce_zero_label=True),
                dict(type="PackSegInputs")]
    loader = dict(batch_size=1, dataset=dict(type="ADE20KDataset", pipeline=pipeline))
    data = convert(test_dataloader=loader, train_dataloader=dict(loader, batch_size=2))["data"]
    assert data["test"]["reduce_zero_label"] is True
    assert [t["type"] for t in data["test"]["pipeline"]] == ["LoadImageFromFile", "Normalize",
                                                            "PackSegInputs"]
    assert "reduce_zero_label" not in data["train"]  # the training pipeline loads the labels
    assert data["train"]["pipeline"][1] == pipeline[1]


def test_evaluators():
    out = convert(test_evaluator=dict(type="IoUMetric", iou_metrics=["mIoU", "mDice"]))
    assert out["evaluation"] == dict(metric=["mIoU"], interval=2000, eval_last=True)
    assert out["test_evaluation"] == dict(metric=["mIoU", "mDice"])
    out = convert(test_evaluator=dict(type="CityscapesMetric", format_only=True,
                                      output_dir="work_dirs/format_results"))
    assert out["test_evaluation"] == dict(metric=["mIoU"], format_only=True,
                                          output_dir="work_dirs/format_results")
    with pytest.raises(V1xConfigError, match=r"test_evaluator = .*CityscapesMetric.* is a "
                       r"MMSegmentation 1.x feature seglab does not run yet.*IoUMetric"):
        convert(test_evaluator=dict(type="CityscapesMetric", output_dir="x"))
    with pytest.raises(V1xConfigError, match=r"val_evaluator.type = 'DepthMetric' is a "
                       r"MMSegmentation 1.x feature seglab does not run yet"):
        convert(val_evaluator=dict(type="DepthMetric"))
    with pytest.raises(V1xConfigError, match=r"val_evaluator.iou_metrics = \['mAcc'\]"):
        convert(val_evaluator=dict(type="IoUMetric", iou_metrics=["mAcc"]))


def test_optim_wrapper():
    out = convert()
    assert out["optimizer"] == dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=0.0005)
    assert out["optimizer_config"] == {}
    wrapper = dict(type="AmpOptimWrapper", loss_scale=512.0, accumulative_counts=4,
                   clip_grad=dict(max_norm=1, norm_type=2),
                   optimizer=dict(type="AdamW", lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
                   paramwise_cfg=dict(custom_keys=dict(pos_block=dict(decay_mult=0.0))),
                   constructor="LearningRateDecayOptimizerConstructor")
    out = convert(optim_wrapper=wrapper)
    assert out["optimizer"] == dict(type="AdamW", lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01,
                                    paramwise_cfg=dict(custom_keys=dict(
                                        pos_block=dict(decay_mult=0.0))),
                                    constructor="LearningRateDecayOptimizerConstructor")
    assert out["optimizer_config"] == dict(type="GradientCumulativeFp16OptimizerHook",
                                           grad_clip=dict(max_norm=1, norm_type=2),
                                           loss_scale=512.0, cumulative_iters=4)
    out = convert(optim_wrapper=dict(type="AmpOptimWrapper", dtype="bfloat16",
                                     optimizer=dict(type="SGD", lr=0.1)))
    assert out["amp"] == "bf16" and out["optimizer_config"] == {}
    # What MMSeg 1.x's --amp writes: mmengine autocasts float16 on CUDA, bfloat16 on a CPU.
    out = convert(optim_wrapper=dict(type="AmpOptimWrapper", loss_scale="dynamic",
                                     optimizer=dict(type="SGD", lr=0.1)))
    assert out["amp"] == "auto" and out["optimizer_config"] == {}
    with pytest.raises(V1xConfigError, match=r"optim_wrapper.type = 'ApexOptimWrapper' is a "
                       r"MMSegmentation 1.x feature seglab does not run yet"):
        convert(optim_wrapper=dict(type="ApexOptimWrapper", optimizer=dict(type="SGD", lr=1)))


def test_param_scheduler_and_loops():
    out = convert(param_scheduler=[
        dict(type="LinearLR", start_factor=1e-6, by_epoch=False, begin=0, end=1500),
        dict(type="PolyLR", eta_min=0.0, power=1.0, begin=1500, end=20000, by_epoch=False)])
    assert out["lr_config"] == dict(policy="ParamSchedulerChain", schedulers=[
        dict(type="LinearLR", start_factor=1e-6, begin=0, end=1500),
        dict(type="PolyLR", eta_min=0.0, power=1.0, begin=1500, end=20000)])
    assert out["runner"] == dict(type="IterBasedRunner", max_iters=20000)
    # 1.x's loops replace 0.x's top-level train_cfg / test_cfg (the model's in 0.x).
    assert "train_cfg" not in out and "test_cfg" not in out
    with pytest.raises(V1xConfigError, match=r"param_scheduler\[0\].by_epoch = True is a "
                       r"MMSegmentation 1.x feature seglab does not run yet.*by_epoch=False"):
        convert(param_scheduler=[dict(type="PolyLR", begin=0, end=10)])
    with pytest.raises(V1xConfigError, match=r"train_cfg.type = 'EpochBasedTrainLoop' is a "
                       r"MMSegmentation 1.x feature seglab does not run yet"):
        convert(train_cfg=dict(type="EpochBasedTrainLoop", max_epochs=10))


def test_hooks_and_visualizer():
    hooks = dict(base_1x().to_dict()["default_hooks"])
    hooks["checkpoint"] = dict(type="CheckpointHook", by_epoch=False, interval=500,
                               max_keep_ckpts=2, save_best="mIoU", rule="greater",
                               save_last=False)
    out = convert(default_hooks=hooks, visualizer=dict(
        type="SegLocalVisualizer", vis_backends=[dict(type="LocalVisBackend"),
                                                 dict(type="TensorboardVisBackend")]))
    assert out["checkpoint_config"] == dict(interval=500, by_epoch=False, max_keep_ckpts=2,
                                            save_last=False)
    assert out["evaluation"] == dict(metric=["mIoU"], interval=2000, eval_last=True,
                                     save_best="mIoU",
                                     rule="greater")
    assert out["log_config"] == dict(interval=50, hooks=[
        dict(type="TextLoggerHook", by_epoch=False, ignore_last=True),
        dict(type="TensorboardLoggerHook", by_epoch=False)])
    hooks["checkpoint"] = None  # 1.x switches a default hook off this way
    assert "checkpoint_config" not in convert(default_hooks=hooks)
    with pytest.raises(V1xConfigError, match=r"default_hooks.ema = .*EMAHook.* is a "
                       r"MMSegmentation 1.x feature seglab does not run yet"):
        convert(default_hooks=dict(hooks, ema=dict(type="EMAHook")))
    with pytest.raises(V1xConfigError, match=r"custom_hooks\[1\].type = 'EMAHook' is a "
                       r"MMSegmentation 1.x feature seglab does not run yet \(in 1.x config "
                       r"cfg_1x.py\); seglab has the hooks CheckpointHook, "):
        convert(custom_hooks=[dict(type="TextLoggerHook"), dict(type="EMAHook")])
    assert convert(custom_hooks=[dict(type="TextLoggerHook", priority="LOW")])[
        "custom_hooks"] == [dict(type="TextLoggerHook", priority="LOW")]
    with pytest.raises(V1xConfigError, match=r"visualizer.vis_backends\[0\].type = "
                       r"'WandbVisBackend' is a MMSegmentation 1.x feature"):
        convert(visualizer=dict(type="SegLocalVisualizer",
                                vis_backends=[dict(type="WandbVisBackend")]))


def test_runtime():
    out = convert(randomness=dict(seed=304, deterministic=True))
    assert (out["seed"], out["deterministic"]) == (304, True)
    assert out["cudnn_benchmark"] is True and out["dist_params"] == dict(backend="nccl")
    assert out["log_level"] == "INFO" and out["load_from"] is None
    assert "auto_resume" not in out and "resume_from" not in out
    assert convert(resume=True)["auto_resume"] is True
    out = convert(resume=True, load_from="w/iter_8.pth")
    assert out["resume_from"] == "w/iter_8.pth" and out["load_from"] is None
    with pytest.raises(V1xConfigError, match=r"auto_scale_lr.enable = True is a MMSegmentation "
                       r"1.x feature seglab does not run yet"):
        convert(auto_scale_lr=dict(enable=True, base_batch_size=16))


def test_0x_leftovers_are_ignored_like_1x_does():
    with pytest.warns(UserWarning, match=r"also sets the 0.x key\(s\) \['runner'\]; they are "
                      r"ignored"):
        out = convert(runner=dict(type="IterBasedRunner", max_iters=320000))
    assert out["runner"] == dict(type="IterBasedRunner", max_iters=20000)


def test_unknown_keys_are_named():
    with pytest.raises(V1xConfigError, match=r"train_dataloader has key\(s\) \['batchsize'\] "
                       r"that seglab does not map from MMSegmentation 1.x \(in 1.x config "
                       r"cfg_1x.py\); it maps \["):
        convert(train_dataloader=dict(batchsize=2, dataset=voc("train", TRAIN_PIPELINE)))


def test_load_config_options_use_the_files_dialect(tmp_path):
    path = tmp_path / "one.py"
    path.write_text("train_dataloader = dict(batch_size=4, dataset=dict(type='BaseSegDataset', "
                    "pipeline=[dict(type='PackSegInputs')]))\n"
                    "model = dict(type='EncoderDecoder')\n")
    cfg = load_config(str(path), {"train_dataloader.batch_size": 2})
    assert cfg.data.samples_per_gpu == 2
    zero = load_config("configs/fcn/fcn_r50-d8_512x512_20k_voc12aug.py",
                       {"data.samples_per_gpu": 3})
    assert zero.data.samples_per_gpu == 3 and "optimizer_config" in zero


def test_checkpoint_meta_reads_1x_dataset_meta():
    meta = checkpoint_meta(dict(dataset_meta=dict(classes=("a", "b"),
                                                  palette=[(1, 2, 3), (4, 5, 6)]), iter=8))
    assert meta["CLASSES"] == ["a", "b"] and meta["PALETTE"] == [[1, 2, 3], [4, 5, 6]]
    assert checkpoint_meta(dict(CLASSES=["x"], dataset_meta=dict(classes=["y"])))["CLASSES"] \
        == ["x"]


@pytest.mark.parametrize("dataset, expected", [
    (dict(type="BaseSegDataset", reduce_zero_label=True), True),
    (dict(type="ADE20KDataset"), True),  # 1.x's and seglab's ADE20K reduce by default
    (dict(type="ADE20KDataset", reduce_zero_label=False), None),
    (dict(type="PascalVOCDataset"), None),
])
def test_training_labels_reduced_as_the_dataset_says(dataset, expected):
    """1.x's ``LoadAnnotations()`` takes ``reduce_zero_label`` from the dataset; the 0.x form
    must say it in the step, or the training labels would silently stay unshifted."""
    pipeline = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations"),
                dict(type="PackSegInputs")]
    loader = dict(batch_size=2, dataset=dict(dataset, pipeline=pipeline))
    step = convert(train_dataloader=loader)["data"]["train"]["pipeline"][1]
    assert step["type"] == "LoadAnnotations"
    assert step.get("reduce_zero_label") is expected


@pytest.mark.parametrize("where, part", [
    ("model.decode_head.type = 'Mask2FormerHead'", dict(decode_head=dict(type="Mask2FormerHead"))),
    ("model.backbone.type = 'VPD'", dict(backbone=dict(type="VPD"))),
])
def test_1x_only_model_types_say_so(where, part):
    """A type MMSeg 1.x has and seglab lacks gets the 1.x message (naming the family), not the
    registry's "did you mean"."""
    model = dict(base_1x().model.to_dict(), **part)
    with pytest.raises(V1xConfigError, match=re.escape(where) + r" is a MMSegmentation 1.x "
                       r"feature seglab does not run yet .*configs/1.x/README.md"):
        convert(model=model)


def test_tta_model_other_than_seg_tta_model_is_refused():
    with pytest.raises(V1xConfigError, match=r"tta_model.type = 'Foo' is a MMSegmentation 1.x"):
        convert(tta_model=dict(type="Foo"))


def test_a_pipeline_pad_size_is_mmcv_w_h():
    # mmcv 2.x Pad(size=(w, h)) pads to h rows and w columns; seglab's Pad reads (h, w). Before
    # the converter swapped it, a non-square Pad in a 1.x pipeline padded to (w, h) rows/columns.
    import numpy as np

    from seglab.datasets.transforms import Compose

    pipeline = TRAIN_PIPELINE[:-1] + [dict(type="Pad", size=(64, 48)), TRAIN_PIPELINE[-1]]
    tta = dict(type="TestTimeAug", transforms=[[dict(type="Pad", size=(64, 48))],
                                               [dict(type="PackSegInputs")]])
    cfg = convert(train_dataloader=dict(batch_size=2, dataset=voc("train", pipeline)),
                  tta_pipeline=[dict(type="LoadImageFromFile"), tta])
    pads = [s for s in cfg["data"]["train"]["pipeline"] if s["type"] == "Pad"]
    assert [p["size"] for p in pads] == [(48, 64), (512, 512)]  # the user's, then the batch's
    assert cfg["tta_pipeline"][1]["transforms"][0] == [dict(type="Pad", size=(48, 64))]
    out = Compose([pads[0]])(dict(img=np.zeros((10, 20, 3), np.uint8), seg_fields=[]))
    assert out["img"].shape[:2] == (48, 64)  # as mmcv 2.x: 48 rows, 64 columns


def _voc_train(**dataset):
    return dict(batch_size=2, dataset=dict(type="PascalVOCDataset",
                                           pipeline=[dict(type="PackSegInputs")], **dataset))


@pytest.mark.parametrize("changes, message", [
    (dict(train_cfg=dict(type="IterBasedTrainLoop", val_interval=10)),
     "train_cfg has no 'max_iters'"),
    (dict(optim_wrapper=dict(type="OptimWrapper", optimizer="SGD")),
     "optim_wrapper.optimizer must be a dict, got 'SGD'"),
    (dict(optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1), clip_grad=[1])),
     r"optim_wrapper.clip_grad must be a dict, got \[1\]"),
    (dict(default_hooks=[1]), "default_hooks must be a dict"),
    (dict(default_hooks=dict(logger="LoggerHook")), "default_hooks.logger must be a dict"),
    (dict(train_dataloader=_voc_train(data_prefix="img")),
     "train_dataloader.dataset.data_prefix must be a dict, got 'img'"),
    (dict(train_dataloader=_voc_train(metainfo=["a"])), "dataset.metainfo must be a dict"),
    (dict(train_dataloader=dict(batch_size=2, dataset=dict(type="ConcatDataset"))),
     "train_dataloader.dataset has no 'datasets'"),
    (dict(train_dataloader=dict(batch_size=2, dataset=dict(type="ConcatDataset",
                                                           datasets=None))),
     "train_dataloader.dataset.datasets must be a list, got None"),
    (dict(train_dataloader=dict(batch_size=2, dataset=dict(
        type="RepeatDataset", dataset=voc("train", TRAIN_PIPELINE)))),
     "train_dataloader.dataset has no 'times'"),
    (dict(train_dataloader=dict(_voc_train(), sampler="InfiniteSampler")),
     "train_dataloader.sampler must be a dict"),
    (dict(randomness="0"), "randomness must be a dict, got '0'"),
    (dict(env_cfg=[1]), r"env_cfg must be a dict, got \[1\]"),
])
def test_a_misshapen_1x_value_is_one_error_naming_its_key(changes, message):
    # Before: KeyError / TypeError / ValueError / AttributeError tracebacks from dict(...) and
    # [...] inside the converter.
    with pytest.raises(V1xConfigError, match=message + r".*\(in 1.x config cfg_1x.py\)"):
        convert(**changes)


def test_two_random_flips_in_a_1x_pipeline_both_flip():
    # mmcv 2.x's RandomFlip draws on every call; seglab's 0.x form reuses the flip an earlier
    # RandomFlip set, so before, the second flip undid the first (the image came out unflipped).
    import numpy as np

    from seglab.datasets.transforms import Compose

    flips = [dict(type="RandomFlip", prob=1.0), dict(type="RandomFlip", prob=1.0,
                                                     direction="vertical")]
    pipeline = TRAIN_PIPELINE[:4] + flips + TRAIN_PIPELINE[-1:]
    cfg = convert(train_dataloader=dict(batch_size=2, dataset=voc("train", pipeline)))
    steps = [s for s in cfg["data"]["train"]["pipeline"] if s["type"] == "RandomFlip"]
    assert [s["direction"] for s in steps] == [["horizontal"], ["vertical"]]
    img = np.arange(6, dtype=np.uint8).reshape(2, 3, 1).repeat(3, 2)
    seg = np.arange(6, dtype=np.uint8).reshape(2, 3)
    out = Compose(steps)(dict(img=img.copy(), gt_semantic_seg=seg.copy(),
                              seg_fields=["gt_semantic_seg"]))
    assert np.array_equal(out["img"], img[::-1, ::-1])
    assert np.array_equal(out["gt_semantic_seg"], seg[::-1, ::-1])
    assert out["flip"] and out["flip_direction"] == "vertical"  # the last one, as 1.x
    one = convert()["data"]["train"]["pipeline"]  # a single flip keeps its 0.x form
    assert [s for s in one if s["type"] == "RandomFlip"] == [dict(type="RandomFlip", prob=0.5)]


def test_a_0x_dataset_class_with_reduced_labels_and_a_class_subset_is_refused():
    # 1.x: reduce_zero_label, then label_map; seglab's ADE20KDataset: label_map, then reduce.
    # Before, the 1.x config trained and evaluated on other ids than 1.x without a word.
    from seglab.datasets import ADE20KDataset

    def ade(**extra):
        return dict(batch_size=2, dataset=dict(type="ADE20KDataset", data_root="data/ade",
                                               pipeline=TRAIN_PIPELINE, **extra))

    with pytest.raises(V1xConfigError, match=r"train_dataloader.dataset: ADE20KDataset with "
                       r"reduce_zero_label and metainfo classes .* maps, then reduces"):
        convert(train_dataloader=ade(metainfo=dict(classes=("wall", "building"))))
    # all classes, no classes, or no reduced labels: the same ids either way
    convert(train_dataloader=ade(metainfo=dict(classes=ADE20KDataset.CLASSES)))
    convert(train_dataloader=ade())
    convert(train_dataloader=ade(metainfo=dict(classes=("wall", "building")),
                                 reduce_zero_label=False))
