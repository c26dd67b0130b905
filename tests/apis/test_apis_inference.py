"""init_segmentor, inference_segmentor, show_result and show_result_pyplot."""
from __future__ import annotations

import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from apis_helpers import tiny_model
from seglab.apis import (inference_segmentor, init_segmentor, show_result,
                         show_result_pyplot)
from seglab.datasets.synthetic import SYNTHETIC_CLASSES, SYNTHETIC_PALETTE
from seglab.engine import save_checkpoint
from seglab.errors import CheckpointError, ConfigError, DatasetError
from seglab.visualization import DisplayUnavailableError


@pytest.fixture(scope="module")
def model(fixture_files):
    # the checkpoint's layers as they are (the default folds BN: tests/apis/test_apis_fast_paths.py)
    return init_segmentor(fixture_files["config"], fixture_files["checkpoint"], device="cpu",
                          fuse_conv_bn=False, channels_last=False)


def test_init_segmentor_loads_weights_classes_and_palette(model, fixture_files):
    reference = tiny_model()
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0)
    assert model.CLASSES == SYNTHETIC_CLASSES
    assert [list(p) for p in model.PALETTE] == [list(p) for p in SYNTHETIC_PALETTE]
    assert not model.training and model.cfg.model.pretrained is None
    assert model.cfg.model.train_cfg is None


def test_classes_fall_back_to_the_config_dataset(fixture_files, tmp_path):
    bare = str(tmp_path / "bare.pth")
    save_checkpoint(tiny_model(), bare)  # no CLASSES in meta
    model = init_segmentor(fixture_files["config"], bare, device="cpu")
    assert model.CLASSES == SYNTHETIC_CLASSES and model.PALETTE is not None


def test_checkpoint_for_other_num_classes_is_a_clear_error(fixture_files, tmp_path):
    other = str(tmp_path / "four.pth")
    save_checkpoint(tiny_model(num_classes=4), other)
    with pytest.raises(CheckpointError, match=r"conv_seg\.weight.*\[4, 16, 1, 1\].*"
                                              r"\[6, 16, 1, 1\](.|\n)*num_classes"):
        init_segmentor(fixture_files["config"], other, device="cpu", strict=True)


def test_inference_on_paths_and_arrays(model, fixture_files):
    paths = [osp.join(fixture_files["data_root"], "JPEGImages", f"val_0000{i}.jpg")
             for i in (1, 2, 3)]
    arrays = [cv2.imread(p) for p in paths]
    assert len({a.shape for a in arrays}) == 3  # three sizes in one batch
    one = [inference_segmentor(model, p)[0] for p in paths]
    from_arrays = inference_segmentor(model, arrays)
    from_paths = inference_segmentor(model, paths)
    for single, a, b, img in zip(one, from_arrays, from_paths, arrays):
        assert single.shape == img.shape[:2]
        np.testing.assert_array_equal(single, a)
        np.testing.assert_array_equal(single, b)
    assert len(np.unique(np.concatenate([p.ravel() for p in one]))) > 1
    # The test pipeline is the config's (resize to 40x40 keep-ratio), not a bare forward.
    with torch.no_grad():
        x = (torch.from_numpy(arrays[0][:, :, ::-1].copy()).permute(2, 0, 1).float()
             - torch.tensor([123.675, 116.28, 103.53])[:, None, None]) \
            / torch.tensor([58.395, 57.12, 57.375])[:, None, None]
        direct = model.encode_decode(x[None], None).argmax(1)[0].numpy()
    np.testing.assert_array_equal(direct, one[0])  # 40-pixel image: the resize is identity


def test_inference_errors(model):
    with pytest.raises(DatasetError, match=r"'nope\.jpg' does not exist"):
        inference_segmentor(model, "nope.jpg")
    with pytest.raises(DatasetError, match=r"\(H, W, 3\)"):
        inference_segmentor(model, np.zeros((4, 4, 5), np.uint8))
    bare = tiny_model()
    with pytest.raises(ConfigError, match="init_segmentor"):
        inference_segmentor(bare, np.zeros((8, 8, 3), np.uint8))


def test_show_result_and_pyplot_without_display(model, fixture_files, tmp_path, monkeypatch):
    path = osp.join(fixture_files["data_root"], "JPEGImages", "val_00000.jpg")
    result = inference_segmentor(model, path)
    img = cv2.imread(path)
    blended = show_result(model, path, result, opacity=0.5)
    colors = np.asarray(SYNTHETIC_PALETTE, np.uint8)[result[0]][..., ::-1]
    np.testing.assert_array_equal(blended, (img * 0.5 + colors * 0.5).astype(np.uint8))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(DisplayUnavailableError, match="out_file"):
        show_result_pyplot(model, path, result)
    out = str(tmp_path / "o" / "overlay.png")
    again = show_result_pyplot(model, path, result, out_file=out)
    np.testing.assert_array_equal(again, blended)
    np.testing.assert_array_equal(cv2.imread(out), blended)
