"""collate (padding, bookkeeping, test-time layout) and prepare_batch (deferred normalisation)."""
import numpy as np
import pytest
import torch

from seglab.datasets.collate import collate, pad_stack, prepare_batch
from seglab.datasets.transforms import Compose

MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


def _sample(h, w, fill=10, label=1, deferred=False):
    cfg = dict(mean=np.float32(MEAN), std=np.float32(STD), to_rgb=True)
    if deferred:
        cfg["deferred"] = True
    meta = dict(img_shape=(h, w, 3), pad_shape=(h, w, 3), ori_shape=(h, w, 3), img_norm_cfg=cfg)
    return dict(img=torch.full((3, h, w), fill, dtype=torch.uint8 if deferred else torch.float32),
                gt_semantic_seg=torch.full((1, h, w), label, dtype=torch.int64), img_metas=meta)


def test_collate_pads_images_with_0_and_labels_with_255():
    samples = [_sample(4, 6), _sample(5, 3, fill=20, label=2)]
    batch = collate(samples)
    assert batch["img"].shape == (2, 3, 5, 6) and batch["gt_semantic_seg"].shape == (2, 1, 5, 6)
    assert torch.all(batch["img"][0, :, :4, :6] == 10) and torch.all(batch["img"][0, :, 4:] == 0)
    assert torch.all(batch["img"][1, :, :5, :3] == 20) and torch.all(batch["img"][1, :, :, 3:] == 0)
    assert torch.all(batch["gt_semantic_seg"][0, :, 4:] == 255)
    assert torch.all(batch["gt_semantic_seg"][1, :, :, 3:] == 255)
    assert batch["gt_semantic_seg"][1, 0, 0, 0] == 2
    metas = batch["img_metas"]
    assert [m["batch_input_shape"] for m in metas] == [(5, 6), (5, 6)]
    assert [m["img_shape"] for m in metas] == [(4, 6, 3), (5, 3, 3)]  # kept for un-padding
    assert "batch_input_shape" not in samples[0]["img_metas"]  # inputs not mutated


def test_collate_same_size_stacks_and_drops_none():
    batch = collate([_sample(4, 4), None, _sample(4, 4, fill=3)])
    assert batch["img"].shape == (2, 3, 4, 4) and batch["img"][1, 0, 0, 0] == 3


def test_collate_test_time_samples_per_augmentation():
    def tta_sample(h, w):
        augs = [_sample(h, w), _sample(2 * h, 2 * w)]
        return dict(img=[a["img"] for a in augs], img_metas=[a["img_metas"] for a in augs])

    batch = collate([tta_sample(4, 6), tta_sample(5, 3)])
    assert isinstance(batch["img"], list) and len(batch["img"]) == 2
    assert batch["img"][0].shape == (2, 3, 5, 6) and batch["img"][1].shape == (2, 3, 10, 12)
    assert len(batch["img_metas"]) == 2 and len(batch["img_metas"][1]) == 2
    assert batch["img_metas"][1][0]["img_shape"] == (8, 12, 3)
    assert batch["img_metas"][1][1]["batch_input_shape"] == (10, 12)


def test_collate_errors():
    with pytest.raises(ValueError, match="empty batch"):
        collate([None])
    with pytest.raises(ValueError, match="different keys"):
        collate([_sample(2, 2), {"img": torch.zeros(3, 2, 2)}])
    with pytest.raises(ValueError, match="augmentations"):
        collate([dict(img=[torch.zeros(3, 2, 2)]), dict(img=[torch.zeros(3, 2, 2)] * 2)])
    with pytest.raises(ValueError, match="DefaultFormatBundle"):
        collate([dict(img=np.zeros((2, 2, 3)), img_metas={})])
    with pytest.raises(ValueError, match="only the last two"):
        pad_stack([torch.zeros(3, 2, 2), torch.zeros(1, 2, 2)], 0)


def test_pad_stack_promotes_mixed_dtypes():
    out = pad_stack([torch.full((1, 2, 2), 7, dtype=torch.uint8), torch.ones(1, 1, 3)], 0)
    assert out.dtype == torch.float32 and out.shape == (2, 1, 2, 3)
    assert out[0, 0, 0, 0] == 7 and out[1, 0, 1, 0] == 0


