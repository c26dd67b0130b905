"""The start-up check of a sample of the training labels (seglab.datasets.label_sample_check)."""
import logging

import numpy as np
import pytest
from PIL import Image

from seglab.datasets import ConcatDataset, CustomDataset, RepeatDataset
from seglab.datasets.label_sample_check import (check_label_sample, sample_label_files,
                                                spread_indices)
from seglab.errors import DatasetError

PIPELINE = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations")]


def make_labels(root, masks, name="part"):
    """Label PNGs ``<root>/<name>/ann/<i>.png`` and a split file; no images at all (the check
    must not read them)."""
    folder = root / name
    (folder / "img").mkdir(parents=True)
    (folder / "ann").mkdir()
    names = [f"{i:03d}" for i in range(len(masks))]
    for stem, mask in zip(names, masks):
        Image.fromarray(np.asarray(mask, np.uint8)).save(folder / "ann" / f"{stem}.png")
    (folder / "split.txt").write_text("\n".join(names) + "\n")
    return folder


def dataset(folder, classes, **kwargs):
    return CustomDataset(PIPELINE, img_dir="img", ann_dir="ann", split="split.txt",
                         data_root=str(folder), classes=classes, **kwargs)


def binary_mask(value=255, size=8):
    mask = np.zeros((size, size), np.uint8)
    mask[2:6, 2:6] = value
    return mask


def test_spread_indices_are_bounded_even_and_deterministic():
    assert spread_indices(5, 32) == [0, 1, 2, 3, 4]
    picked = spread_indices(1000, 32)
    assert len(picked) == 32 and picked[0] == 0 and picked[-1] == 999
    assert picked == spread_indices(1000, 32)
    gaps = np.diff(picked)
    assert gaps.min() >= 32 and gaps.max() <= 33
    assert spread_indices(0, 32) == [] and spread_indices(10, 0) == []


def test_0_255_masks_in_a_2_class_dataset_stop_with_the_fix(tmp_path):
    ds = dataset(make_labels(tmp_path, [binary_mask() for _ in range(6)]), ("bg", "fg"))
    with pytest.raises(DatasetError) as info:
        check_label_sample(ds)
    msg = str(info.value)
    assert msg.startswith("data.train: all 6 label files")
    assert "000.png" in msg and "(3 more)" in msg and "only the values 0 and 255" in msg
    assert "'fg'" in msg
    assert "convert the masks to 0/1" in msg and "tools/check_dataset.py" in msg
    assert "--no-label-check" in msg and "label_check = False" in msg


def _records(caplog, logger):
    """What the check logged (caplog also holds the dataset's own INFO lines when an earlier test
    in this worker set the 'seglab' logger to INFO)."""
    return [r for r in caplog.records if r.name == logger.name]


def test_0_1_masks_pass_without_a_warning(tmp_path, caplog):
    ds = dataset(make_labels(tmp_path, [binary_mask(1) for _ in range(6)]), ("bg", "fg"))
    logger = logging.getLogger("seglab.test_label_sample")
    with caplog.at_level(logging.WARNING, logger=logger.name):
        sample = check_label_sample(ds, logger)
    assert sample.counts == {0: 6 * 48, 1: 6 * 16} and _records(caplog, logger) == []


def test_at_most_max_files_are_read_spread_over_concat_and_repeat(tmp_path):
    first = dataset(make_labels(tmp_path, [binary_mask(1)] * 30, "a"), ("bg", "fg"))
    second = dataset(make_labels(tmp_path, [binary_mask(255)] * 30, "b"), ("bg", "fg"))
    wrapped = RepeatDataset(ConcatDataset([first, second]), times=3)
    picked, total = sample_label_files(wrapped, max_files=8)
    assert total == 60 and len(picked) == 8
    folders = [path.split("/")[-3] for path, _, _ in picked]
    assert folders.count("a") == 4 and folders.count("b") == 4
    # Half the sample is 0/1: not the 0/255 trap, whatever the other half holds.
    assert check_label_sample(wrapped, max_files=8).counts[1] > 0
    with pytest.raises(DatasetError, match="all 8 label files"):
        check_label_sample(RepeatDataset(second, times=2), max_files=8)


def test_reduce_zero_label_is_applied_as_loading_does(tmp_path):
    # 0/1 masks with reduce_zero_label become 255/0: the trap again, after loading.
    folder = make_labels(tmp_path, [binary_mask(1) for _ in range(4)])
    ds = CustomDataset([dict(type="LoadImageFromFile"),
                        dict(type="LoadAnnotations", reduce_zero_label=True)],
                       img_dir="img", ann_dir="ann", split="split.txt", data_root=str(folder),
                       classes=("bg", "fg"))
    with pytest.raises(DatasetError, match="only the values 0 and 255"):
        check_label_sample(ds)


def test_a_class_absent_from_the_sample_is_a_logged_warning(tmp_path, caplog):
    ds = dataset(make_labels(tmp_path, [binary_mask(1) for _ in range(5)]),
                 ("bg", "cat", "dog"))
    logger = logging.getLogger("seglab.test_label_sample")
    with caplog.at_level(logging.WARNING, logger=logger.name):
        check_label_sample(ds, logger)
    (record,) = _records(caplog, logger)
    assert record.levelno == logging.WARNING
    assert "class 'dog' has no pixels in a sample of 5 label files" in record.getMessage()
    assert "tools/check_dataset.py" in record.getMessage()


def test_a_missing_sampled_label_file_is_named(tmp_path):
    folder = make_labels(tmp_path, [binary_mask(1) for _ in range(3)])
    (folder / "ann" / "002.png").unlink()
    with pytest.raises(DatasetError, match="002.png' does not exist"):
        check_label_sample(dataset(folder, ("bg", "fg")))
