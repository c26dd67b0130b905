"""STDCNet / STDCContextPathNet: MMSeg's keys, STDC modules (cat / add) and the context path
against hand computations, declared outputs, errors, and the original weights converted by
stdc2mmseg (a tiny state_dict laid out like STDC-Seg's STDCNet813 / STDCNet1446)."""
from __future__ import annotations

import importlib.util
import os.path as osp
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

from seglab.checkpoint.converters import convert_stdc
from seglab.errors import CheckpointError, ConfigError
from seglab.models import build_backbone
from seglab.models.backbones.bisenetv1 import AttentionRefinementModule
from seglab.models.backbones.stdc import FeatureFusionModule, STDCModule
from test_bisenet import ZOO, randomize_norms

BN = dict(type="BN", requires_grad=True)
STDC1 = dict(type="STDCNet", stdc_type="STDCNet1", in_channels=3, channels=(4, 8, 16, 32, 64),
             bottleneck_type="cat", norm_cfg=BN, act_cfg=dict(type="ReLU"))
CONTEXT = dict(type="STDCContextPathNet", backbone_cfg=STDC1, last_in_channels=(64, 32),
               out_channels=8, ffm_cfg=dict(in_channels=24, out_channels=16, scale_factor=4))
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def test_keys_and_shapes_equal_mmseg():
    try:
        state = torch.load(f"{ZOO}/stdc.state_dict.pth", map_location="cpu", weights_only=True)
    except FileNotFoundError:
        pytest.skip("MMSeg zoo fixtures not available")
    theirs = {k[len("backbone."):]: tuple(v.shape) for k, v in state.items()
              if k.startswith("backbone.")}
    cfg = dict(CONTEXT, backbone_cfg=dict(STDC1, channels=(4, 8, 32, 64, 128)),
               last_in_channels=(128, 64), out_channels=16, ffm_cfg=dict(
                   in_channels=48, out_channels=32, scale_factor=4))
    assert {k: tuple(v.shape) for k, v in build_backbone(cfg).state_dict().items()} == theirs


def test_cat_module_by_hand():
    torch.manual_seed(0)
    down = randomize_norms(STDCModule(8, 16, 2, BN, dict(type="ReLU"), 4, "cat"))
    assert [m.conv.out_channels for m in down.layers] == [8, 4, 2, 2]  # out/2, /4, /8, /8
    x = torch.randn(2, 8, 9, 7)
    x0 = down.layers[0](x)
    x1 = down.layers[1](down.downsample(x0))
    x2 = down.layers[2](x1)
    x3 = down.layers[3](x2)
    expected = torch.cat([F.avg_pool2d(x0, 3, 2, 1), x1, x2, x3], dim=1)
    torch.testing.assert_close(down(x), expected)
    assert expected.shape == (2, 16, 5, 4)
    same = randomize_norms(STDCModule(16, 16, 1, BN, dict(type="ReLU"), 3, "cat"))
    y = torch.randn(2, 16, 5, 4)
    y0 = same.layers[0](y)
    y1 = same.layers[1](y0)
    torch.testing.assert_close(same(y), torch.cat([y0, y1, same.layers[2](y1)], dim=1))
    assert not hasattr(same, "downsample")


def test_add_module_by_hand():
    torch.manual_seed(0)
    down = randomize_norms(STDCModule(8, 16, 2, BN, dict(type="ReLU"), 4, "add"))
    x = torch.randn(2, 8, 9, 7)
    outs, h = [], x
    for layer in down.layers:  # layers.0 is conv_0 then the strided depthwise conv
        h = layer(h)
        outs.append(h)
    torch.testing.assert_close(down(x), torch.cat(outs, dim=1) + down.skip(x))
    assert down.layers[0][1] is down.downsample and down.skip[0].conv.groups == 8
    same = randomize_norms(STDCModule(16, 16, 1, BN, dict(type="ReLU"), 2, "add"))
    y = torch.randn(2, 16, 5, 4)
    y0 = same.layers[0](y)
    torch.testing.assert_close(same(y), torch.cat([y0, same.layers[1](y0)], dim=1) + y)


@pytest.mark.parametrize("stdc_type, blocks", [("STDCNet1", [2, 2, 2]), ("STDCNet2", [4, 5, 3])])
def test_stdcnet_stages_and_declared_outputs(stdc_type, blocks):
    model = randomize_norms(build_backbone(dict(STDC1, stdc_type=stdc_type)))
    assert [len(model.stages[i]) for i in (2, 3, 4)] == blocks
    assert [m.stride for i in (2, 3, 4) for m in model.stages[i]] == sum(
        ([2] + [1] * (n - 1) for n in blocks), [])
    for size in ((64, 64), (70, 45)):
        outs = model(torch.randn(1, 3, *size))
        assert [tuple(o.shape[1:]) for o in outs] == [
            (s.channels, -(-size[0] // s.stride), -(-size[1] // s.stride))
            for s in model.output_shapes()]
    assert model.output_shapes() == ((16, 8), (32, 16), (64, 32))


def test_final_conv_widens_the_last_output():
    model = build_backbone(dict(STDC1, with_final_conv=True)).eval()
    assert model.output_shapes()[-1] == (1024, 32)
    x = torch.randn(1, 3, 32, 32)
    *_, last = model(x)
    plain = build_backbone(STDC1).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items()
                           if not k.startswith("final_conv")})
    torch.testing.assert_close(last, model.final_conv(plain(x)[-1]))


