"""IoUMetric: batching, state, merging, all-reduce across processes, bounded memory."""
import gc
import os
import weakref

import numpy as np
import pytest
import torch
import torch.distributed as dist

from seglab.errors import DatasetError
from seglab.evaluation import IoUMetric, UnknownMetricError, intersect_and_union, pre_eval_to_metrics
from spawn_ranks import spawn_ranks


def _random_maps(n, h=12, w=14, num_classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    preds = [torch.randint(0, num_classes, (h, w), generator=g) for _ in range(n)]
    labels = [torch.randint(0, num_classes, (h, w), generator=g) for _ in range(n)]
    for label in labels:
        label[torch.rand(h, w, generator=g) < 0.1] = 255
    return preds, labels


def _metric_from(preds, labels, **kw):
    metric = IoUMetric(4, metrics=["mIoU", "mDice", "mFscore"], **kw)
    for p, l in zip(preds, labels):
        metric.process(p, l)
    return metric


def test_batch_layouts_give_the_same_counts_as_single_images():
    preds, labels = _random_maps(5)
    single = _metric_from(preds, labels)
    batched = IoUMetric(4, metrics=["mIoU", "mDice", "mFscore"])
    batched.process(torch.stack(preds[:3]), torch.stack(labels[:3]))  # (B, H, W)
    batched.process(torch.stack(preds[3:])[:, None], torch.stack(labels[3:])[:, None])  # (B,1,H,W)
    assert batched.num_images == single.num_images == 5
    for a, b in zip(single.total_areas, batched.total_areas):
        assert torch.equal(a, b)
        assert a.dtype == torch.int64 and a.device.type == "cpu"


def test_list_of_different_sizes_and_numpy_inputs():
    p1, l1 = _random_maps(1, 8, 9, seed=1)
    p2, l2 = _random_maps(1, 5, 13, seed=2)
    metric = IoUMetric(4)
    metric.process([p1[0].numpy(), p2[0].numpy()], [l1[0].numpy(), l2[0].numpy()])
    expected = pre_eval_to_metrics([intersect_and_union(p1[0], l1[0], 4, 255),
                                    intersect_and_union(p2[0], l2[0], 4, 255)])
    np.testing.assert_array_equal(metric.compute()["IoU"], expected["IoU"])
    assert metric.num_images == 2


def test_compute_layout_and_reset():
    preds, labels = _random_maps(3)
    metric = _metric_from(preds, labels)
    result = metric.compute()
    assert list(result)[:7] == ["aAcc", "mIoU", "mAcc", "mDice", "mFscore", "mPrecision", "mRecall"]
    assert list(result)[7:] == ["IoU", "Acc", "Dice", "Fscore", "Precision", "Recall"]
    assert result["IoU"].shape == (4,) and result["IoU"].dtype == np.float32
    assert result["mIoU"] == round(float(np.nanmean(result["IoU"])) * 100, 2)
    metric.reset()
    assert metric.num_images == 0 and all(int(a.sum()) == 0 for a in metric.total_areas)
    empty = metric.compute()
    assert np.isnan(empty["mIoU"]) and np.isnan(empty["aAcc"])


def test_label_transforms_in_process_do_not_touch_inputs():
    label = torch.tensor([[0, 1], [2, 255]])
    pred = torch.tensor([[0, 0], [1, 3]])
    metric = IoUMetric(4, reduce_zero_label=True)
    metric.process(pred, label)
    assert label.tolist() == [[0, 1], [2, 255]]
    # Labels become [[255, 0], [1, 255]]: two valid pixels, both predicted right.
    assert metric.total_areas[0].tolist() == [1, 1, 0, 0]


def test_bad_arguments_are_explained():
    with pytest.raises(UnknownMetricError, match="mFscore"):
        IoUMetric(3, metrics=["mIoU", "bogus"])
    with pytest.raises(ValueError, match="class_names"):
        IoUMetric(3, class_names=["a", "b"])
    metric = IoUMetric(3)
    with pytest.raises(TypeError, match="argmax"):
        metric.process(torch.zeros(2, 3, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long))
    with pytest.raises(DatasetError, match="differs from label shape"):
        metric.process(torch.zeros(4, 4, dtype=torch.long), torch.zeros(4, 5, dtype=torch.long))
    with pytest.raises(DatasetError, match="2 predictions but 1 labels"):
        metric.process([torch.zeros(2, 2, dtype=torch.long)] * 2, [torch.zeros(2, 2)])


def test_state_dict_merge_and_load():
    preds, labels = _random_maps(6)
    whole = _metric_from(preds, labels)
    first, second = _metric_from(preds[:2], labels[:2]), _metric_from(preds[2:], labels[2:])
    first.merge(second)
    assert first.num_images == 6
    for a, b in zip(whole.total_areas, first.total_areas):
        assert torch.equal(a, b)
    restored = IoUMetric(4, metrics=["mIoU", "mDice", "mFscore"])
    restored.merge(whole.state_dict())  # merging into an empty metric == loading
    assert restored.compute()["mIoU"] == whole.compute()["mIoU"]
    with pytest.raises(ValueError, match="num_classes"):
        IoUMetric(5).load_state_dict(whole.state_dict())


def test_all_reduce_is_a_no_op_without_process_group():
    preds, labels = _random_maps(2)
    metric = _metric_from(preds, labels)
    before = [a.clone() for a in metric.total_areas]
    metric.all_reduce()
    assert all(torch.equal(a, b) for a, b in zip(before, metric.total_areas))


def _all_reduce_worker(rank, world_size, init_file, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world_size)
    try:
        preds, labels = _random_maps(5)
        metric = IoUMetric(4, metrics=["mIoU", "mDice", "mFscore"])
        for i in range(rank, 5, world_size):  # rank 0: images 0, 2, 4; rank 1: 1, 3
            metric.process(preds[i], labels[i])
        metric.all_reduce()
        torch.save(metric.state_dict(), os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_all_reduce_sums_counts_across_two_processes(tmp_path):
    spawn_ranks(_all_reduce_worker, (str(tmp_path),))
    preds, labels = _random_maps(5)
    expected = _metric_from(preds, labels).state_dict()
    for rank in range(2):
        state = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert torch.equal(state["total_areas"], expected["total_areas"])
        assert state["num_images"] == 5


def _held_tensor_bytes(metric):
    total = 0
    for value in vars(metric).values():
        if isinstance(value, torch.Tensor):
            total += value.numel() * value.element_size()
    return total


def test_held_state_does_not_grow_with_the_number_of_images():
    preds, labels = _random_maps(100, 32, 32)
    metric = IoUMetric(4)
    for p, l in zip(preds[:10], labels[:10]):
        metric.process(p, l)
    after_10 = _held_tensor_bytes(metric)
    for p, l in zip(preds[10:], labels[10:]):
        metric.process(p, l)
    after_100 = _held_tensor_bytes(metric)
    assert after_10 == after_100 == 4 * 4 * 8  # four int64 vectors of num_classes counts
    assert metric.num_images == 100


def test_process_keeps_no_reference_to_its_inputs():
    metric = IoUMetric(4)
    pred = torch.randint(0, 4, (16, 16))
    label = torch.randint(0, 4, (16, 16))
    refs = [weakref.ref(pred), weakref.ref(label)]
    metric.process(pred, label)
    del pred, label
    gc.collect()
    assert all(r() is None for r in refs)
