"""tools/test.py --show-dir / --show / --wait-time with a MMSegmentation 1.x config, as 1.x does
it, against what MMSegmentation 1.2.2's own tools/test.py wrote (tests/tools/fixtures_show_1x,
made by tests/tools/make_show_dir_1x.py; see its README): the demo 1.x config with the real 1.x
checkpoint tests/config/fixtures_1x/fcn_tiny_1x_iter3.pth on the 2 val images of the 4-image
synthetic set of train_helpers. A 0.x config keeps 0.x's overlays.
"""
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import seglab.visualization
import seglab.visualization.display
from seglab.config import load_config
from seglab.errors import ConfigError
from seglab.visualization.datasample import draw_datasample

from train_helpers import ROOT, data_root, restore_torch_globals  # noqa: F401
from test_train_1x import load_test_tool

CONFIG_1X = ROOT / "configs/1.x/demo/fcn_tiny_4xb2-6it_synthetic-voc-24x24_1x.py"
CONFIG_0X = ROOT / "configs/demo/fcn_tiny_synthetic_voc_smoke.py"
CKPT_1X = ROOT / "tests/config/fixtures_1x/fcn_tiny_1x_iter3.pth"
FIXTURES = ROOT / "tests/tools/fixtures_show_1x"
NAMES = [f"vis_data/vis_image/test_val_0000{i}.jpg_0.png" for i in (0, 1)]
PALETTE = [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128]]
CLASSES = ("background", "disc", "square", "triangle", "stripes", "ring")


def run(root, work, *flags, config=CONFIG_1X, options=()):
    key = "test_dataloader.dataset" if config == CONFIG_1X else "data.test"
    return load_test_tool().main([str(config), str(CKPT_1X), "--device", "cpu", "--work-dir",
                                  str(work), *flags, "--cfg-options", f"{key}.data_root={root}",
                                  *options])


