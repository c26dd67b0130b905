"""Dataset palettes and class names equal MMSegmentation's; the random palette is MMSeg's."""
import numpy as np
import pytest

from seglab.errors import ConfigError
from seglab.visualization import (ade_palette, cityscapes_palette, get_classes, get_palette,
                                  random_palette, resolve_palette, voc_palette)


def test_voc_palette_known_entries():
    palette = get_palette("voc")
    assert len(palette) == 21
    # MMSeg voc_palette(): background black, aeroplane (128, 0, 0), ..., tvmonitor (0, 64, 128).
    assert palette[:9] == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128],
                           [128, 0, 128], [0, 128, 128], [128, 128, 128], [64, 0, 0]]
    assert palette[15] == [192, 128, 128] and palette[20] == [0, 64, 128]
    assert get_palette("pascal_voc") == get_palette("voc12aug") == voc_palette()


def test_cityscapes_and_ade_palettes():
    city = np.array(get_palette("cityscapes"))
    assert city.shape == (19, 3)
    assert city[0].tolist() == [128, 64, 128] and city[13].tolist() == [0, 0, 142]
    assert city[18].tolist() == [119, 11, 32]
    ade = np.array(get_palette("ade20k"))
    assert ade.shape == (150, 3) and get_palette("ade") == ade_palette()
    assert ade[0].tolist() == [120, 120, 120] and ade[2].tolist() == [6, 230, 230]
    assert ade[149].tolist() == [92, 0, 255]
    assert ade.min() >= 0 and ade.max() <= 255
    assert cityscapes_palette() is not cityscapes_palette()  # callers may edit their copy


def test_class_names_match_palettes():
    assert len(get_classes("voc")) == 21 and get_classes("voc")[15] == "person"
    assert get_classes("cityscapes")[6] == "traffic light" and len(get_classes("cityscapes")) == 19
    ade = get_classes("ade20k")
    assert len(ade) == 150 and ade[7] == "bed " and ade[-1] == "flag"


def test_unknown_dataset_lists_known_names():
    with pytest.raises(ConfigError, match="'cityscapes'"):
        get_palette("kitti")
    with pytest.raises(TypeError):
        get_palette(3)


def test_random_palette_is_mmseg_seeded_and_leaves_global_state_alone():
    np.random.seed(123)
    state_before = np.random.get_state()[1].copy()
    palette = random_palette(7)
    assert np.array_equal(np.random.get_state()[1], state_before)
    # What MMSeg 0.x does with the global generator.
    np.random.seed(42)
    expected = np.random.randint(0, 255, size=(7, 3))
    assert np.array_equal(np.array(palette), expected)
    assert random_palette(7) == palette


def test_resolve_palette_validates():
    assert resolve_palette("voc").dtype == np.uint8
    assert resolve_palette(None, num_classes=4).shape == (4, 3)
    with pytest.raises(ValueError, match="shape"):
        resolve_palette([[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="0..255"):
        resolve_palette([[0, 0, 300]])
    with pytest.raises(ValueError, match="num_classes"):
        resolve_palette(None)
