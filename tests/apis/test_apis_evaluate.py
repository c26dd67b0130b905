"""evaluate_segmentor / run_test: metric values, label transforms applied once, bounded memory."""
from __future__ import annotations

import copy
import gc
import logging
import weakref

import numpy as np
import pytest
import torch

from apis_helpers import NUM_CLASSES, OracleSegmentor, direct_metrics, tiny_model
from seglab.apis import evaluate_segmentor
from seglab.apis.cli import build_test_loader
from seglab.apis.evaluator import DatasetEvaluator
from seglab.apis.test import run_test
from seglab.datasets import ConcatDataset, build_dataloader
from seglab.errors import ConfigError


def _summary(values: np.ndarray) -> float:
    """MMSeg's summary: nan-mean in percent rounded to 2 decimals, back to a fraction."""
    return round(float(np.nanmean(values)) * 100, 2) / 100


def test_metrics_equal_a_direct_computation(cfg):
    dataset, loader = build_test_loader(cfg, batch_size=2)
    outputs = run_test(tiny_model(), loader, metric=["mIoU", "mDice", "mFscore"],
                       keep_predictions=True, logger="silent")
    gts = [dataset.get_gt_seg_map_by_idx(i) for i in range(len(dataset))]
    preds = [p.astype(np.int64) for p in outputs.predictions]
    assert len({tuple(g.shape) for g in gts}) > 1  # images of different sizes
    ref = direct_metrics(preds, gts, NUM_CLASSES)
    assert 0 < ref["aAcc"] < 1 and np.nanmax(ref["IoU"]) < 1  # a non-trivial prediction
    res = outputs.metrics
    assert res["aAcc"] == pytest.approx(_summary(ref["aAcc"]), abs=1e-9)
    for key, name in [("IoU", "mIoU"), ("Acc", "mAcc"), ("Dice", "mDice"),
                      ("Fscore", "mFscore"), ("Precision", "mPrecision"), ("Recall", "mRecall")]:
        assert res[name] == pytest.approx(_summary(ref[key]), abs=1e-9), name
        for cls, value in zip(dataset.CLASSES, ref[key]):
            got = res[f"{key}.{cls}"]
            if np.isnan(value):
                assert np.isnan(got)
            else:
                assert got == pytest.approx(round(value * 100, 2) / 100, abs=1e-6)


def test_evaluate_segmentor_logs_tables_and_restores_train_mode(cfg, caplog):
    dataset, loader = build_test_loader(cfg, batch_size=3)
    model = OracleSegmentor(dataset, NUM_CLASSES, step=5)
    model.train()
    logger = logging.getLogger("apis_tests.evaluate")  # outside "seglab": its propagate may be off
    with caplog.at_level(logging.INFO, logger=logger.name):
        res = evaluate_segmentor(model, loader, metric="mIoU", logger=logger)
    assert model.training
    gts = [dataset.get_gt_seg_map_by_idx(i) for i in range(len(dataset))]
    ref = direct_metrics(model.returned, gts, NUM_CLASSES)
    assert res["mIoU"] == pytest.approx(_summary(ref["IoU"]), abs=1e-9)
    assert set(res) == {"aAcc", "mIoU", "mAcc"} | {f"{m}.{c}" for m in ("IoU", "Acc")
                                                   for c in dataset.CLASSES}
    text = caplog.text
    assert "per class results:" in text and "Summary:" in text and "| background |" in text


@pytest.mark.parametrize("variant", ["reduce_zero_label", "classes_subset"])
def test_label_transforms_are_applied_exactly_once(cfg, variant):
    """An oracle that predicts the transformed ground truth scores exactly 100%."""
    test = cfg.data.test
    if variant == "reduce_zero_label":
        test.reduce_zero_label = True
        num_classes = NUM_CLASSES  # ids 0..4 in use after the shift; 5 classes named 6
    else:
        test.classes = ("disc", "background", "square")  # reordered: a second remap would swap back
        num_classes = 3
    dataset, loader = build_test_loader(cfg, batch_size=2)
    gts = [dataset.get_gt_seg_map_by_idx(i) for i in range(len(dataset))]
    raws = [dataset.gt_seg_map_loader.__class__()(dict(  # the label file as stored
        ann_info=dataset.get_ann_info(i), seg_prefix=dataset.ann_dir, seg_fields=[]))
        ["gt_semantic_seg"] for i in range(len(dataset))]
    for gt, raw in zip(gts, raws):  # the evaluation ground truth is transformed once
        if variant == "reduce_zero_label":
            shifted = (raw != 0) & (raw != 255)
            assert np.array_equal(gt[shifted], raw[shifted] - 1) and (gt[raw == 0] == 255).all()
        else:
            assert np.array_equal(gt == 1, raw == 0) and np.array_equal(gt == 0, raw == 1)
            assert (gt[raw >= 3] == 255).all()
    model = OracleSegmentor(dataset, num_classes)
    res = evaluate_segmentor(model, loader, metric=["mIoU", "mDice"], logger="silent")
    assert res["aAcc"] == 1.0 and res["mIoU"] == 1.0 and res["mDice"] == 1.0


