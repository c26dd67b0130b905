"""Batched test inference gives exactly the predictions of batch size 1."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from apis_helpers import tiny_model
from seglab.apis.batching import shape_groups, sub_batch
from seglab.apis.cli import build_test_loader
from seglab.apis.test import run_test
from seglab.datasets import prepare_batch


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def _predictions(cfg, model, batch_size):
    _, loader = build_test_loader(cfg, batch_size=batch_size)
    return run_test(model, loader, keep_predictions=True, logger="silent").predictions


def test_images_of_different_sizes(cfg, model):
    one = _predictions(cfg, model, 1)
    assert len({p.shape for p in one}) > 2  # sizes differ
    batched = _predictions(cfg, model, 4)
    assert [p.shape for p in batched] == [p.shape for p in one]
    for a, b in zip(one, batched):
        np.testing.assert_array_equal(a, b)


def test_same_size_images_run_as_one_batch(cfg, model):
    # A fixed-size resize: every image becomes 40x32, so a batch is one real forward.
    cfg.data.test.pipeline[1].transforms[0].keep_ratio = False
    cfg.data.test.pipeline[1].img_scale = (40, 32)
    calls = []
    hook = model.backbone.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    try:
        one = _predictions(cfg, model, 1)
        calls.clear()
        batched = _predictions(cfg, model, 5)
    finally:
        hook.remove()
    assert calls == [5]
    for a, b in zip(one, batched):
        # Same inputs; only the conv kernels' batch-size rounding may differ, which does not
        # move any argmax on these logits.
        np.testing.assert_array_equal(a, b)


def test_groups_and_sub_batches_cut_the_collate_padding(cfg):
    _, loader = build_test_loader(cfg, batch_size=5)
    batch = prepare_batch(next(iter(loader)), "cpu")
    metas = batch["img_metas"][0]
    sizes = [tuple(m["pad_shape"][:2]) for m in metas]
    groups = shape_groups(batch)
    assert sorted(r for g in groups for r in g) == list(range(5))
    assert all(len({sizes[r] for r in g}) == 1 for g in groups)
    for rows in groups:
        part = sub_batch(batch, rows)
        h, w = sizes[rows[0]]
        assert part["img"][0].shape == (len(rows), 3, h, w)
        assert all(m["batch_input_shape"] == (h, w) for m in part["img_metas"][0])
        torch.testing.assert_close(part["img"][0], batch["img"][0][rows, :, :h, :w],
                                   rtol=0, atol=0)
    # The input batch's metas are untouched.
    padded = tuple(batch["img"][0].shape[-2:])
    assert all(m["batch_input_shape"] == padded for m in batch["img_metas"][0])
