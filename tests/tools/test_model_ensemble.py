"""tools/model_ensemble.py: two randomly initialised smoke models (their predictions differ, unlike
the trained smoke run's, which is background everywhere) against tools/test.py --out."""
import pickle

import numpy as np
import pytest
import torch
from torch import nn
from PIL import Image

from after_training_helpers import SMOKE, error_line, load_tool, workflow  # noqa: F401 (fixture)
from seglab.config import Config
from seglab.models import build_segmentor
from train_helpers import data_options, run_tool

NAMES = ["val_00000.png", "val_00001.png"]  # MMSeg's naming: the label files' basenames


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ensemble_ckpts")
    paths = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        model = build_segmentor(Config.fromfile(SMOKE).model)
        # At init the features fade layer by layer and one class wins everywhere: give the BN
        # layers the statistics of a random batch and the classifier unit-variance weights.
        norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for norm in norms:
            norm.momentum = None  # a plain average over the calibration forward
            norm.reset_running_stats()
        with torch.no_grad():
            model.train().forward_dummy(torch.randn(4, 3, 32, 32))
            model.decode_head.conv_seg.weight.normal_(0, 1)
        paths.append(folder / f"random_{seed}.pth")
        torch.save({"meta": {}, "state_dict": model.state_dict()}, paths[-1])
    return paths


def _test_tool_predictions(ckpt, data_root, tmp_path, *extra):
    out = tmp_path / f"{ckpt.stem}{'_aug' if extra else ''}.pkl"
    argv = [str(SMOKE), str(ckpt), "--out", str(out), "--device", "cpu", *extra,
            "--options", *data_options(data_root)]
    assert load_tool("test.py").main(argv) == 0
    with open(out, "rb") as f:
        return pickle.load(f)


def _read(folder):
    return [np.array(Image.open(folder / name)) for name in NAMES]


def test_two_models_agree_where_both_agree(workflow, checkpoints, tmp_path):
    out = tmp_path / "ens"
    result = run_tool("model_ensemble.py", "--config", SMOKE, SMOKE, "--checkpoint",
                      *checkpoints, "--out", out, "--device", "cpu", "--options",
                      *data_options(workflow["data_root"]), cwd=tmp_path)
    assert "ensembled predictions of 2 models for 2 images" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == NAMES
    ensemble = _read(out)
    first, second = (_test_tool_predictions(c, workflow["data_root"], tmp_path)
                     for c in checkpoints)
    for ens, a, b in zip(ensemble, first, second):
        assert ens.shape == a.shape and ens.dtype == np.uint8
        agree = a == b
        assert agree.any() and not agree.all()  # the test means something
        # argmax(p + q) is class k wherever both argmax p and argmax q are k.
        np.testing.assert_array_equal(ens[agree], a[agree])
    assert any((ens != a).any() for ens, a in zip(ensemble, first))  # not a copy of one model
    assert any((ens != b).any() for ens, b in zip(ensemble, second))


@pytest.mark.parametrize("aug_test", [False, True])
def test_one_model_equals_the_test_tool(aug_test, workflow, checkpoints, tmp_path):
    """A model ensembled with itself (or alone) predicts what tools/test.py predicts; with
    --aug-test both average the same six scales and flips."""
    extra = ["--aug-test"] if aug_test else []
    ckpts = checkpoints[:1] * (1 if aug_test else 2)
    argv = ["--config", *[str(SMOKE)] * len(ckpts), "--checkpoint", *map(str, ckpts),
            "--out", str(tmp_path / "ens"), "--device", "cpu", *extra,
            "--options", *data_options(workflow["data_root"])]
    assert load_tool("model_ensemble.py").main(argv) == 0
    expected = _test_tool_predictions(checkpoints[0], workflow["data_root"], tmp_path, *extra)
    for ens, pred in zip(_read(tmp_path / "ens"), expected):
        np.testing.assert_array_equal(ens, pred)


@pytest.mark.parametrize("argv, message", [
    (["--config", "a.py", "b.py", "--checkpoint", "a.pth"],
     "configs and checkpoints must be the same: 2 --config and 1 --checkpoint"),
    (["--checkpoint", "a.pth"], "Give the models: --config"),
    (["--config", "a.py", "--checkpoint", "a.pth", "--out", ""], "give --out DIR"),
])
def test_argument_errors_are_one_line(argv, message, capsys):
    from seglab.apis.cli import run_tool as run_main

    assert run_main(load_tool("model_ensemble.py").main, argv) == 2
    assert message in error_line(capsys)


def test_models_for_other_classes_are_refused(workflow, checkpoints, tmp_path, capsys):
    from seglab.apis.cli import run_tool as run_main

    other = tmp_path / "seven.py"
    other.write_text(f"_base_ = '{SMOKE}'\nmodel = dict(decode_head=dict(num_classes=7), "
                     "auxiliary_head=dict(num_classes=7))\n")
    torch.manual_seed(0)
    seven = build_segmentor(Config.fromfile(other).model)
    torch.save({"meta": {}, "state_dict": seven.state_dict()}, tmp_path / "seven.pth")
    argv = ["--config", str(SMOKE), str(other), "--checkpoint", str(checkpoints[0]),
            str(tmp_path / "seven.pth"), "--out", str(tmp_path / "ens"), "--device", "cpu",
            "--options", *data_options(workflow["data_root"])]
    assert run_main(load_tool("model_ensemble.py").main, argv) == 2
    line = error_line(capsys)
    assert "Ensembled models need the same classes; the models predict 6 (" in line
    assert f"7 ({other}) output channels" in line
    assert not (tmp_path / "ens").exists()  # refused before anything is written