def test_stdc_fusion_module_by_hand_and_unlike_bisenetv1s():
    torch.manual_seed(0)
    ffm = randomize_norms(FeatureFusionModule(12, 8, scale_factor=4))
    sp, cp = torch.randn(2, 4, 5, 3), torch.randn(2, 8, 5, 3)
    x = ffm.conv0(torch.cat([sp, cp], dim=1))
    pooled = x.mean(dim=(2, 3), keepdim=True)
    attn = torch.sigmoid(F.conv2d(F.relu(F.conv2d(pooled, ffm.attention[1].conv.weight)),
                                  ffm.attention[2].conv.weight))
    torch.testing.assert_close(ffm(sp, cp), x * attn + x)
    assert sorted(k for k in ffm.state_dict() if "attention" in k) == [
        "attention.1.conv.weight", "attention.2.conv.weight"]  # two 8 -> 2 -> 8 convs, no norm


def test_context_path_by_hand():
    torch.manual_seed(0)
    model = randomize_norms(build_backbone(CONTEXT))
    assert all(isinstance(arm, AttentionRefinementModule) for arm in model.arms)
    x = torch.randn(1, 3, 70, 45)
    s8, s16, s32 = model.backbone(x)
    avg = model.conv_avg(s32.mean(dim=(2, 3), keepdim=True))
    up = F.interpolate(avg, size=s32.shape[2:], mode="nearest")
    ctx16 = model.convs[0](F.interpolate(model.arms[0](s32) + up, size=s16.shape[2:]))
    ctx8 = model.convs[1](F.interpolate(model.arms[1](s16) + ctx16, size=s8.shape[2:]))
    outs = model(x)
    torch.testing.assert_close(outs, (s8, ctx16, ctx8, model.ffm(s8, ctx8)))
    assert model.output_shapes() == ((16, 8), (8, 16), (8, 8), (16, 8))
    assert [tuple(o.shape[1:]) for o in outs] == [(16, 9, 6), (8, 5, 3), (8, 9, 6), (16, 9, 6)]


def test_errors_name_the_keys():
    with pytest.raises(ConfigError, match="stdc_type='STDCNet3'.*STDCNet1, STDCNet2"):
        build_backbone(dict(STDC1, stdc_type="STDCNet3"))
    with pytest.raises(ConfigError, match="bottleneck_type='sum'"):
        build_backbone(dict(STDC1, bottleneck_type="sum"))
    with pytest.raises(ConfigError, match="5 entries"):
        build_backbone(dict(STDC1, channels=(4, 8, 16, 32)))
    with pytest.raises(ConfigError, match="num_convs=1"):
        build_backbone(dict(STDC1, num_convs=1))
    with pytest.raises(ConfigError, match=r"multiples of 2\*\*\(num_convs - 1\) = 8"):
        build_backbone(dict(STDC1, channels=(4, 8, 20, 32, 64)))
    with pytest.raises(ConfigError, match=r"last_in_channels=\(32, 64\).*\(64, 32\)"):
        build_backbone(dict(CONTEXT, last_in_channels=(32, 64)))
    with pytest.raises(ConfigError, match=r"ffm_cfg.in_channels=48.*16 \+ 8 = 24"):
        build_backbone(dict(CONTEXT, ffm_cfg=dict(in_channels=48, out_channels=16)))
    with pytest.raises(ConfigError, match="ffm_cfg=.*needs in_channels and out_channels"):
        build_backbone(dict(CONTEXT, ffm_cfg=dict(in_channels=24)))


# -- original weights --------------------------------------------------------------------------

def _convx(shapes: dict, prefix: str, cin: int, cout: int, k: int) -> None:
    """STDC-Seg's ConvX: conv (no bias) + bn."""
    shapes[f"{prefix}conv.weight"] = (cout, cin, k, k)
    for name in ("weight", "bias", "running_mean", "running_var"):
        shapes[f"{prefix}bn.{name}"] = (cout,)
    shapes[f"{prefix}bn.num_batches_tracked"] = ()


