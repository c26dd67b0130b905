"""A MMSegmentation 1.x config end to end, in process: tools/train.py trains it (its
param_scheduler chain sets the logged lrs), 1.x's ``--resume`` continues exactly from a
checkpoint in the work dir, and tools/test.py evaluates it with the test_evaluator's metrics
(no --eval needed, as in 1.x) and writes the prediction PNGs of ``--out DIR``.

The config is configs/1.x/demo/fcn_tiny_4xb2-6it_synthetic-voc-24x24_1x.py (the smoke run's tiny
FCN, 6 iterations) on the 4-image synthetic data set of train_helpers; overrides use 1.x keys.
"""
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from seglab.errors import ConfigError

from train_helpers import (ROOT, data_root, load_train_tool, restore_torch_globals,  # noqa: F401
                           run_once)

CONFIG = ROOT / "configs/1.x/demo/fcn_tiny_4xb2-6it_synthetic-voc-24x24_1x.py"
TRAIN_TOOL = load_train_tool("seglab_tools_train_1x")


def load_test_tool():
    spec = importlib.util.spec_from_file_location("seglab_tools_test_1x", ROOT / "tools/test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def options(root, *splits):
    return [f"{split}_dataloader.dataset.data_root={root}" for split in splits]


def train(work_dir, root, *flags):
    return TRAIN_TOOL.main([str(CONFIG), "--work-dir", str(work_dir), "--deterministic", *flags,
                            "--cfg-options", *options(root, "train", "val", "test")])


def records(work_dir, mode):
    (log,) = Path(work_dir).glob("*.log.json")
    return [r for r in map(json.loads, log.read_text().splitlines()[1:]) if r.get("mode") == mode]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, data_root):
    """6 uninterrupted iterations (checkpoints after 3 and 6, the best mIoU at 6)."""
    def make(work_dir):
        det = torch.are_deterministic_algorithms_enabled()
        assert train(work_dir, data_root, "--seed", "0") == 0
        torch.use_deterministic_algorithms(det)

    return run_once(tmp_path_factory, "train_1x_full_run", make)


def test_trains_with_the_1x_schedule(full_run):
    names = sorted(p.name for p in full_run.glob("*.pth"))
    assert names == ["best_mIoU_iter_6.pth", "iter_3.pth", "iter_6.pth", "latest.pth"]
    # LinearLR(0.1) over iterations 0-1, then PolyLR(eta_min=1e-4, power=0.9) over 2-5
    # (T = 3 steps): mmengine's values, by hand.
    poly = [0.01, 0.0099 * (2 / 3) ** 0.9 + 1e-4, 0.0099 * (1 / 3) ** 0.9 + 1e-4, 1e-4]
    lrs = [r["lr"] for r in records(full_run, "train")]  # the json log keeps 3 digits
    assert lrs == pytest.approx([0.001, 0.01] + poly, rel=2e-3)
    (val,) = records(full_run, "val")
    assert val["iter"] == 6 and 0 <= val["mIoU"] <= 1
    # the converted config is dumped and loads as the 0.x config seglab ran
    dumped = (full_run / CONFIG.name).read_text()
    assert "train_dataloader = " not in dumped and "lr_config = " in dumped


def test_resume_flag_continues_exactly(full_run, data_root, tmp_path):
    shutil.copy(full_run / "iter_3.pth", tmp_path / "iter_3.pth")
    torch.manual_seed(1234)  # a resumed process starts with unrelated generator states
    np.random.seed(1234)
    assert train(tmp_path, data_root, "--resume") == 0  # 1.x: the latest checkpoint of work_dir
    want = torch.load(full_run / "iter_6.pth", map_location="cpu", weights_only=True)
    got = torch.load(tmp_path / "iter_6.pth", map_location="cpu", weights_only=True)
    assert want["state_dict"].keys() == got["state_dict"].keys()
    for key, value in want["state_dict"].items():
        assert torch.equal(value, got["state_dict"][key]), key
    assert len(want["optimizer"]["state"]) > 0
    for index, state in want["optimizer"]["state"].items():
        assert torch.equal(state["momentum_buffer"],
                           got["optimizer"]["state"][index]["momentum_buffer"]), index
    assert [r["lr"] for r in records(tmp_path, "train")] == \
        [r["lr"] for r in records(full_run, "train")][3:]


def test_resume_with_a_path_and_1x_randomness(tmp_path):
    args = TRAIN_TOOL.parse_args([str(CONFIG), "--resume", "w/iter_3.pth"])
    cfg = TRAIN_TOOL.load_config(args.config, {"randomness": dict(seed=5, deterministic=True)})
    TRAIN_TOOL.apply_args(cfg, args)
    assert cfg.resume_from == "w/iter_3.pth" and not cfg.auto_resume
    assert args.deterministic and cfg.seed == 5


def test_bare_resume_flag_resumes_from_load_from_as_1x():
    # MMSeg 1.x: --resume sets cfg.resume = True; with load_from, mmengine resumes from that file
    args = TRAIN_TOOL.parse_args([str(CONFIG), "--resume", "--cfg-options", "load_from=w/x.pth"])
    cfg = TRAIN_TOOL.load_config(args.config, TRAIN_TOOL.config_options(args))
    TRAIN_TOOL.apply_args(cfg, args)
    assert cfg.resume_from == "w/x.pth" and cfg.get("load_from") is None


