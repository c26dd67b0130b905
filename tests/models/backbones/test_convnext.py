"""ConvNeXt (mmcls.ConvNeXt, MMClassification 0.x): mmcls's state_dict keys, arch settings,
output shapes, out_indices, frozen_stages, drop path, layer scale, gap_before_final_norm,
pointwise layers, with_cp, pretrained loading with a prefix, and errors."""
import logging

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from seglab.errors import CheckpointError, ConfigError, RegistryError
from seglab.models import build_backbone
from seglab.models.backbones import ConvNeXt, ConvNeXtBlock
from seglab.models.layers import DropPath, LayerNorm2d
from shared_data import SHARED

ZOO = f"{SHARED}/data/mmseg-zoo/convnext_upernet"
# The mmseg-zoo fixture's backbone (its config, tests/models/test_mmseg_zoo.py builds all of it).
ZOO_ARCH = dict(arch=dict(depths=[1, 1, 2, 1], channels=[8, 16, 32, 64]), out_indices=[0, 1, 2, 3],
                drop_path_rate=0.4, layer_scale_init_value=1.0, gap_before_final_norm=False)


def _tiny(**kwargs) -> ConvNeXt:
    cfg = dict(arch=dict(depths=[1, 1, 2, 1], channels=[4, 8, 8, 16]), out_indices=[0, 1, 2, 3],
               gap_before_final_norm=False)
    return ConvNeXt(**{**cfg, **kwargs})


def _zoo(name: str):
    try:
        return torch.load(f"{ZOO}.{name}", map_location="cpu", weights_only=True)
    except FileNotFoundError:
        pytest.skip("mmseg-zoo fixtures not available")


def _backbone_state(state: dict) -> dict:
    return {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}


def test_state_dict_keys_like_mmcls():
    state = {k: tuple(v.shape) for k, v in ConvNeXt(**ZOO_ARCH).state_dict().items()}
    expected = {k: tuple(v.shape) for k, v in _backbone_state(_zoo("state_dict.pth")).items()}
    assert state == expected
    assert list(state)[:4] == ["downsample_layers.0.0.weight", "downsample_layers.0.0.bias",
                               "downsample_layers.0.1.weight", "downsample_layers.0.1.bias"]
    assert state["downsample_layers.0.0.weight"] == (8, 3, 4, 4)  # stem: 4x4 patches
    assert state["downsample_layers.2.1.weight"] == (32, 16, 2, 2)
    assert state["stages.2.1.depthwise_conv.weight"] == (32, 1, 7, 7)
    assert state["stages.2.1.pointwise_conv1.weight"] == (128, 32)  # nn.Linear, mlp_ratio 4
    assert state["stages.3.0.gamma"] == (64,)
    assert [k for k in state if k.startswith("norm")][::2] == [f"norm{i}.weight" for i in range(4)]


def test_arch_names_and_parameter_count():
    with torch.device("meta"):
        tiny = ConvNeXt(arch="tiny")
        xlarge = ConvNeXt(arch="xlarge", out_indices=[0, 1, 2, 3])
    # ConvNeXt-T of the paper has 28,589,128 parameters; without its 768 -> 1000 classifier
    # (769,000) that is the backbone plus the final norm (norm3 here, out_indices=-1).
    assert sum(p.numel() for p in tiny.parameters()) == 28_589_128 - 769_000
    assert tiny.out_indices == (3,) and hasattr(tiny, "norm3") and not hasattr(tiny, "norm2")
    assert xlarge.depths == [3, 3, 27, 3] and xlarge.channels == [256, 512, 1024, 2048]
    assert len(xlarge.stages[2]) == 27


def test_layers_are_mmcls_modules():
    model = _tiny(drop_path_rate=0.3)
    stem, down = model.downsample_layers[0], model.downsample_layers[1]
    assert stem[0].kernel_size == stem[0].stride == (4, 4) and stem[0].padding == (0, 0)
    assert isinstance(stem[1], LayerNorm2d) and stem[1].eps == 1e-6  # norm_cfg
    # mmcls 0.x: LayerNorm2d(C) between stages, eps 1e-5 whatever norm_cfg says (1.x uses it).
    assert isinstance(down[0], LayerNorm2d) and down[0].eps == 1e-5
    assert down[1].kernel_size == down[1].stride == (2, 2)
    block = model.stages[2][1]
    assert isinstance(block, ConvNeXtBlock) and block.norm.eps == 1e-6
    assert block.depthwise_conv.groups == 8 and block.depthwise_conv.padding == (3, 3)
    assert isinstance(block.act, nn.GELU) and isinstance(block.pointwise_conv1, nn.Linear)
    assert torch.equal(block.gamma, torch.full((8,), 1e-6))
    assert model.norm0.eps == 1e-6