def test_memory_does_not_grow_with_the_number_of_images(cfg):
    dataset, _ = build_test_loader(cfg)
    repeated = ConcatDataset([dataset] * 8, separate_eval=False)  # 40 images
    loader = build_dataloader(repeated, samples_per_gpu=4, workers_per_gpu=0, shuffle=False,
                              seed=0)
    model = OracleSegmentor(dataset, NUM_CLASSES, step=3)
    evaluator_sizes = []
    original_process = DatasetEvaluator.process

    def spying_process(self, index, pred, label=None):
        original_process(self, index, pred, label)
        state = [m.state_dict()["total_areas"] for m in self.part_metrics]
        evaluator_sizes.append(sum(t.numel() for t in state))

    DatasetEvaluator.process = spying_process
    try:
        res = evaluate_segmentor(model, loader, logger="silent")
    finally:
        DatasetEvaluator.process = original_process
    assert len(evaluator_sizes) == 40 and set(evaluator_sizes) == {4 * NUM_CLASSES}
    # No prediction outlives the loop: nothing per image is kept.
    refs = [weakref.ref(p) for p in model.returned]
    model.returned.clear()
    gc.collect()
    assert sum(r() is not None for r in refs) == 0
    # Eight copies of the data give the metrics of one.
    single = evaluate_segmentor(OracleSegmentor(dataset, NUM_CLASSES, step=3),
                                build_test_loader(copy.deepcopy(cfg))[1], logger="silent")
    assert res == pytest.approx(single, nan_ok=True)


def test_concat_dataset_separate_eval_prefixes_keys(cfg):
    dataset, _ = build_test_loader(cfg)
    concat = ConcatDataset([dataset, dataset], separate_eval=True)
    loader = build_dataloader(concat, samples_per_gpu=3, workers_per_gpu=0, shuffle=False, seed=0)
    res = evaluate_segmentor(OracleSegmentor(dataset, NUM_CLASSES, step=4), loader,
                             logger="silent")
    assert res["0_mIoU"] == res["1_mIoU"] and 0 < res["0_mIoU"] < 1
    assert "0_IoU.disc" in res and "mIoU" not in res


def test_unknown_metric_and_option_are_refused_before_running(cfg):
    dataset, loader = build_test_loader(cfg)
    model = OracleSegmentor(dataset, NUM_CLASSES)
    with pytest.raises(KeyError, match=r"\['mAP'\].*allowed metrics are \['mIoU', 'mDice', "
                                       r"'mFscore'\]"):
        evaluate_segmentor(model, loader, metric=["mIoU", "mAP"])
    with pytest.raises(ConfigError, match=r"nan_to_nun.*nan_to_num"):
        evaluate_segmentor(model, loader, nan_to_nun=0)
    assert model.returned == []  # nothing ran
    res = evaluate_segmentor(model, loader, nan_to_num=-1, efficient_test=False,
                             logger="silent")
    assert res["IoU.ring"] == -1.0  # ring is absent from these images: NaN without nan_to_num


def test_shuffled_loader_is_refused(cfg):
    dataset, _ = build_test_loader(cfg)
    loader = build_dataloader(dataset, samples_per_gpu=2, workers_per_gpu=0, shuffle=True,
                              infinite=False, seed=0)
    with pytest.raises(ConfigError, match="RandomSampler.*shuffle=False"):
        evaluate_segmentor(OracleSegmentor(dataset, NUM_CLASSES), loader)


def test_prediction_of_the_wrong_size_names_the_label(cfg):
    dataset, loader = build_test_loader(cfg)

    class Cropping(OracleSegmentor):
        def forward(self, *args, **kwargs):
            return [p[:-1] for p in super().forward(*args, **kwargs)]

    with pytest.raises(Exception, match=r"val_00000\.png.*rescale=True"):
        evaluate_segmentor(Cropping(dataset, NUM_CLASSES), loader, logger="silent")
    assert torch.is_grad_enabled()  # the loop's inference_mode did not leak
