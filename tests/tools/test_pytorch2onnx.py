"""tools/pytorch2onnx.py on the session's trained smoke checkpoint: the graph's inputs, outputs
and sizes, ONNX Runtime's logits against the checkpoint's PyTorch model, --verify's report and
failure, and the user errors."""
import re
import sys

import numpy as np
import pytest
import torch

from after_training_helpers import SMOKE, error_line, load_tool, workflow  # noqa: F401
from seglab.apis.inference import build_and_load
from seglab.apis.onnx_export import OnnxExportError, export_onnx, verify_onnx
from seglab.config import Config

onnx = pytest.importorskip("onnx", reason="pip install seglab[onnx]")
ort = pytest.importorskip("onnxruntime", reason="pip install seglab[onnx]")

SLIDE = ["model.test_cfg.mode=slide", "model.test_cfg.crop_size=(24,24)",
         "model.test_cfg.stride=(16,16)"]
DIFF = re.compile(r"max abs logit difference between PyTorch and ONNX Runtime on a (\S+) input: "
                  r"(\S+) \(bound atol 0\.0001 \+ rtol 1e-05 \* \|logit\|\); the same class at "
                  r"([\d.]+)% of the pixels")


def _export(workflow, tmp_path, capsys, *args):
    out = tmp_path / "model.onnx"
    argv = [str(SMOKE), "--checkpoint", str(workflow["work_dir"] / "latest.pth"),
            "--output-file", str(out), *args]
    assert load_tool("pytorch2onnx.py").main(argv) == 0
    return out, capsys.readouterr().out


def _dims(value_info):
    return [d.dim_value or d.dim_param for d in value_info.type.tensor_type.shape.dim]


def _trained(workflow):
    model, _ = build_and_load(Config.fromfile(SMOKE), str(workflow["work_dir"] / "latest.pth"),
                              strict=True)
    return model.eval()


def test_dynamic_export_verifies_at_two_sizes_and_runs_at_a_third(workflow, tmp_path, capsys):
    out, stdout = _export(workflow, tmp_path, capsys, "--shape", "32", "40", "--verify",
                          "--dynamic-export")
    assert f"Successfully exported ONNX model: {out}" in stdout
    reports = DIFF.findall(stdout)
    assert [r[0] for r in reports] == ["1x3x32x40", "2x3x48x60"]  # MMSeg's 1.5x batch of two
    assert all(float(r[1]) <= 1e-4 and float(r[2]) == 100.0 for r in reports)
    assert "The outputs are same between Pytorch and ONNX" in stdout
    graph = onnx.load(str(out)).graph
    assert [i.name for i in graph.input] == ["input"]
    assert [o.name for o in graph.output] == ["output"]
    assert _dims(graph.input[0]) == ["batch", 3, "height", "width"]
    assert _dims(graph.output[0]) == ["batch", 6, "height", "width"]
    assert onnx.load(str(out)).opset_import[0].version == 17
    # Logits, not labels: equal to the checkpoint's encode_decode at an unseen size.
    img = torch.randn(1, 3, 24, 56)
    got = ort.InferenceSession(str(out)).run(None, {"input": img.numpy()})[0]
    with torch.no_grad():
        expected = _trained(workflow).encode_decode(img, None).numpy()
    assert got.shape == (1, 6, 24, 56) and np.abs(got - expected).max() <= 1e-4


def test_static_export_and_rescale_shape(workflow, tmp_path, capsys):
    out, stdout = _export(workflow, tmp_path, capsys, "--shape", "32", "--rescale_shape", "20",
                          "28", "--verify")
    graph = onnx.load(str(out)).graph
    assert _dims(graph.input[0]) == [1, 3, 32, 32] and _dims(graph.output[0]) == [1, 6, 20, 28]
    (report,) = DIFF.findall(stdout)
    assert report[0] == "1x3x32x32" and float(report[1]) <= 1e-4


def test_slide_mode_exports_one_window_and_verifies_the_whole_slide(workflow, tmp_path, capsys):
    out, stdout = _export(workflow, tmp_path, capsys, "--shape", "40", "56", "--verify",
                          "--cfg-options", *SLIDE)
    assert "slide mode: the graph is one 24x24 window" in stdout
    assert _dims(onnx.load(str(out)).graph.input[0]) == [1, 3, 24, 24]
    (report,) = DIFF.findall(stdout)  # the full sliding-window logits of a 40x56 image
    assert report[0] == "1x3x40x56" and float(report[1]) <= 1e-4


