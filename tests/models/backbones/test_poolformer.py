"""PoolFormer (mmcls 0.x's, as MMSeg's configs use it): mmcls's state_dict keys, the interleaved
network and its out_indices, output shapes, frozen_stages, the pooling mixer and the block by
hand, stochastic depth, arch errors, ``type='mmcls.PoolFormer'`` and mmcls classifier weights
loaded with ``prefix='backbone.'``."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seglab.errors import CheckpointError, ConfigError, RegistryError
from seglab.models import build_backbone
from seglab.models.backbones import PoolFormer, PoolFormerBlock, Pooling
from seglab.models.layers import DropPath
from shared_data import SHARED

ZOO_STATE = f"{SHARED}/data/mmseg-zoo/poolformer_fpn.state_dict.pth"
# The mmseg-zoo fixture's backbone (poolformer_fpn.py.txt).
ZOO_ARCH = dict(layers=[1, 1, 2, 1], embed_dims=[8, 16, 32, 64], mlp_ratios=[4, 4, 4, 4],
                layer_scale_init_value=1e-05)
TINY_ARCH = dict(layers=[1, 1, 1, 1], embed_dims=[4, 8, 12, 16], mlp_ratios=[2, 2, 2, 2])


def _tiny(**kwargs) -> PoolFormer:
    return PoolFormer(**{**dict(arch=TINY_ARCH, out_indices=(0, 2, 4, 6)), **kwargs})


def test_state_dict_keys_like_mmcls():
    model = PoolFormer(arch=ZOO_ARCH, out_indices=(0, 2, 4, 6), frozen_stages=0)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    try:
        mmseg = torch.load(ZOO_STATE, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        mmseg = None
    if mmseg is not None:  # MMSeg 1.2.2 + mmpretrain's own keys and shapes for the same config
        assert shapes == {k[len("backbone."):]: tuple(v.shape) for k, v in mmseg.items()
                          if k.startswith("backbone.")}
    assert shapes["patch_embed.proj.weight"] == (8, 3, 7, 7)
    assert shapes["network.0.0.norm1.weight"] == (8,)
    assert shapes["network.0.0.mlp.fc1.weight"] == (32, 8, 1, 1)
    assert shapes["network.0.0.mlp.fc2.weight"] == (8, 32, 1, 1)
    assert shapes["network.0.0.layer_scale_1"] == shapes["network.0.0.layer_scale_2"] == (8,)
    assert shapes["network.1.proj.weight"] == (16, 8, 3, 3)  # downsampling between stages
    assert shapes["network.4.1.norm2.bias"] == (32,)
    assert shapes["network.5.proj.weight"] == (64, 32, 3, 3)
    assert [k for k in shapes if k.startswith("norm")] == [
        f"norm{i}.{p}" for i in (0, 2, 4, 6) for p in ("weight", "bias")]
    assert not any("token_mixer" in k for k in shapes)  # pooling has no parameters


def test_modules_are_mmcls_ones():
    model = _tiny(act_cfg=dict(type="ReLU"), pool_size=5)
    assert len(model.network) == 7
    block = model.network[2][0]
    assert isinstance(block, PoolFormerBlock) and isinstance(block.token_mixer, Pooling)
    assert isinstance(block.norm1, nn.GroupNorm) and block.norm1.num_groups == 1
    assert isinstance(block.mlp.act, nn.ReLU)
    pool = block.token_mixer.pool
    assert (pool.kernel_size, pool.stride, pool.padding, pool.count_include_pad) == (5, 1, 2, False)
    stem, down = model.patch_embed.proj, model.network[1].proj
    assert (stem.kernel_size, stem.stride, stem.padding) == ((7, 7), (4, 4), (2, 2))
    assert (down.kernel_size, down.stride, down.padding) == ((3, 3), (2, 2), (1, 1))
    assert torch.equal(block.layer_scale_1, torch.full((8,), 1e-5))
    assert torch.equal(PoolFormer(arch="s36").network[0][0].layer_scale_2, torch.full((64,), 1e-6))


def test_pooling_is_average_minus_input_by_hand():
    x = torch.arange(9.0).reshape(1, 1, 3, 3)
    # 3x3 windows without the zero padding: corners average 4 values, edges 6, the centre 9.
    corner, edge = 4, 6
    expected = torch.tensor([
        [(0 + 1 + 3 + 4) / corner, (0 + 1 + 2 + 3 + 4 + 5) / edge, (1 + 2 + 4 + 5) / corner],
        [(0 + 1 + 3 + 4 + 6 + 7) / edge, 36 / 9, (1 + 2 + 4 + 5 + 7 + 8) / edge],
        [(3 + 4 + 6 + 7) / corner, (3 + 4 + 5 + 6 + 7 + 8) / edge, (4 + 5 + 7 + 8) / corner]])
    assert torch.allclose(Pooling(3)(x)[0, 0], expected - x[0, 0])


def test_block_by_hand():
    torch.manual_seed(0)
    block = PoolFormerBlock(4, mlp_ratio=2, layer_scale_init_value=0.5).eval()
    nn.init.normal_(block.layer_scale_2)
    x = torch.randn(2, 4, 5, 6)
    n1 = F.group_norm(x, 1, block.norm1.weight, block.norm1.bias, 1e-5)
    y = x + 0.5 * (F.avg_pool2d(n1, 3, 1, 1, count_include_pad=False) - n1)
    n2 = F.group_norm(y, 1, block.norm2.weight, block.norm2.bias, 1e-5)
    hidden = F.gelu(F.conv2d(n2, block.mlp.fc1.weight, block.mlp.fc1.bias))
    mlp = F.conv2d(hidden, block.mlp.fc2.weight, block.mlp.fc2.bias)
    expected = y + block.layer_scale_2[:, None, None] * mlp
    torch.testing.assert_close(block(x), expected)


@pytest.mark.parametrize("hw", [(64, 64), (64, 96), (32, 48)])
def test_output_shapes(hw):
    model = _tiny().eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *hw))
    shapes = model.output_shapes()
    assert [tuple(s) for s in shapes] == [(4, 4), (8, 8), (12, 16), (16, 32)]
    assert [tuple(o.shape) for o in outs] == [
        (1, s.channels, math.ceil(hw[0] / s.stride), math.ceil(hw[1] / s.stride)) for s in shapes]


def test_standard_archs_declare_mmseg_fpn_inputs():
    with torch.device("meta"):
        for arch, dims in (("s12", 64), ("s24", 64), ("s36", 64), ("m36", 96), ("m48", 96)):
            model = PoolFormer(arch=arch, out_indices=(0, 2, 4, 6))
            assert model.out_channels == (dims, 2 * dims, {64: 320, 96: 384}[dims], 8 * dims)
            assert model.out_strides == (4, 8, 16, 32)
            layers = PoolFormer.arch_settings[arch]["layers"]
            assert [len(model.network[i]) for i in (0, 2, 4, 6)] == layers


def test_out_indices():
    model = _tiny(out_indices=-1)  # mmcls's default: the last stage
    assert model.out_indices == (6,) and model.output_shapes() == ((16, 32),)
    assert _tiny(out_indices=[-7, -1]).out_indices == (0, 6)
    down = _tiny(out_indices=(3, 1))  # downsampling outputs; returned in network order
    assert [tuple(s) for s in down.output_shapes()] == [(8, 8), (12, 16)]
    assert [o.shape[1] for o in down(torch.randn(1, 3, 32, 32))] == [8, 12]
    assert hasattr(down, "norm1") and hasattr(down, "norm3") and not hasattr(down, "norm0")
    for bad in ((0, 7), (-8,), ()):
        with pytest.raises(ConfigError, match=r"out_indices .* in \[-7, 7\)"):
            _tiny(out_indices=bad)


def test_equal_widths_share_a_stage_resolution():
    # As mmcls: no downsampling between stages of one width, so the network is shorter.
    model = PoolFormer(arch=dict(layers=[1, 1, 1], embed_dims=[4, 4, 8]), out_indices=(0, 1, 3))
    assert [type(m).__name__ for m in model.network] == [
        "Sequential", "Sequential", "PoolFormerPatchEmbed", "Sequential"]
    assert [tuple(s) for s in model.output_shapes()] == [(4, 4), (4, 4), (8, 8)]
    assert [tuple(o.shape) for o in model(torch.randn(1, 3, 32, 32))] == [
        (1, 4, 8, 8), (1, 4, 8, 8), (1, 8, 4, 4)]


def _frozen(model):
    return {n.split(".")[0] + ("." + n.split(".")[1] if n.startswith("network") else "")
            for n, p in model.named_parameters() if not p.requires_grad}


def test_frozen_stages():
    assert _frozen(_tiny(frozen_stages=-1)) == set()
    assert _frozen(_tiny()) == {"patch_embed"}  # mmcls's default frozen_stages=0
    model = _tiny(frozen_stages=3)
    assert _frozen(model) == {"patch_embed", "network.0", "network.1", "network.2", "norm0",
                              "norm2"}
    model.train()
    assert not model.network[0].training and not model.norm2.training
    assert model.network[3].training and model.norm4.training
    with pytest.raises(ConfigError, match=r"frozen_stages=8 must be in \[-1, 7\]"):
        _tiny(frozen_stages=8)


def test_stochastic_depth_rises_linearly_over_all_blocks():
    model = PoolFormer(arch=dict(layers=[2, 1, 1, 1], embed_dims=[4, 8, 12, 16]),
                       drop_path_rate=0.2, drop_rate=0.1)
    paths = [m.drop_path for i in (0, 2, 4, 6) for m in model.network[i]]
    assert isinstance(paths[0], nn.Identity)  # rate 0: no DropPath at all, as mmcls
    assert [p.drop_prob for p in paths[1:]] == pytest.approx([0.05, 0.1, 0.15, 0.2])
    assert isinstance(paths[1], DropPath) and model.network[0][0].mlp.drop.p == 0.1
    single = PoolFormer(arch=dict(layers=[1], embed_dims=[4]), drop_path_rate=0.3)
    assert isinstance(single.network[0][0].drop_path, nn.Identity)  # one block: its rate is 0


def test_bad_arch_errors():
    with pytest.raises(ConfigError, match=r"arch='s13' is not one of \['m36', 'm48', 's12'"):
        PoolFormer(arch="s13")
    with pytest.raises(ConfigError, match=r"missing \['embed_dims'\], unknown \['depths'\]"):
        PoolFormer(arch=dict(layers=[1, 1], depths=[1, 1]))
    with pytest.raises(ConfigError, match="one entry per stage.*'embed_dims': 3"):
        PoolFormer(arch=dict(layers=[1, 1], embed_dims=[4, 8, 16]))
    with pytest.raises(ConfigError, match="name or a dict"):
        PoolFormer(arch=12)
    with pytest.raises(RegistryError, match="out_indice"):
        build_backbone(dict(type="mmcls.PoolFormer", arch=TINY_ARCH, out_indice=(0,)))


def test_mmcls_scoped_type_builds_seglabs_poolformer():
    model = build_backbone(dict(type="mmcls.PoolFormer", arch=TINY_ARCH, out_indices=(0, 6)))
    assert isinstance(model, PoolFormer) and model.out_channels == (4, 16)


def test_mmcls_classifier_weights_load_with_backbone_prefix(tmp_path):
    source = _tiny(out_indices=-1)
    for p in source.parameters():
        nn.init.normal_(p.data)
    # An mmcls ImageNet checkpoint: backbone.* (norm6 only) plus the classifier head.
    state = {f"backbone.{k}": v for k, v in source.state_dict().items()}
    state["head.fc.weight"] = torch.zeros(10, 16)
    torch.save({"state_dict": state}, tmp_path / "cls.pth")
    model = _tiny(init_cfg=dict(type="Pretrained", checkpoint=str(tmp_path / "cls.pth"),
                                prefix="backbone."))
    norm0 = model.norm0.weight.clone()
    model.init_weights()
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    assert torch.equal(model.norm0.weight, norm0)  # not in the classifier: left as built
    assert PoolFormer(arch=TINY_ARCH, pretrained="x.pth").init_cfg == dict(
        type="Pretrained", checkpoint="x.pth")


def test_unavailable_pretrained_explains_what_to_do():
    url = ("https://download.openmmlab.com/mmclassification/v0/poolformer/"
           "poolformer-s12_3rdparty_32xb128_in1k_not_cached_anywhere.pth")
    model = _tiny(init_cfg=dict(type="Pretrained", checkpoint=url, prefix="backbone."))
    with pytest.raises(CheckpointError, match="pretrained=None"):
        model.init_weights()