def test_layer_norm_2d_is_layer_norm_over_channels():
    norm = LayerNorm2d(6, eps=1e-6)
    nn.init.uniform_(norm.weight, 0.5, 1.5)
    nn.init.normal_(norm.bias)
    x = torch.randn(2, 6, 3, 5)
    mean, var = x.mean(1, keepdim=True), x.var(1, unbiased=False, keepdim=True)
    by_hand = (x - mean) / torch.sqrt(var + 1e-6) * norm.weight.view(1, -1, 1, 1) \
        + norm.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(norm(x), by_hand, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*\(2, 6\)"):
        norm(torch.randn(2, 6))


def test_only_the_downsample_eps_differs_from_the_1x_fixture():
    """The fixture is mmpretrain 1.2.0's: its downsample norms use norm_cfg (eps 1e-6)."""
    model = ConvNeXt(**ZOO_ARCH).eval()
    model.load_state_dict(_backbone_state(_zoo("state_dict.pth")), strict=True)
    expected = _zoo("feats.pt")
    x = torch.load(f"{SHARED}/data/mmseg-zoo/inputs.pt", weights_only=True)["x"]
    with torch.no_grad():
        ours = model(x)
        for layer in model.downsample_layers[1:]:
            layer[0].eps = 1e-6
        as_1x = model(x)
    for a, b, c in zip(ours, as_1x, expected["backbone"]):
        torch.testing.assert_close(b, c, atol=5e-6, rtol=0)  # the 1.x numbers
        torch.testing.assert_close(a, c, atol=1e-4, rtol=0)  # 0.x: within the zoo bound
    assert (ours[3] - as_1x[3]).abs().max() > 1e-6  # and the eps does make a difference


@pytest.mark.parametrize("hw", [(64, 64), (67, 45), (32, 39)])
def test_output_shapes_follow_the_declaration(hw):
    model = _tiny().eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *hw))
    assert [tuple(s) for s in model.output_shapes()] == [(4, 4), (8, 8), (8, 16), (16, 32)]
    # Unpadded patch convs: a border that does not fill a patch is dropped (floor, not ceil).
    assert [tuple(o.shape) for o in outs] == [
        (1, s.channels, hw[0] // s.stride, hw[1] // s.stride) for s in model.output_shapes()]
    assert all(o.is_contiguous() for o in outs)


def test_out_indices_select_stages_in_order():
    x = torch.randn(1, 3, 64, 64)
    model = _tiny(out_indices=[3, 1]).eval()
    assert [o.shape[1] for o in model(x)] == [8, 16]  # stage order, as mmcls
    assert [tuple(s) for s in model.output_shapes()] == [(8, 8), (16, 32)]
    assert {n.split(".")[0] for n in model.state_dict() if n.startswith("norm")} == {
        "norm1", "norm3"}
    assert _tiny(out_indices=-2).out_indices == (2,)
    assert [tuple(s) for s in _tiny(out_indices=2, stem_patch_size=2).output_shapes()] == [(8, 8)]
    cfg_list = [0, -1]
    _tiny(out_indices=cfg_list)
    assert cfg_list == [0, -1]  # the config's list is not rewritten (mmcls does that)


def test_frozen_stages_keep_mmcls_meaning():
    model = _tiny(frozen_stages=2)
    model.train()
    frozen = [*model.downsample_layers[:2], *model.stages[:2]]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(not m.training for m in frozen)
    live = [model.downsample_layers[2], model.stages[2], model.norm0, model.norm1]
    assert all(p.requires_grad for m in live for p in m.parameters()) and model.stages[2].training
    assert all(p.requires_grad for p in _tiny(frozen_stages=0).parameters())  # the default
    assert all(p.requires_grad for p in _tiny(frozen_stages=-1).parameters())


def test_drop_path_rises_linearly_and_layer_scale_can_be_off():
    model = _tiny(drop_path_rate=0.3)
    blocks = [b for stage in model.stages for b in stage]
    assert isinstance(blocks[0].drop_path, nn.Identity)  # rate 0
    rates = [b.drop_path.drop_prob for b in blocks[1:]]
    assert all(isinstance(b.drop_path, DropPath) for b in blocks[1:])
    assert rates == pytest.approx([0.075, 0.15, 0.225, 0.3])  # linspace(0, 0.3, 5)
    x = torch.randn(4, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(model(x), model(x)))
        model.train()
        torch.manual_seed(0)
        first = model(x)
        torch.manual_seed(1)
        assert not all(torch.equal(a, b) for a, b in zip(first, model(x)))
    no_scale = _tiny(layer_scale_init_value=0.0)
    assert no_scale.stages[0][0].gamma is None
    assert not any(k.endswith("gamma") for k in no_scale.state_dict())


def test_block_is_the_convnext_computation():
    block = ConvNeXtBlock(6, layer_scale_init_value=0.5).eval()
    x = torch.randn(2, 6, 9, 9)
    y = F.conv2d(x, block.depthwise_conv.weight, block.depthwise_conv.bias, padding=3, groups=6)
    y = F.layer_norm(y.permute(0, 2, 3, 1), (6,), block.norm.weight, block.norm.bias, 1e-6)
    y = F.linear(F.gelu(F.linear(y, block.pointwise_conv1.weight, block.pointwise_conv1.bias)),
                 block.pointwise_conv2.weight, block.pointwise_conv2.bias)
    torch.testing.assert_close(block(x), x + 0.5 * y.permute(0, 3, 1, 2), atol=1e-6, rtol=0)


def test_conv_pointwise_layers_compute_the_same():
    linear, conv = _tiny(linear_pw_conv=True).eval(), _tiny(linear_pw_conv=False).eval()
    assert conv.stages[0][0].pointwise_conv1.weight.shape == (16, 4, 1, 1)
    conv.load_state_dict({k: v.view(conv.state_dict()[k].shape)
                          for k, v in linear.state_dict().items()})
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        for a, b in zip(linear(x), conv(x)):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_gap_before_final_norm_gives_normalised_vectors():
    model = _tiny(out_indices=[1, 3], gap_before_final_norm=True).eval()
    assert model.output_shapes() is None  # vectors, not maps
    maps = {}
    for i in (1, 3):
        model.stages[i].register_forward_hook(lambda m, a, out, i=i: maps.__setitem__(i, out))
    with torch.no_grad():
        outs = model(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 8), (2, 16)]
    for out, i in zip(outs, (1, 3)):
        pooled = maps[i].mean((2, 3))
        norm = getattr(model, f"norm{i}")
        expected = F.layer_norm(pooled, pooled.shape[1:], norm.weight, norm.bias, 1e-6)
        torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


def test_with_cp_gives_the_same_outputs_and_gradients():
    torch.manual_seed(0)
    plain = _tiny(layer_scale_init_value=1.0).train()
    ckpt = _tiny(layer_scale_init_value=1.0, with_cp=True).train()
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    sum(o.sum() for o in plain(x)).backward()
    grad_plain = [p.grad.clone() for p in plain.parameters()]
    sum(o.sum() for o in ckpt(x)).backward()
    for a, b in zip(grad_plain, (p.grad for p in ckpt.parameters())):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_registered_under_the_mmcls_scope():
    with torch.device("meta"):
        model = build_backbone(dict(type="mmcls.ConvNeXt", arch="tiny"))
    assert type(model) is ConvNeXt
    with pytest.raises(RegistryError, match=r"mmcls\.ConvNeXt"):
        build_backbone(dict(type="mmcls.ConvNeXtV2"))


@pytest.mark.parametrize("kwargs,match", [
    (dict(arch="huge"), r"arch='huge' is not one of tiny, small, base, large, xlarge"),
    (dict(arch=dict(depths=[1, 1])), r"exactly the keys 'depths' and 'channels', got \['depths'\]"),
    (dict(arch=dict(depths=[1, 1], channels=[4])), r"same length"),
    (dict(arch=[3, 3, 9, 3]), r"a name or a dict"),
    (dict(out_indices=[0, 4]), r"out_indices \[0, 4\] must be stages in \[-4, 4\)"),
    (dict(frozen_stages=5), r"frozen_stages=5 must be in \[-1, 4\]"),
])
def test_bad_arguments_fail_clearly(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        _tiny(**kwargs)


def _mmcls_checkpoint(tmp_path, source: ConvNeXt):
    """An mmcls classifier checkpoint: backbone.* plus a head the backbone does not have."""
    state = {f"backbone.{k}": v for k, v in source.state_dict().items()}
    state.update({"head.fc.weight": torch.zeros(10, 16), "head.fc.bias": torch.zeros(10)})
    path = tmp_path / "convnext_cls.pth"
    torch.save({"state_dict": state, "meta": {}}, path)
    return path


def test_pretrained_prefix_loads_the_backbone_keys_only(tmp_path, caplog):
    source = _tiny(layer_scale_init_value=0.5)
    with torch.no_grad():
        for p in source.parameters():
            p.normal_()
    path = _mmcls_checkpoint(tmp_path, source)
    model = _tiny(layer_scale_init_value=0.5, init_cfg=dict(
        type="Pretrained", checkpoint=str(path), prefix="backbone."))
    with caplog.at_level(logging.WARNING, logger="seglab"):
        model.init_weights()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # head.* not reported
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    torch.save({"state_dict": {"encoder.x": torch.zeros(1)}}, tmp_path / "other.pth")
    model.init_cfg = dict(type="Pretrained", checkpoint=str(tmp_path / "other.pth"),
                          prefix="backbone.")
    with pytest.raises(CheckpointError, match=r"no keys starting with 'backbone\.'.*'encoder\.'"):
        model.init_weights()


def test_unavailable_pretrained_says_how_to_do_without():
    url = ("https://download.openmmlab.com/mmclassification/v0/convnext/downstream/"
           "convnext-tiny_3rdparty_32xb128-noema_in1k_20220301-795e9634.pth")
    model = _tiny(init_cfg=dict(type="Pretrained", checkpoint=url, prefix="backbone."))
    with pytest.raises(CheckpointError, match=r"(?s)save it as .*convnext-tiny.*"
                                              r"model\.backbone\.init_cfg=None"):
        model.init_weights()
    model = _tiny(pretrained=None)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.init_weights()  # no init_cfg: PyTorch's init stays, as in mmcls
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
