"""show_result: MMSeg 0.x blending, files written atomically, clear errors without a display."""
import numpy as np
import pytest
import cv2

from seglab.errors import DatasetError
from seglab.visualization import (DisplayUnavailableError, colorize, display_problems,
                                  require_display, show_result)
from seglab.visualization import display as display_mod

PALETTE = [[255, 0, 0], [0, 200, 10], [10, 20, 30]]  # RGB


@pytest.fixture
def image_and_seg():
    rng = np.random.RandomState(0)
    img = rng.randint(0, 256, (6, 7, 3)).astype(np.uint8)
    seg = rng.randint(0, 3, (6, 7))
    seg[0, 0] = 255  # ignored: painted black
    return img, seg


def test_blend_values_match_mmseg_formula(image_and_seg):
    img, seg = image_and_seg
    out = show_result(img, seg, PALETTE, opacity=0.3)
    assert out.dtype == np.uint8 and out.shape == img.shape
    # Pixel by pixel: BGR colour, float blend, truncation (not rounding) to uint8.
    for y, x in [(0, 0), (1, 2), (5, 6), (3, 3)]:
        label = seg[y, x]
        rgb = PALETTE[label] if label < 3 else [0, 0, 0]
        bgr = np.array(rgb[::-1], dtype=np.float64)
        expected = np.floor(img[y, x] * 0.7 + bgr * 0.3).astype(np.uint8)
        np.testing.assert_array_equal(out[y, x], expected)
    assert np.array_equal(img, image_and_seg[0]), "input image must not be modified"


def test_truncation_not_rounding():
    img = np.full((1, 1, 3), 3, np.uint8)
    out = show_result(img, np.zeros((1, 1), int), [[0, 0, 0]], opacity=0.5)
    assert out.tolist() == [[[1, 1, 1]]]  # 1.5 -> 1


def test_colorize_maps_ids_and_leaves_unknown_black():
    seg = np.array([[0, 1], [2, 255]])
    color = colorize(seg, np.array(PALETTE, np.uint8))
    assert color[0, 0].tolist() == [255, 0, 0] and color[1, 0].tolist() == [10, 20, 30]
    assert color[1, 1].tolist() == [0, 0, 0]


def test_out_file_written_atomically_in_new_directory(tmp_path, image_and_seg):
    img, seg = image_and_seg
    out_file = tmp_path / "deep" / "er" / "vis.png"
    returned = show_result(img, seg, PALETTE, out_file=str(out_file))
    assert out_file.is_file()
    np.testing.assert_array_equal(cv2.imread(str(out_file)), returned)
    leftovers = [p.name for p in out_file.parent.iterdir() if p.name != "vis.png"]
    assert leftovers == []
    with pytest.raises(ValueError, match="extension"):
        show_result(img, seg, PALETTE, out_file=str(tmp_path / "noext"))


def test_image_path_input_and_errors(tmp_path, image_and_seg):
    img, seg = image_and_seg
    cv2.imwrite(str(tmp_path / "img.png"), img)
    from_path = show_result(str(tmp_path / "img.png"), [seg], PALETTE)
    np.testing.assert_array_equal(from_path, show_result(img, seg, PALETTE))
    with pytest.raises(DatasetError, match="missing.jpg"):
        show_result(str(tmp_path / "missing.jpg"), seg, PALETTE)
    with pytest.raises(ValueError, match="shape"):
        show_result(img, seg[:, :3], PALETTE)
    with pytest.raises(ValueError, match="opacity"):
        show_result(img, seg, PALETTE, opacity=0)


def test_default_palette_is_the_seeded_random_one(image_and_seg):
    img, seg = image_and_seg
    np.random.seed(42)
    mmseg_random = np.random.randint(0, 255, size=(3, 3))
    np.testing.assert_array_equal(show_result(img, seg), show_result(img, seg, mmseg_random))


def test_show_without_display_says_so_and_points_to_show_dir(monkeypatch, image_and_seg):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(display_mod.sys, "platform", "linux")
    with pytest.raises(DisplayUnavailableError) as info:
        show_result(*image_and_seg, PALETTE, show=True)
    message = str(info.value)
    assert "no display" in message and "DISPLAY" in message and "--show-dir" in message
    assert isinstance(info.value, RuntimeError)


def test_headless_opencv_is_named(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(display_mod, "opencv_has_gui", lambda: False)
    problems = display_problems()
    assert len(problems) == 1 and "headless" in problems[0]
    with pytest.raises(DisplayUnavailableError, match="--show-dir"):
        require_display()


def test_display_checks_pass_when_both_are_available(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(display_mod, "opencv_has_gui", lambda: True)
    assert display_problems() == []
    require_display()


def test_installed_headless_opencv_detected():
    # This environment ships opencv-python-headless, whose build information says GUI: NONE.
    info = cv2.getBuildInformation()
    gui_line = next(l for l in info.splitlines() if l.strip().startswith("GUI:"))
    assert display_mod.opencv_has_gui() == ("NONE" not in gui_line.upper())


def test_out_file_turns_show_off(monkeypatch, tmp_path, image_and_seg):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    show_result(*image_and_seg, PALETTE, show=True, out_file=str(tmp_path / "a.jpg"))
    assert (tmp_path / "a.jpg").is_file()