def test_test_tool_reports_the_test_evaluator_metrics(full_run, data_root, tmp_path):
    tool = load_test_tool()
    out_dir = tmp_path / "preds"
    assert tool.main([str(CONFIG), str(full_run / "latest.pth"), "--device", "cpu",
                      "--work-dir", str(tmp_path), "--out", str(out_dir),
                      "--cfg-options", *options(data_root, "test")]) == 0
    (eval_json,) = tmp_path.glob("eval_*.json")
    metric = json.loads(eval_json.read_text())["metric"]
    # test_evaluator = IoUMetric(iou_metrics=['mIoU', 'mDice']); val == test split here
    (val,) = records(full_run, "val")
    assert metric["mIoU"] == pytest.approx(val["mIoU"]) and "mDice" in metric
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == ["val_00000.png", "val_00001.png"]
    image = Image.open(out_dir / names[0])
    assert image.mode == "L"  # as 1.x's IoUMetric(output_dir): cv2/mmcv read the labels
    pred = np.array(image)
    assert pred.shape == (32, 32) and pred.max() < 6


def test_test_tool_on_the_dumped_config_evaluates_as_1x(full_run, data_root, tmp_path):
    """The config tools/train.py dumps into the work dir is the converted 0.x form; a 1.x user
    passes it back (tools/test.py WORK_DIR/CFG.py WORK_DIR/latest.pth) and gets the
    test_evaluator's metrics without --eval, as with the original file."""
    dumped = full_run / CONFIG.name
    assert dumped.is_file()
    assert load_test_tool().main([str(dumped), str(full_run / "latest.pth"), "--device", "cpu",
                                  "--work-dir", str(tmp_path),
                                  "--cfg-options", f"data.test.data_root={data_root}"]) == 0
    (eval_json,) = tmp_path.glob("eval_*.json")
    metric = json.loads(eval_json.read_text())["metric"]
    (val,) = records(full_run, "val")
    assert metric["mIoU"] == pytest.approx(val["mIoU"]) and "mDice" in metric


def test_resume_from_a_real_1x_checkpoint(data_root, tmp_path, caplog):
    """tests/config/fixtures_1x/fcn_tiny_1x_iter3.pth, written by MMSeg 1.2.2 after 3
    iterations of this config: training continues at iteration 4 with 1.x's lrs (from the saved
    groups' initial_lr), saying what a 1.x checkpoint does not restore."""
    ckpt = ROOT / "tests/config/fixtures_1x/fcn_tiny_1x_iter3.pth"
    assert train(tmp_path, data_root, "--resume", str(ckpt)) == 0
    poly = [0.0099 * (2 / 3) ** 0.9 + 1e-4, 0.0099 * (1 / 3) ** 0.9 + 1e-4, 1e-4]
    assert [r["lr"] for r in records(tmp_path, "train")] == pytest.approx(poly, rel=2e-3)
    (log,) = tmp_path.glob("*.log")
    assert "MMSegmentation 1.x checkpoint: the weights, the optimizer state and the iteration " \
           "are restored" in log.read_text()
    final = torch.load(tmp_path / "iter_6.pth", map_location="cpu", weights_only=True)
    assert final["meta"]["iter"] == 6 and final["meta"]["CLASSES"][1] == "disc"


def test_test_tool_tta(full_run, data_root, tmp_path):
    """--tta tests with the config's tta_pipeline (3 scales x 2 flips merged by the segmentor's
    aug_test); without a tta_pipeline it says to use --aug-test."""
    tool = load_test_tool()
    argv = [str(CONFIG), str(full_run / "latest.pth"), "--device", "cpu", "--work-dir",
            str(tmp_path), "--tta", "--cfg-options", *options(data_root, "test")]
    assert tool.main(argv) == 0
    (eval_json,) = tmp_path.glob("eval_*.json")
    assert 0 <= json.loads(eval_json.read_text())["metric"]["mIoU"] <= 1
    with pytest.raises(ConfigError, match=r"--tta needs the config's tta_pipeline"):
        tool.main(argv + ["tta_pipeline=None"])


def test_train_without_training_data_says_so(tmp_path, capsys):
    assert TRAIN_TOOL.main([str(CONFIG), "--work-dir", str(tmp_path), "--cfg-options",
                            "train_dataloader=None"]) == 2
    assert "error: The config has no training data: set data.train (0.x) or train_dataloader " \
           "(MMSegmentation 1.x)." in capsys.readouterr().err


def test_test_tool_without_a_test_dataloader_says_so(full_run, capsys):
    from seglab.apis.cli import run_tool  # main raises; the script prints the one line

    tool = load_test_tool()
    assert run_tool(tool.main, [str(CONFIG), str(full_run / "latest.pth"), "--device", "cpu",
                                "--cfg-options", "test_dataloader=None"]) == 2
    assert "in a MMSegmentation 1.x config: test_dataloader" in capsys.readouterr().err


def test_test_tool_format_only_test_evaluator(full_run, data_root, tmp_path):
    """test_evaluator = IoUMetric(format_only=True, output_dir=DIR), as 1.x's test-server
    configs set it: the predictions are written to DIR and no metrics are computed."""
    out_dir = tmp_path / "format_results"
    assert load_test_tool().main([
        str(CONFIG), str(full_run / "latest.pth"), "--device", "cpu", "--work-dir",
        str(tmp_path), "--cfg-options", *options(data_root, "test"),
        "test_evaluator.format_only=True", f"test_evaluator.output_dir={out_dir}"]) == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["val_00000.png", "val_00001.png"]
    assert not list(tmp_path.glob("eval_*.json"))
