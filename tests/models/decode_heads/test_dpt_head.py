from pathlib import Path

import pytest
import torch
from torch import nn

from seglab.errors import ConfigError
from seglab.models import build_backbone, build_segmentor
from seglab.models.decode_heads import DPTHead
from seglab.models.decode_heads.dpt_blocks import FeatureFusionBlock, readout
from shared_data import SHARED

ZOO = Path(f"{SHARED}/data/mmseg-zoo")
BN = dict(type="BN", requires_grad=True)
VIT = dict(type="VisionTransformer", img_size=32, patch_size=16, embed_dims=32, num_layers=4,
           num_heads=2, out_indices=(0, 1, 2, 3), output_cls_token=True)


def _head_cfg():
    """The fixture's head: four 32-channel ViT levels (readout 'project')."""
    return dict(in_channels=(32, 32, 32, 32), in_index=(0, 1, 2, 3), channels=16, embed_dims=32,
                post_process_channels=[4, 8, 16, 32], num_classes=5, readout_type="project",
                input_transform="multiple_select", norm_cfg=BN)


def _head(**kw):
    return DPTHead(**{**_head_cfg(), **kw})


def _pairs(n=2, c=32, h=4, w=4):
    return [[torch.randn(n, c, h, w), torch.randn(n, c)] for _ in range(4)]


def test_shapes_on_vit_pairs():
    vit = build_backbone(dict(VIT)).eval()
    head = _head().eval()
    with torch.no_grad():
        feats = vit(torch.randn(2, 3, 64, 64))  # 4x4 tokens
        levels = head.reassemble_blocks(head._transform_inputs(feats))
        assert [tuple(x.shape) for x in levels] == [(2, 4, 16, 16), (2, 8, 8, 8),
                                                    (2, 16, 4, 4), (2, 32, 2, 2)]
        assert head(feats).shape == (2, 5, 32, 32)  # 8x the token grid


def test_odd_token_grids_resize_the_skips():
    head = _head().eval()
    with torch.no_grad():
        out = head(_pairs(h=5, w=3))  # the /2 level is 3x2, so every x2 step overshoots
    assert out.shape == (2, 5, 48, 32)


@pytest.mark.skipif(not ZOO.is_dir(), reason="MMSeg zoo fixtures not available")
def test_keys_and_shapes_equal_mmseg():
    ref = torch.load(ZOO / "dpt.state_dict.pth", map_location="cpu", weights_only=True)
    ref = {k[len("decode_head."):]: v.shape for k, v in ref.items()
           if k.startswith("decode_head.")}
    ours = {k: v.shape for k, v in _head().state_dict().items()}
    assert ours == ref
    # no skip unit in the first fusion block; 3x3 convs without norm or bias
    assert _head().fusion_blocks[0].res_conv_unit1 is None


def test_readout_by_hand():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])  # (1, 1, 2, 2)
    cls_token = torch.tensor([[10.0]])
    torch.testing.assert_close(readout(x, cls_token, "ignore"), x)
    torch.testing.assert_close(readout(x, cls_token, "add"), x + 10)
    project = nn.Linear(2, 1)
    with torch.no_grad():
        project.weight.copy_(torch.tensor([[1.0, 2.0]]))  # patch * 1 + cls * 2
        project.bias.fill_(0.5)
    torch.testing.assert_close(readout(x, cls_token, "project", project), x + 20.5)


def test_readout_project_uses_linear_then_gelu():
    torch.manual_seed(0)
    head = _head().eval()
    x, cls_token = torch.randn(2, 32, 3, 4), torch.randn(2, 32)
    block = head.reassemble_blocks.readout_projects[1]
    tokens = x.flatten(2).transpose(1, 2)
    cat = torch.cat((tokens, cls_token[:, None].expand(-1, 12, -1)), dim=-1)
    expected = torch.nn.functional.gelu(block[0](cat)).transpose(1, 2).reshape(2, 32, 3, 4)
    torch.testing.assert_close(readout(x, cls_token, "project", block), expected)


def test_fusion_block_preactivation_keeps_its_input():
    block = FeatureFusionBlock(4, dict(type="ReLU"), BN).eval()
    x, skip = torch.randn(1, 4, 3, 3), torch.randn(1, 4, 3, 3)
    x0, skip0 = x.clone(), skip.clone()
    out = block(x, skip)
    assert out.shape == (1, 4, 6, 6)
    assert torch.equal(x, x0) and torch.equal(skip, skip0)  # no in-place activation leaks


def test_build_check_accepts_undeclared_pairs_but_checks_indices():
    model = dict(type="EncoderDecoder", backbone=dict(VIT),
                 decode_head=dict(type="DPTHead", **_head_cfg()), test_cfg=dict(mode="whole"))
    seg = build_segmentor(model).eval()
    assert seg.backbone.output_shapes() == (None, None, None, None)
    with torch.no_grad():
        assert seg.encode_decode(torch.randn(1, 3, 64, 64), [{}]).shape == (1, 5, 64, 64)
    model["decode_head"]["in_index"] = (0, 1, 2, 4)
    with pytest.raises(ConfigError, match="in_index"):
        build_segmentor(model)


def test_errors():
    with pytest.raises(ConfigError, match="expand_channels"):
        _head(expand_channels=True)
    with pytest.raises(ConfigError, match="readout_type"):
        _head(readout_type="mean")
    with pytest.raises(ConfigError, match="four"):
        _head(in_channels=32, in_index=3, input_transform=None)
    with pytest.raises(ValueError, match="output_cls_token=True"):
        _head().eval()([torch.randn(2, 32, 4, 4) for _ in range(4)])