def original_stdc(channels=(4, 8, 16, 32, 64), blocks=(2, 2, 2), classes=5):
    """A tiny STDCNet813 (blocks 2/2/2) or STDCNet1446 (4/5/3) state_dict, CatBottleneck with 4
    convs: ``features.N`` (ConvX, then CatBottlenecks with ``conv_list`` and, when strided,
    ``avd_layer``), the ImageNet head (``conv_last``, ``fc``, ``bn``, ``linear``) and, as in the
    original module, alias keys of its ``x8``.. views of ``features``."""
    shapes: dict = {}
    _convx(shapes, "features.0.", 3, channels[0], 3)
    _convx(shapes, "features.1.", channels[0], channels[1], 3)
    index = 2
    for stage, n in enumerate(blocks):
        for j in range(n):
            cin, cout = channels[stage + 1] if j == 0 else channels[stage + 2], channels[stage + 2]
            widths = [cin, cout // 2, cout // 4, cout // 8, cout // 8]
            for i in range(4):
                _convx(shapes, f"features.{index}.conv_list.{i}.", widths[i], widths[i + 1],
                       1 if i == 0 else 3)
            if j == 0:
                shapes[f"features.{index}.avd_layer.0.weight"] = (cout // 2, 1, 3, 3)
                for name in ("weight", "bias", "running_mean", "running_var"):
                    shapes[f"features.{index}.avd_layer.1.{name}"] = (cout // 2,)
            index += 1
    head = max(1024, channels[-1])
    _convx(shapes, "conv_last.", channels[-1], head, 1)
    shapes.update({"fc.weight": (head, head), "bn.weight": (head,), "bn.bias": (head,),
                   "linear.weight": (classes, head)})
    shapes["x2.0.0.conv.weight"] = shapes["features.0.conv.weight"]
    shapes["x8.0.2.conv_list.0.conv.weight"] = shapes["features.2.conv_list.0.conv.weight"]
    gen = torch.Generator().manual_seed(0)
    return OrderedDict((k, torch.randn(*s, generator=gen) if s else torch.tensor(7))
                       for k, s in shapes.items())


@pytest.mark.parametrize("kind, stdc_type, blocks", [("STDC1", "STDCNet1", (2, 2, 2)),
                                                     ("STDC2", "STDCNet2", (4, 5, 3))])
def test_converted_original_weights_load_into_stdcnet(kind, stdc_type, blocks):
    src = original_stdc(blocks=blocks)
    out = convert_stdc(src, kind)
    model = build_backbone(dict(STDC1, stdc_type=stdc_type))
    missing, unexpected = model.load_state_dict(out, strict=False)
    assert missing == []
    # what loading ignores: the renamed alias of x8's conv_list (MMSeg's tool keeps it too)
    assert unexpected == ["x8.0.2.layers.0.conv.weight"]
    assert not [k for k in out if k.startswith(("conv_last", "fc", "bn", "linear", "x2"))]
    last = {"STDC1": "4.1", "STDC2": "4.2"}[kind]
    assert torch.equal(model.state_dict()[f"stages.{last}.layers.3.conv.weight"],
                       src[f"features.{1 + sum(blocks)}.conv_list.3.conv.weight"])
    assert torch.equal(out["stages.2.0.downsample.bn.running_var"],
                       src["features.2.avd_layer.1.running_var"])
    assert torch.equal(out["stages.3.0.downsample.conv.weight"],
                       src[f"features.{2 + blocks[0]}.avd_layer.0.weight"])


def test_converter_checks_type_and_layout():
    with pytest.raises(CheckpointError, match="14 features blocks, so they are STDC2 weights; "
                                              "convert them with type 'STDC2'"):
        convert_stdc(original_stdc(blocks=(4, 5, 3)), "STDC1")
    with pytest.raises(CheckpointError, match="8 features blocks, so they are STDC1"):
        convert_stdc(original_stdc(), "STDC2")
    with pytest.raises(CheckpointError, match="'STDC1' or 'STDC2', got 'STDC3'"):
        convert_stdc(original_stdc(), "STDC3")
    converted = convert_stdc(original_stdc(), "STDC1")
    with pytest.raises(CheckpointError, match="layout of the original STDC"):
        convert_stdc(converted, "STDC1")
    # STDC-Seg's segmentation checkpoints prefix the backbone keys with 'cp.'
    prefixed = OrderedDict((f"cp.{k}", v) for k, v in original_stdc().items())
    assert list(convert_stdc(prefixed, "STDC1")) == list(converted)


def test_stdc2mmseg_tool_writes_what_loads(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        "stdc2mmseg", osp.join(ROOT, "tools", "model_converters", "stdc2mmseg.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    src, dst = tmp_path / "STDCNet813M_73.91.tar", tmp_path / "stdc1.pth"
    torch.save({"state_dict": original_stdc()}, src)
    assert tool.main([str(src), str(dst), "STDC1"]) == 0
    written = torch.load(dst, weights_only=True)
    assert list(written) == list(convert_stdc(original_stdc(), "STDC1"))
    assert "left out, as MMSegmentation's tool does" in capsys.readouterr().out
    model = build_backbone(dict(STDC1, init_cfg=dict(type="Pretrained", checkpoint=str(dst))))
    context = build_backbone(dict(CONTEXT, backbone_cfg=dict(STDC1, init_cfg=dict(
        type="Pretrained", checkpoint=str(dst)))))
    model.init_weights()
    context.init_weights()
    for key, value in written.items():
        if key.startswith("stages."):
            assert torch.equal(model.state_dict()[key], value), key
            assert torch.equal(context.backbone.state_dict()[key], value), key
    with pytest.raises(SystemExit):
        tool.main([str(src), str(dst), "STDC3"])
