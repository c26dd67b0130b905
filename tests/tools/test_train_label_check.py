"""tools/train.py on binary masks stored as 0/255 (issue 9): it stops at start, unless told not to.

Six 32 px images whose masks hold only 0 and 255 with ``classes=('bg', 'fg')``: MMSegmentation
trains on them without a word and reports mIoU 1.0 (255 is ignore_index, so 'fg' never appears).
"""
import re

import numpy as np
import pytest
from PIL import Image

from train_helpers import SMOKE, load_train_tool, restore_torch_globals  # noqa: F401

TRAIN_TOOL = load_train_tool("seglab_tools_train_label_check")


def write_dataset(root, fg_value):
    """``root/img/*.jpg`` and ``root/ann/*.png``: a square of ``fg_value`` on 0 in each mask."""
    (root / "img").mkdir(parents=True)
    (root / "ann").mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
            root / "img" / f"{i}.jpg")
        mask = np.zeros((32, 32), np.uint8)
        mask[8:24, 4 + i:20 + i] = fg_value
        Image.fromarray(mask).save(root / "ann" / f"{i}.png")
    return root


def write_config(path, data_root):
    """The smoke config with 2 classes on ``data_root``; 2 iterations, evaluation at the end."""
    split = dict(type="CustomDataset", data_root=str(data_root), img_dir="img", ann_dir="ann",
                 split=None, classes=("bg", "fg"))
    path.write_text(
        f"_base_ = {str(SMOKE)!r}\n"
        "model = dict(decode_head=dict(num_classes=2), auxiliary_head=dict(num_classes=2))\n"
        f"data = dict(train={split!r}, val={split!r}, test={split!r})\n"
        "runner = dict(max_iters=2)\n"
        "checkpoint_config = dict(interval=2)\n"
        "evaluation = dict(interval=2)\n")
    return path


@pytest.fixture(scope="module")
def binary_config(tmp_path_factory):
    root = tmp_path_factory.mktemp("binary_0_255")
    return write_config(root / "binary.py", write_dataset(root / "data", 255))


def test_0_255_masks_stop_training_at_start_with_the_fix(binary_config, tmp_path, capsys):
    work_dir = tmp_path / "w"
    code = TRAIN_TOOL.main([str(binary_config), "--work-dir", str(work_dir)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("error: ")]
    assert "data.train: all 6 label files" in line and "only the values 0 and 255" in line
    assert "0.png" in line and "'fg'" in line and "convert the masks to 0/1" in line
    assert "tools/check_dataset.py" in line and "--no-label-check" in line
    assert not list(work_dir.glob("*.pth"))  # stopped before the first iteration


@pytest.mark.parametrize("switch", [["--no-label-check"], ["--options", "label_check=False"]])
def test_the_check_can_be_turned_off_and_evaluation_then_says_what_mIoU_means(
        binary_config, tmp_path, capsys, switch):
    work_dir = tmp_path / "w"
    code = TRAIN_TOOL.main([str(binary_config), "--work-dir", str(work_dir), "--seed", "0",
                            *switch])
    assert code == 0, capsys.readouterr().err
    assert (work_dir / "latest.pth").exists()
    (log,) = work_dir.glob("*.log")
    text = log.read_text()
    assert "Acc.fg: nan" in text  # MMSeg's numbers are kept ...
    # ... and the mean that skips 'fg' is said next to the table. After 2 iterations the model
    # may still predict some 'fg' (IoU 0, mAcc skips it) or none (IoU NaN, mIoU skips it too).
    assert re.search(r"WARNING - class 'fg' has no pixels in the labels: its IoU is (NaN|0\.00) "
                     r"and m(IoU|Acc) averages over 1 of 2 classes", text), text


def test_0_1_masks_train_and_a_class_absent_from_the_sample_is_a_warning(tmp_path, capsys):
    config = write_config(tmp_path / "three.py", write_dataset(tmp_path / "data", 1))
    text = config.read_text().replace("('bg', 'fg')", "('bg', 'fg', 'other')")
    config.write_text(text.replace("num_classes=2", "num_classes=3"))
    work_dir = tmp_path / "w"
    code = TRAIN_TOOL.main([str(config), "--work-dir", str(work_dir), "--no-validate",
                            "--options", "runner.max_iters=1", "checkpoint_config.interval=-1"])
    assert code == 0, capsys.readouterr().err
    (log,) = work_dir.glob("*.log")
    assert ("WARNING - data.train: class 'other' has no pixels in a sample of 6 label files"
            in log.read_text())
