"""tools/pytorch2torchscript.py on the session's trained smoke run: the .pt runs under
torch.jit.load alone and gives tools/test.py's predictions; the size check, --verify, --show and
the users' mistakes. The per-family sweep is tests/models/test_torchscript_sweep.py."""
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from after_training_helpers import SMOKE, error_line, load_tool, workflow  # noqa: F401 (fixture)
from seglab.apis import torchscript_export as export
from seglab.apis import init_segmentor
from seglab.apis.cli import run_tool as run_main
from seglab.config import Config
from seglab.models import build_segmentor
from train_helpers import run_tool


def _first_val_image(workflow):
    root = Path(workflow["data_root"])
    name = (root / "ImageSets/Segmentation/val.txt").read_text().split()[0]
    return root / "JPEGImages" / f"{name}.jpg"


@pytest.fixture(scope="module")
def exported(workflow, tmp_path_factory):
    """The trained checkpoint exported as a user types it (a subprocess, --verify on), at the
    size of the first validation image (32x23; the test pipeline keeps it)."""
    folder = tmp_path_factory.mktemp("torchscript")
    height, width = cv2.imread(str(_first_val_image(workflow))).shape[:2]
    result = run_tool("pytorch2torchscript.py", SMOKE, "--checkpoint",
                      workflow["work_dir"] / "latest.pth", "--output-file", folder / "smoke.pt",
                      "--shape", height, width, "--verify", cwd=folder)
    return folder / "smoke.pt", result.stdout, (height, width)


def _normalised(path, norm):
    """A BGR file as the .pt's meta.json says to feed it: RGB, (x - mean) / std, (1, 3, H, W)."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR).astype(np.float32)
    if norm["to_rgb"]:
        img = img[..., ::-1]
    img = (img - np.array(norm["mean"], np.float32)) / np.array(norm["std"], np.float32)
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]


def test_loaded_module_predicts_what_tools_test_predicts(exported, workflow):
    pt_file, stdout, (height, width) = exported
    assert (height, width) == (32, 23)
    assert "max abs logit difference 0 (bound 0.0001)" in stdout
    assert f"Successfully exported TorchScript model: {pt_file}" in stdout
    assert "Input: (N, 3, 32, 23) normalised images, any N." in stdout
    assert list(pt_file.parent.iterdir()) == [pt_file]  # no temporary file left
    meta = export.read_meta(str(pt_file))
    assert meta["input_shape"] == [1, 3, 32, 23] and meta["batch_free"] is True
    assert meta["CLASSES"][:2] == ["background", "disc"] and len(meta["PALETTE"]) == 6
    module = torch.jit.load(str(pt_file))  # no seglab class needed from here on
    with open(workflow["out"], "rb") as f:
        expected = pickle.load(f)[0]  # tools/test.py --out, the first validation image
    img = _normalised(_first_val_image(workflow), meta["img_norm_cfg"])
    with torch.inference_mode():
        logits = module(img.repeat(2, 1, 1, 1))  # a batch of two
        eager = init_segmentor(str(SMOKE), str(workflow["work_dir"] / "latest.pth"),
                               device="cpu").encode_decode(img)
    for label in logits.argmax(1).numpy():
        np.testing.assert_array_equal(label, expected)
    # Four iterations of training predict mostly background: the logits say more than labels.
    torch.testing.assert_close(logits, eager.repeat(2, 1, 1, 1), rtol=0, atol=1e-5)


def test_other_sizes_are_refused_not_silently_wrong(exported):
    module = torch.jit.load(str(exported[0]))
    with pytest.raises(torch.jit.Error, match=r"traced for \(N, 3, 32, 23\) images and got "
                                              r"\[1, 3, 32, 32\].*--shape H W"):
        module(torch.zeros(1, 3, 32, 32))


def test_show_prints_the_graph_and_slide_mode_says_what_is_traced(tmp_path, capsys):
    tool = load_tool("pytorch2torchscript.py")
    assert tool.main([str(SMOKE), "--shape", "16", "--show", "--output-file",
                      str(tmp_path / "a.pt"), "--options", "model.test_cfg.mode=slide",
                      "model.test_cfg.crop_size=(24,20)", "model.test_cfg.stride=(8,8)"]) == 0
    out = capsys.readouterr().out
    assert "aten::_convolution" in out and "aten::upsample_bilinear2d" in out
    assert "segments one 16x16 window; for the config's windows export with --shape 24 20" in out
    assert torch.jit.load(str(tmp_path / "a.pt"))(torch.zeros(2, 3, 16, 16)).shape == (2, 6, 16, 16)


def test_verify_fails_when_the_trace_computes_something_else():
    model = build_segmentor(Config.fromfile(SMOKE).model).eval()
    shape = (1, 3, 16, 16)
    assert export.verify(export.trace_segmentor(model, shape), model, shape) == 0.0
    with pytest.raises(export.ExportError, match=r"differs from the PyTorch model by 0\.001 .*"
                                                 r"bound 0\.0001"):
        export.verify(lambda img: model.forward_dummy(img) + 1e-3, model, shape)


@pytest.mark.parametrize("args, message", [
    (["--shape", "1", "2", "3"], "--shape 1 2 3: give H W, or one size for a square input."),
    (["--shape", "0", "8"], "--shape 0 8: sizes must be >= 1."),
    (["--checkpoint", "CKPT", "--options", "model.decode_head.num_classes=3"],
     "latest.pth' does not match the model (strict loading)"),
])
def test_user_errors_are_one_line(args, message, workflow, tmp_path, capsys):
    args = [str(workflow["work_dir"] / "latest.pth") if a == "CKPT" else a for a in args]
    tool = load_tool("pytorch2torchscript.py")
    assert run_main(tool.main, [str(SMOKE), "--output-file", str(tmp_path / "x.pt"), *args]) == 2
    assert message in error_line(capsys)
    assert not list(tmp_path.iterdir())  # nothing half-written