def files(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*") if p.is_file())


def read(path):
    return cv2.imread(str(path)).astype(np.int64)


@pytest.fixture(scope="module")
def painted(data_root, tmp_path_factory):
    """One 1.x run painting every image (interval=1, as the fixtures were made), with the
    predicted label PNGs (--out DIR) beside."""
    tmp = tmp_path_factory.mktemp("show_1x")
    assert run(data_root, tmp, "--show-dir", str(tmp / "vis"), "--out", str(tmp / "pred"),
               options=["default_hooks.visualization.interval=1"]) == 0
    return tmp


def test_folder_and_file_names_are_1x(painted):
    assert files(painted / "vis") == files(FIXTURES / "with_labels") == NAMES


def test_gt_beside_prediction_with_1x_alpha_bit_for_bit(painted, data_root):
    """Without the class names, seglab's painting of its own prediction equals 1.x's image
    (1.x's prediction, ground truth left, alpha 0.8) exactly."""
    for name in NAMES:
        stem = Path(name).name[len("test_"):-len(".jpg_0.png")]
        image = cv2.imread(f"{data_root}/JPEGImages/{stem}.jpg")[..., ::-1]
        gt = np.array(Image.open(f"{data_root}/SegmentationClass/{stem}.png"))
        pred = np.array(Image.open(painted / "pred" / f"{stem}.png"))
        drawn = draw_datasample(image, pred, CLASSES, PALETTE, gt=gt, alpha=0.8,
                                with_labels=False)
        assert drawn.shape == (gt.shape[0], 2 * gt.shape[1], 3)
        assert np.array_equal(drawn[..., ::-1], read(FIXTURES / "without_labels" / name)), name


def test_written_images_equal_1x_outside_the_class_names(painted):
    """The class-name boxes sit where 1.x puts them, but their size and glyphs are OpenCV's
    (getTextSize / putText differ between OpenCV 4 and 5): every other pixel is 1.x's."""
    for name in NAMES:
        ours, theirs = read(painted / "vis" / name), read(FIXTURES / "with_labels" / name)
        plain = read(FIXTURES / "without_labels" / name)
        names = (ours != plain).any(2) | (theirs != plain).any(2)
        assert 0 < names.mean() < 0.15, name  # the boxes are drawn, and small
        assert np.array_equal(ours[~names], theirs[~names]), name
        # each box starts at 1.x's anchor: 1.x's boxes contain seglab's (up to a few pixels)
        assert ((ours != plain).any(2) & ~(theirs != plain).any(2)).sum() <= 16, name


def test_1x_paints_every_interval_th_image_by_default_50(painted, data_root, tmp_path):
    assert run(data_root, tmp_path, "--show-dir", str(tmp_path / "vis"),
               options=["default_hooks.visualization.interval=2"]) == 0
    assert files(tmp_path / "vis") == NAMES[1:]
    assert np.array_equal(read(tmp_path / "vis" / NAMES[1]), read(painted / "vis" / NAMES[1]))
    assert run(data_root, tmp_path / "default", "--show-dir", str(tmp_path / "vis50")) == 0
    assert files(tmp_path / "vis50") == []  # 2 images: 1.x's default interval paints none


def test_opacity_overrides_the_visualizer_alpha(painted, data_root, tmp_path):
    assert run(data_root, tmp_path, "--show-dir", str(tmp_path / "vis"), "--opacity", "0.4",
               options=["default_hooks.visualization.interval=1"]) == 0
    assert run(data_root, tmp_path, "--show-dir", str(tmp_path / "alpha"),
               options=["default_hooks.visualization.interval=1", "visualizer.alpha=0.4"]) == 0
    for name in NAMES:
        assert np.array_equal(read(tmp_path / "vis" / name), read(tmp_path / "alpha" / name))
        assert not np.array_equal(read(tmp_path / "vis" / name), read(painted / "vis" / name))


@pytest.fixture
def windows(monkeypatch):
    """--show without a display: the windows are recorded (name, milliseconds)."""
    shown = []
    monkeypatch.setattr(seglab.visualization, "require_display", lambda: None)
    monkeypatch.setattr(seglab.visualization.display, "imshow",
                        lambda img, win_name="", wait_time=0: shown.append((win_name, wait_time)))
    return shown


def test_show_and_wait_time(data_root, tmp_path, windows):
    """1.x: each window stays --wait-time seconds (2 by default); 0.x: until a key (0 ms) unless
    --wait-time is given."""
    one = ["default_hooks.visualization.interval=1"]
    assert run(data_root, tmp_path, "--show", options=one) == 0
    assert windows == [("test_val_00000.jpg", 2000), ("test_val_00001.jpg", 2000)]
    windows.clear()
    assert run(data_root, tmp_path, "--show", "--wait-time", "0.25", options=one) == 0
    assert [ms for _, ms in windows] == [250, 250]
    windows.clear()
    assert run(data_root, tmp_path, "--show", config=CONFIG_0X) == 0
    assert [ms for _, ms in windows] == [0, 0]
    windows.clear()
    assert run(data_root, tmp_path, "--show", "--wait-time", "1.5", config=CONFIG_0X) == 0
    assert [ms for _, ms in windows] == [1500, 1500]
    with pytest.raises(ConfigError, match=r"--wait-time -1.0: must be >= 0 seconds"):
        run(data_root, tmp_path, "--show", "--wait-time", "-1")


def test_0x_show_dir_keeps_0x_overlays(data_root, tmp_path):
    assert run(data_root, tmp_path, "--show-dir", str(tmp_path / "vis"), config=CONFIG_0X) == 0
    assert files(tmp_path / "vis") == ["val_00000.jpg", "val_00001.jpg"]
    assert cv2.imread(str(tmp_path / "vis" / "val_00000.jpg")).shape == (32, 32, 3)


def test_converter_passes_the_hook_interval_and_alpha():
    assert load_config(CONFIG_1X).visualization_1x == dict(interval=50, alpha=0.8)
    cfg = load_config(CONFIG_1X, {"default_hooks.visualization.interval": 7,
                                  "visualizer.alpha": 0.6})
    assert cfg.visualization_1x == dict(interval=7, alpha=0.6)
    assert "visualization_1x" not in load_config(CONFIG_0X)