def test_input_img_goes_through_the_test_pipeline(workflow, tmp_path, capsys):
    img = sorted((workflow["tmp"] / "voc" / "JPEGImages").iterdir())[0]
    out, stdout = _export(workflow, tmp_path, capsys, "--input-img", str(img), "--shape", "24",
                          "16", "--verify")
    (report,) = DIFF.findall(stdout)
    assert report[0] == "1x3x24x16" and float(report[1]) <= 1e-4


@pytest.mark.parametrize("config", [SMOKE, SMOKE.parents[1] / "1.x/demo/"
                                    "fcn_tiny_4xb2-6it_synthetic-voc-24x24_1x.py"])
def test_input_img_is_normalised_as_the_model_sees_it(config, workflow):
    """--input-img's tensor is the normalised image ((x - mean) / std of the config), not the
    raw 0..255 pixels, in a 0.x and a 1.x config."""
    from PIL import Image

    path = sorted((workflow["tmp"] / "voc" / "JPEGImages").iterdir())[0]
    cfg = Config.fromfile(SMOKE)
    mean, std = (np.asarray(cfg.img_norm_cfg[k], np.float32) for k in ("mean", "std"))
    pixels = np.asarray(Image.open(path).convert("RGB").resize((16, 24), Image.BILINEAR),
                        np.float32)
    expected = torch.from_numpy(((pixels - mean) / std).transpose(2, 0, 1))[None]
    from seglab.config import load_config

    img = load_tool("pytorch2onnx.py").image_input(load_config(str(config), None), str(path),
                                                   (1, 3, 24, 16))
    assert img.shape == (1, 3, 24, 16) and img.dtype == torch.float32
    # PIL's and the pipeline's bilinear kernels differ at a few pixels; raw pixels: ~130 off
    assert float((img - expected).abs().mean()) < 0.2


def test_default_shape_is_the_test_pipelines_img_scale(workflow, tmp_path, capsys):
    out, _ = _export(workflow, tmp_path, capsys)
    assert _dims(onnx.load(str(out)).graph.input[0]) == [1, 3, 32, 32]  # img_scale=(32, 32)


def test_default_shape_of_a_1x_config_is_its_resize_scale(tmp_path, capsys):
    config = SMOKE.parents[1] / "1.x/demo/fcn_tiny_4xb2-6it_synthetic-voc-24x24_1x.py"
    out = tmp_path / "model.onnx"
    assert load_tool("pytorch2onnx.py").main([str(config), "--output-file", str(out)]) == 0
    assert _dims(onnx.load(str(out)).graph.input[0]) == [1, 3, 32, 32]  # Resize scale=(32, 32)


def test_verify_fails_when_onnx_runtime_disagrees(workflow, tmp_path):
    model = _trained(workflow)
    onnx_file = export_onnx(model, str(tmp_path / "m.onnx"), (1, 3, 32, 32))
    with torch.no_grad():
        model.decode_head.conv_seg.bias[0] += 0.5  # PyTorch now differs from the file
    with pytest.raises(OnnxExportError, match=r"max abs logit difference 0\.5 exceeds atol"):
        verify_onnx(model, onnx_file, (1, 3, 32, 32))


@pytest.mark.parametrize("args, message", [
    (["--shape", "1", "2", "3"], "--shape 1 2 3: give H W, or one size for a square input"),
    (["--shape", "-5"], "--shape -5 -5: sizes must be >= 1"),
    (["--shape", "0", "32"], "--shape 0 32: sizes must be >= 1"),
    (["--opset-version", "5"], "--opset-version 5: seglab's graphs need opset 11 or above"),
    (["--rescale_shape", "8"], "--rescale_shape needs two positive numbers"),
    (["--rescale_shape", "0", "3"], "--rescale_shape needs two positive numbers"),
    (["--output-file", "/no_such_dir/x.onnx"], "folder /no_such_dir does not exist; create it"),
    (["--rescale_shape", "8", "8", "--cfg-options", *SLIDE], "--rescale_shape applies to whole"),
])
def test_user_errors_are_one_line(args, message, workflow, tmp_path, capsys):
    from seglab.apis.cli import run_tool as run_main

    argv = [str(SMOKE), "--output-file", str(tmp_path / "x.onnx"), *args]
    assert run_main(load_tool("pytorch2onnx.py").main, argv) == 2
    assert message in error_line(capsys)
    assert not list(tmp_path.iterdir())  # nothing half-written


@pytest.mark.parametrize("module", ["onnx", "onnxruntime"])
def test_missing_packages_name_the_extra(module, tmp_path, capsys, monkeypatch):
    from seglab.apis.cli import run_tool as run_main

    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    argv = [str(SMOKE), "--output-file", str(tmp_path / "x.onnx"), "--verify"]
    assert run_main(load_tool("pytorch2onnx.py").main, argv) == 2
    assert f"needs the {module} package: pip install seglab[onnx]" in error_line(capsys)
