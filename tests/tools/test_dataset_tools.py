"""tools/check_dataset.py, browse_dataset.py, misc/make_synthetic_voc.py, convert_datasets/*."""
from __future__ import annotations

import importlib.util
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from shared_data import SHARED

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(ROOT, "tools")
PSEUDO_CITYSCAPES = f"{SHARED}/data/mmseg-testdata/tests/data/pseudo_cityscapes_dataset"


def load_tool(relpath: str):
    """Import a tool script as a module (to call its main(argv) in-process)."""
    path = osp.join(TOOLS, relpath)
    spec = importlib.util.spec_from_file_location("tool_" + relpath.replace("/", "_")[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(*args: str, cwd: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def voc(tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("tools") / "voc")
    tool = load_tool("misc/make_synthetic_voc.py")
    assert tool.main([out, "--num-train", "6", "--num-val", "2", "--size", "48",
                      "--seed", "2"]) == 0
    return out


def write_config(path: str, data_root: str) -> str:
    with open(path, "w") as f:
        f.write(f"_base_ = {osp.join(ROOT, 'configs/_base_/datasets/synthetic_voc.py')!r}\n"
                f"data_root = {data_root!r}\n"
                "data = dict(train=dict(data_root=data_root), val=dict(data_root=data_root), "
                "test=dict(data_root=data_root))\n")
    return path


def test_make_synthetic_voc_cli_layout(voc, capsys):
    tool = load_tool("misc/make_synthetic_voc.py")
    args = [voc, "--num-train", "6", "--num-val", "2", "--size", "48", "--seed", "2"]
    assert tool.main(args) == 0
    assert "6 train / 2 val" in capsys.readouterr().out
    assert tool.main([voc, "--num-train", "7"]) == 2  # holds other data: refused without --force
    assert "already exists" in capsys.readouterr().err
    assert sorted(os.listdir(voc)) == ["ImageSets", "JPEGImages", "SegmentationClass",
                                       "synthetic_voc.json"]
    assert len(os.listdir(osp.join(voc, "JPEGImages"))) == 8


def test_check_dataset_clean_then_planted_errors(voc, tmp_path):
    cfg = write_config(str(tmp_path / "cfg.py"), voc)
    proc = run_tool(osp.join(TOOLS, "check_dataset.py"), cfg, "--split", "val", cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Checked 2 samples" in proc.stdout and "All files are fine." in proc.stdout
    assert "| background" in proc.stdout

    bad = str(tmp_path / "bad")
    shutil.copytree(voc, bad)
    os.remove(osp.join(bad, "JPEGImages", "train_00001.jpg"))
    label = np.array(Image.open(osp.join(bad, "SegmentationClass", "train_00003.png")))
    label[0, 0] = 17
    Image.fromarray(label).save(osp.join(bad, "SegmentationClass", "train_00003.png"))
    proc = run_tool(osp.join(TOOLS, "check_dataset.py"), cfg, "--options",
                    f"data.train.data_root={bad}", cwd=str(tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "2 problem(s)" in proc.stdout
    assert "train_00001.jpg" in proc.stdout and "train_00003.png" in proc.stdout
    assert "[17]" in proc.stdout and "OUT OF RANGE" in proc.stdout


def test_check_dataset_explains_binary_masks_and_missing_data(voc, tmp_path, capsys):
    tool = load_tool("check_dataset.py")
    binary = str(tmp_path / "binary")
    shutil.copytree(voc, binary)
    for name in os.listdir(osp.join(binary, "SegmentationClass")):
        path = osp.join(binary, "SegmentationClass", name)
        label = np.array(Image.open(path))
        Image.fromarray(np.where(label > 0, 255, 0).astype(np.uint8)).save(path)
    cfg = write_config(str(tmp_path / "cfg.py"), binary)
    assert tool.main([cfg]) == 1
    out = capsys.readouterr().out
    assert "only the values 0 and 255" in out and "255 is the ignore_index" in out
    assert tool.main([cfg, "--options", "data.train.data_root=/does/not/exist"]) == 2
    assert "img_dir '/does/not/exist/JPEGImages'" in capsys.readouterr().err


def test_browse_dataset_writes_overlays(voc, tmp_path):
    tool = load_tool("browse_dataset.py")
    cfg = write_config(str(tmp_path / "cfg.py"), voc)
    out = str(tmp_path / "browse")
    assert tool.main([cfg, "--output-dir", out, "--num", "3", "--options",
                      "data.train.pipeline.3.crop_size=(32,32)",
                      "data.train.pipeline.7.size=(32,32)"]) == 0
    files = sorted(os.listdir(out))
    assert files == ["00000_train_00000.png", "00001_train_00001.png", "00002_train_00002.png"]
    img = np.array(Image.open(osp.join(out, files[0])))
    assert img.shape == (32, 64, 3)  # the augmented image and its overlay side by side
    assert not np.array_equal(img[:, :32], img[:, 32:])
    assert tool.main([cfg, "--output-dir", str(tmp_path / "val"), "--split", "val"]) == 0
    assert len(os.listdir(str(tmp_path / "val"))) == 2


def test_voc_aug_converter(tmp_path):
    from scipy.io import savemat

    tool = load_tool("convert_datasets/voc_aug.py")
    devkit, sbd = tmp_path / "VOCdevkit", tmp_path / "benchmark_RELEASE"
    split_dir = devkit / "VOC2012" / "ImageSets" / "Segmentation"
    split_dir.mkdir(parents=True)
    (sbd / "dataset" / "cls").mkdir(parents=True)
    (split_dir / "train.txt").write_text("a\nb\n")
    (split_dir / "val.txt").write_text("c\n")
    (sbd / "dataset" / "train.txt").write_text("b\nd\ne\n")
    (sbd / "dataset" / "val.txt").write_text("c\nf\n")
    masks = {}
    for i, name in enumerate(["b", "c", "d", "e", "f"]):
        mask = (np.arange(12).reshape(3, 4) + i) % 21
        mask[0, 0] = 255
        masks[name] = mask.astype(np.uint8)
        savemat(str(sbd / "dataset" / "cls" / f"{name}.mat"),
                {"GTcls": {"Segmentation": mask, "Boundaries": np.zeros(1)}})
    assert tool.main([str(devkit), str(sbd)]) == 0
    out_dir = devkit / "VOC2012" / "SegmentationClassAug"
    for name, mask in masks.items():
        np.testing.assert_array_equal(np.array(Image.open(out_dir / f"{name}.png")), mask)
    assert (split_dir / "aug.txt").read_text().split() == ["d", "e", "f"]
    assert (split_dir / "trainaug.txt").read_text().split() == ["a", "b", "d", "e", "f"]
    assert tool.main([str(devkit), str(tmp_path / "nope")]) == 2


@pytest.mark.skipif(not osp.isdir(PSEUDO_CITYSCAPES), reason="MMSeg test data not available")
def test_cityscapes_converter(tmp_path):
    tool = load_tool("convert_datasets/cityscapes.py")
    root = tmp_path / "cityscapes"
    for split in ("train", "val"):
        city = root / "gtFine" / split / "frankfurt"
        city.mkdir(parents=True)
        shutil.copy(osp.join(PSEUDO_CITYSCAPES, "gtFine",
                             "frankfurt_000000_000294_gtFine_labelIds.png"), city)
    synthetic_ids = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(synthetic_ids).save(
        root / "gtFine" / "val" / "frankfurt" / "frankfurt_000001_000001_gtFine_labelIds.png")
    assert tool.main([str(root), "--nproc", "1"]) == 0
    assert (root / "train.txt").read_text().split() == ["frankfurt/frankfurt_000000_000294"]
    assert (root / "val.txt").read_text().split() == ["frankfurt/frankfurt_000000_000294",
                                                      "frankfurt/frankfurt_000001_000001"]
    converted = np.array(Image.open(
        root / "gtFine/val/frankfurt/frankfurt_000001_000001_gtFine_labelTrainIds.png")).ravel()
    # The official table: ids 7, 8, 11, 12, 13, 17, 19..28, 31, 32, 33 are evaluated, in order.
    evaluated = [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33]
    expected = np.full(256, 255, np.uint8)
    expected[evaluated] = np.arange(19)
    np.testing.assert_array_equal(converted, expected)
    # Against the labelTrainIds file shipped with the pseudo frame (resized separately, so a
    # few boundary pixels differ).
    ours = np.array(Image.open(
        root / "gtFine/train/frankfurt/frankfurt_000000_000294_gtFine_labelTrainIds.png"))
    reference = np.array(Image.open(osp.join(
        PSEUDO_CITYSCAPES, "gtFine", "frankfurt_000000_000294_gtFine_labelTrainIds.png")))
    assert np.mean(ours == reference) > 0.99


def test_color_to_index_converter(tmp_path):
    from seglab.datasets import PascalVOCDataset

    tool = load_tool("convert_datasets/color_to_index.py")
    src, dst = tmp_path / "rgb", tmp_path / "idx"
    (src / "sub").mkdir(parents=True)
    labels = np.array([[0, 1, 2], [15, 20, 0]], np.uint8)
    rgb = np.asarray(PascalVOCDataset.PALETTE, np.uint8)[labels]
    rgb[1, 2] = (224, 224, 192)  # VOC boundary colour -> 255
    Image.fromarray(rgb).save(src / "sub" / "a.png")
    odd = rgb.copy()
    odd[0, 0] = (1, 2, 3)  # in no palette entry
    Image.fromarray(odd).save(src / "b.png")
    assert tool.main([str(src), str(dst), "--palette", "voc"]) == 0
    expected = labels.copy()
    expected[1, 2] = 255
    np.testing.assert_array_equal(np.array(Image.open(dst / "sub" / "a.png")), expected)
    expected_b = expected.copy()
    expected_b[0, 0] = 255
    np.testing.assert_array_equal(np.array(Image.open(dst / "b.png")), expected_b)
    assert tool.main([str(src), str(tmp_path / "strict"), "--palette", "voc", "--strict"]) == 1

    binary_src, binary_dst = tmp_path / "bin", tmp_path / "bin_out"
    binary_src.mkdir()
    mask = np.zeros((4, 4), np.uint8)
    mask[1:3, 1:3] = 255
    Image.fromarray(mask).save(binary_src / "m.png")
    assert tool.main([str(binary_src), str(binary_dst), "--binary"]) == 0
    np.testing.assert_array_equal(np.array(Image.open(binary_dst / "m.png")), mask // 255)

    palette_file = tmp_path / "palette.txt"
    palette_file.write_text("0 0 0\n255 0 0\n")
    red = np.zeros((2, 2, 3), np.uint8)
    red[0, 0] = (255, 0, 0)
    (tmp_path / "one").mkdir()
    Image.fromarray(red).save(tmp_path / "one" / "r.png")
    assert tool.main([str(tmp_path / "one"), str(tmp_path / "one_out"), "--palette",
                      str(palette_file)]) == 0
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "one_out" / "r.png")),
                                  [[1, 0], [0, 0]])
    assert tool.main([str(src), str(dst), "--palette", "nonsense"]) == 2