def test_prepare_batch_normalises_deferred_samples_and_zeroes_collate_padding():
    a = _sample(4, 6, fill=50, deferred=True)
    b = _sample(2, 3, fill=200, deferred=True)
    b["img"][0] = 0  # B channel 0 becomes the R channel after to_rgb
    batch = collate([a, b])
    assert batch["img"].dtype == torch.uint8
    assert batch["img_metas"][1]["img_norm_cfg"]["sample_hw"] == (2, 3)
    out = prepare_batch(batch, "cpu")
    img = out["img"]
    assert img.dtype == torch.float32 and img.shape == (2, 3, 4, 6)
    expected_a = (50 - torch.tensor(MEAN)) / torch.tensor(STD)
    assert torch.equal(img[0, :, 0, 0], expected_a)
    expected_b = (torch.tensor([200.0, 200.0, 0.0]) - torch.tensor(MEAN)) / torch.tensor(STD)
    assert torch.equal(img[1, :, 1, 2], expected_b)
    assert torch.all(img[1, :, 2:] == 0) and torch.all(img[1, :, :, 3:] == 0)
    assert [m["img_shape"] for m in out["img_metas"]] == [(4, 6, 3), (2, 3, 3)]
    assert set(out["img_metas"][0]["img_norm_cfg"]) == {"mean", "std", "to_rgb"}
    again = prepare_batch(out, "cpu")  # idempotent: nothing is normalised twice
    assert torch.equal(again["img"], img)
    assert torch.equal(out["gt_semantic_seg"], batch["gt_semantic_seg"])
    assert batch["img"].dtype == torch.uint8  # the collated batch is not modified


def test_prepare_batch_writes_pad_value_of_a_deferred_pad():
    pipeline = Compose([dict(type="Normalize", mean=MEAN, std=STD, to_rgb=True),
                        dict(type="Pad", size=(4, 5), pad_val=(1.0, 2.0, 3.0)),
                        dict(type="DefaultFormatBundle"),
                        dict(type="Collect", keys=["img"], meta_keys=["img_norm_cfg"])])
    eager = Compose([dict(type="Normalize", mean=MEAN, std=STD, to_rgb=True, defer=False),
                     dict(type="Pad", size=(4, 5), pad_val=(1.0, 2.0, 3.0)),
                     dict(type="DefaultFormatBundle"),
                     dict(type="Collect", keys=["img"], meta_keys=["img_norm_cfg"])])
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (2, 3, 3)).astype(np.uint8),
              rng.integers(0, 256, (6, 2, 3)).astype(np.uint8)]
    deferred = collate([pipeline(dict(img=im.copy())) for im in images])
    reference = collate([eager(dict(img=im.copy())) for im in images])
    assert deferred["img_metas"][0]["img_norm_cfg"]["content_hw"] == (2, 3)
    got = prepare_batch(deferred, "cpu")["img"]
    want = prepare_batch(reference, "cpu")["img"]
    assert got.shape == want.shape == (2, 3, 6, 5)
    assert (got - want).abs().max().item() <= 1e-5
    assert got[0, :, 3, 4].tolist() == [1.0, 2.0, 3.0]  # Pad region of sample 0
    assert got[0, :, 5, 0].tolist() == [0.0, 0.0, 0.0]  # collate padding below its 4 rows
    assert got[1, :, 0, 3].tolist() == [1.0, 2.0, 3.0]  # 6x2 image padded to width 5


def test_prepare_batch_eager_and_test_time_batches():
    eager = collate([_sample(2, 2, fill=3)])
    out = prepare_batch(eager, torch.device("cpu"))
    assert torch.equal(out["img"], eager["img"])
    tta = collate([dict(img=[torch.full((3, 2, 2), 9, dtype=torch.uint8)],
                        img_metas=[dict(img_norm_cfg=dict(mean=np.zeros(3), std=np.ones(3),
                                                          to_rgb=False))])])
    out = prepare_batch(tta, "cpu", non_blocking=False)
    assert isinstance(out["img"], list) and out["img"][0].dtype == torch.float32
    assert torch.all(out["img"][0] == 9)  # not deferred: only cast to float32


def test_prepare_batch_mixed_configs_normalise_each_sample_with_its_own():
    rng = np.random.default_rng(3)
    raw = [rng.integers(0, 256, (3, 4, 5)).astype(np.uint8) for _ in range(3)]
    cfgs = [dict(mean=np.float32([1, 2, 3]), std=np.float32([4, 5, 6]), to_rgb=True,
                 deferred=True),
            dict(mean=np.float32([10, 20, 30]), std=np.float32([2, 2, 2]), to_rgb=False,
                 deferred=True),
            dict(mean=np.zeros(3, np.float32), std=np.ones(3, np.float32), to_rgb=False)]
    samples = [dict(img=torch.from_numpy(r) if i < 2 else torch.from_numpy(r).float(),
                    img_metas=dict(img_norm_cfg=c)) for i, (r, c) in enumerate(zip(raw, cfgs))]
    out = prepare_batch(collate(samples), "cpu")["img"]
    assert out.dtype == torch.float32
    first = (torch.from_numpy(raw[0]).float().flip(0) - torch.tensor([1.0, 2, 3]).view(3, 1, 1)
             ) / torch.tensor([4.0, 5, 6]).view(3, 1, 1)
    second = (torch.from_numpy(raw[1]).float() - torch.tensor([10.0, 20, 30]).view(3, 1, 1)) / 2
    assert torch.equal(out[0], first) and torch.equal(out[1], second)
    assert torch.equal(out[2], torch.from_numpy(raw[2]).float())
