"""optimize_for_inference and its options in init_segmentor, tools/test.py, tools/benchmark.py.

Bounds: BN folding and channels_last give probabilities within 1e-5 of the plain model's (see
tests/models/test_fuse.py for every registered type); on the tiny FCN's random-weight
predictions the label maps and the metrics are equal. The tools fold BN (init_segmentor only
with ``fuse_conv_bn=True``) and use channels_last (for convolutional backbones) by default;
``--plain`` / ``--no-...`` / the ``model.test_cfg`` keys turn them off.
``torch.compile`` is tested with the
'eager' backend (dynamo's graph capture, no C++ compiler, a few seconds); inductor compiles for
minutes on this 2-core CPU and is not run here. The compile case is marked slow.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch

from apis_helpers import make_fixture_files, tiny_model
from seglab.apis.fast_paths import conv_backbone, optimize_for_inference, resolve_fast_paths
from seglab.errors import ConfigError

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, "tests", "tools"))
from test_precision_tools import _load_tool, _metrics  # noqa: E402  (the tools in-process)

SIZE = 40


def _randomize_bn(model):
    """BN running statistics from one training-mode pass (fresh ones make folding trivial)."""
    with torch.no_grad():
        model.train().encode_decode(torch.randn(2, 3, SIZE, SIZE) * 3 + 1, None)
    return model.eval()


def _run(model, img):
    metas = [dict(img_shape=(SIZE, SIZE, 3), ori_shape=(SIZE, SIZE, 3), flip=False)] * len(img)
    with torch.inference_mode():
        return model.inference(img, metas, rescale=True), model.simple_test(img, metas)


@pytest.mark.parametrize("options", [
    dict(fuse_conv_bn=True), dict(channels_last=True),
    dict(fuse_conv_bn=True, channels_last=True),
    # dynamo's first capture costs ~30 s on the loaded 2-core CPU (its import, mostly)
    pytest.param(dict(fuse_conv_bn=True, compile="eager"), marks=pytest.mark.slow)])
def test_fast_paths_give_the_plain_predictions(options):
    img = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    plain = _randomize_bn(tiny_model())
    probs, labels = _run(plain, img)
    fast = optimize_for_inference(_randomize_bn(tiny_model()), **options)
    fast_probs, fast_labels = _run(fast, img)
    assert (fast_probs - probs).abs().max() <= 1e-5
    assert all(np.array_equal(a, b) for a, b in zip(labels, fast_labels))
    if options.get("fuse_conv_bn"):
        assert fast.fused_conv_bn > 0
    if options.get("channels_last"):
        assert fast.decode_head.conv_seg.weight.is_contiguous(memory_format=torch.channels_last)


def test_folding_drops_the_auxiliary_head_only_from_the_fast_model():
    from seglab.models import build_segmentor

    head = dict(type="FCNHead", in_channels=8, channels=4, num_convs=1, num_classes=3)
    cfg = dict(type="EncoderDecoder", backbone=dict(type="ResNetV1c", depth=18,
                                                    base_channels=8, stem_channels=8),
               decode_head=dict(head, in_channels=64, in_index=3),
               auxiliary_head=dict(head, in_index=0))
    torch.manual_seed(0)
    model = _randomize_bn(build_segmentor(cfg))
    img = torch.randn(1, 3, SIZE, SIZE)
    probs, _ = _run(model, img)
    fast = optimize_for_inference(model, fuse_conv_bn=True, inplace=False)
    assert model.with_auxiliary_head and not fast.with_auxiliary_head
    assert (_run(fast, img)[0] - probs).abs().max() <= 1e-5


def test_not_inplace_leaves_the_model_alone():
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast = optimize_for_inference(model, fuse_conv_bn=True, inplace=False)
    assert fast is not model and fast.fused_conv_bn > 0
    after = model.state_dict()
    assert list(after) == list(before) and all(torch.equal(after[k], before[k]) for k in before)


def test_bad_compile_value_and_training_mode():
    with pytest.raises(ConfigError, match="compile must be True, False or a torch.compile"):
        optimize_for_inference(tiny_model(), compile=3)
    with pytest.raises(ValueError, match="model.eval"):
        optimize_for_inference(tiny_model().train(), fuse_conv_bn=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_fixture_files(str(tmp_path_factory.mktemp("fast_paths")))


def test_defaults_follow_the_backbone_and_the_config_keys():
    model = tiny_model()
    assert conv_backbone(model)  # the tiny FCN's ResNet
    assert resolve_fast_paths(model) == dict(fuse_conv_bn=True, channels_last=True)
    model.test_cfg = dict(mode="whole", fuse_conv_bn=False, channels_last=False)
    assert resolve_fast_paths(model) == dict(fuse_conv_bn=False, channels_last=False)
    assert resolve_fast_paths(model, True, None) == dict(fuse_conv_bn=True, channels_last=False)
    model.test_cfg = dict(mode="whole", channels_last="auto")
    assert resolve_fast_paths(model, channels_last=False)["channels_last"] is False
    assert resolve_fast_paths(model)["channels_last"] is True
    model.test_cfg = dict(mode="whole", channels_last="yes")
    with pytest.raises(ConfigError, match=r"model.test_cfg.channels_last = 'yes'"):
        resolve_fast_paths(model)


def test_transformer_backbone_gets_no_channels_last():
    from seglab.models import build_segmentor

    cfg = dict(type="EncoderDecoder",
               backbone=dict(type="VisionTransformer", img_size=(32, 32), patch_size=16,
                             embed_dims=32, num_layers=2, num_heads=2, out_indices=(1,)),
               decode_head=dict(type="FCNHead", in_channels=32, channels=8, num_convs=1,
                                num_classes=3))
    model = build_segmentor(cfg).eval()
    assert not conv_backbone(model)
    assert resolve_fast_paths(model) == dict(fuse_conv_bn=True, channels_last=False)
    # MiT: most weights in 1x1-conv FFNs, but attention blocks (slower in NHWC)
    cfg["backbone"] = dict(type="MixVisionTransformer", embed_dims=4, num_layers=[1, 1, 1, 1],
                           num_heads=[1, 2, 2, 4])
    cfg["decode_head"] = dict(type="FCNHead", in_channels=16, channels=8, num_convs=1,
                              num_classes=3, in_index=3)
    assert not conv_backbone(build_segmentor(cfg))


def test_init_segmentor_options(files):
    from seglab.apis import inference_segmentor, init_segmentor

    img = osp.join(files["data_root"], "JPEGImages")
    img = osp.join(img, sorted(os.listdir(img))[0])
    plain = init_segmentor(files["config"], files["checkpoint"], device="cpu",
                           fuse_conv_bn=False, channels_last=False)
    default = init_segmentor(files["config"], files["checkpoint"], device="cpu")
    # the API's default keeps the checkpoint's layers (state_dict as the checkpoint's), in NHWC
    assert not hasattr(default, "fused_conv_bn")
    assert default.state_dict().keys() == plain.state_dict().keys()
    assert default.backbone.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    fast = init_segmentor(files["config"], files["checkpoint"], device="cpu", fuse_conv_bn=True)
    assert not hasattr(plain, "fused_conv_bn")
    assert not plain.backbone.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert fast.fused_conv_bn > 0 and fast.CLASSES == plain.CLASSES and fast.cfg is not None
    assert fast.backbone.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert np.array_equal(inference_segmentor(plain, img)[0], inference_segmentor(fast, img)[0])
    no_cl = init_segmentor(files["config"], files["checkpoint"], device="cpu",
                           cfg_options={"model.test_cfg.channels_last": False,
                                        "model.test_cfg.fuse_conv_bn": True})
    assert no_cl.fused_conv_bn > 0
    assert not no_cl.backbone.stem[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_test_tool_fast_paths_same_metrics(files, tmp_path, capfd):
    tool = _load_tool("test")
    plain = _metrics(tool, files, tmp_path / "plain", "--plain")
    assert "Fast paths: none" in "".join(capfd.readouterr())
    fast = _metrics(tool, files, tmp_path / "fast")  # the defaults
    assert "Fast paths: fuse_conv_bn, channels_last" in "".join(capfd.readouterr())
    assert fast == pytest.approx(plain, abs=1e-6, nan_ok=True)
    _metrics(tool, files, tmp_path / "no_cl", "--no-channels-last")
    assert "Fast paths: fuse_conv_bn\n" in "".join(capfd.readouterr())
    with pytest.raises(ConfigError, match="--plain turns every fast path off; drop it or "
                       "--fuse-conv-bn"):
        _metrics(tool, files, tmp_path / "both", "--plain", "--fuse-conv-bn")


def test_benchmark_tool_records_the_fast_paths(files, tmp_path, capsys):
    tool = _load_tool("benchmark")
    assert tool.main([files["config"], files["checkpoint"], "--num-images", "2",
                      "--num-warmup", "1", "--device", "cpu", "--no-channels-last",
                      "--work-dir", str(tmp_path)]) == 0
    (name,) = os.listdir(tmp_path)
    with open(tmp_path / name) as f:
        assert json.load(f)["fast_paths"] == "fuse_conv_bn"
    assert "fast paths: fuse_conv_bn" in capsys.readouterr().out


@pytest.mark.parametrize("mode", ["whole", "slide"])
def test_compile_wraps_the_network_that_both_modes_run(monkeypatch, mode):
    compiled = []

    def fake_compile(fn, backend):  # records the calls instead of capturing graphs
        def wrapper(*args, **kwargs):
            compiled.append(backend)
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(torch, "compile", fake_compile)
    model = tiny_model()
    if mode == "slide":
        model.test_cfg = dict(mode="slide", crop_size=(SIZE // 2, SIZE // 2),
                              stride=(SIZE // 4, SIZE // 4))
    img = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    probs, _ = _run(model, img)
    fast = optimize_for_inference(model, compile="eager", inplace=False)
    fast_probs, _ = _run(fast, img)
    # whole: one network call per _run call (inference and simple_test); slide: one per pass
    assert compiled and set(compiled) == {"eager"}
    assert torch.equal(fast_probs, probs)
