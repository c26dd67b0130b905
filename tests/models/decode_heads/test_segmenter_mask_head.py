import math
from pathlib import Path

import pytest
import torch

from seglab.errors import ConfigError, RegistryError
from seglab.models import build_head
from seglab.models.decode_heads import SegmenterMaskTransformerHead
from seglab.models.decode_heads.segmenter_mask_head import class_masks
from shared_data import SHARED

ZOO = Path(f"{SHARED}/data/mmseg-zoo")
LN = dict(type="LN", eps=1e-6, requires_grad=True)


def _head(**kw):
    cfg = dict(in_channels=32, channels=32, num_classes=5, num_layers=2, num_heads=2,
               embed_dims=32, dropout_ratio=0.0)
    return SegmenterMaskTransformerHead(**{**cfg, **kw})


def test_shapes_and_no_classifier():
    head = _head().eval()
    feats = [torch.randn(2, 32, 4, 6)]
    assert head(feats).shape == (2, 5, 4, 6)  # one mask per class at the token grid
    keys = set(head.state_dict())
    assert not any(k.startswith("conv_seg") for k in keys)
    assert {"cls_emb", "dec_proj.weight", "patch_proj.weight", "classes_proj.weight",
            "decoder_norm.weight", "mask_norm.bias", "layers.1.attn.attn.in_proj_weight",
            "layers.1.ffn.layers.0.0.weight"} <= keys
    assert "patch_proj.bias" not in keys and "classes_proj.bias" not in keys
    assert head.cls_emb.shape == (1, 5, 32) and head.mask_norm.normalized_shape == (5,)


@pytest.mark.skipif(not ZOO.is_dir(), reason="MMSeg zoo fixtures not available")
def test_keys_and_shapes_equal_mmseg():
    ref = torch.load(ZOO / "segmenter.state_dict.pth", map_location="cpu", weights_only=True)
    ref = {k[len("decode_head."):]: v.shape for k, v in ref.items()
           if k.startswith("decode_head.")}
    ours = {k: v.shape for k, v in _head(norm_cfg=dict(type="LN")).state_dict().items()}
    assert ours == ref


def test_class_masks_by_hand():
    patches = torch.tensor([[[3.0, 4.0], [1.0, 0.0]]])  # normalised: (0.6, 0.8), (1, 0)
    classes = torch.tensor([[[0.0, 2.0], [1.0, 1.0]]])  # normalised: (0, 1), (1, 1) / sqrt 2
    r = 1 / math.sqrt(2)
    expected = torch.tensor([[[0.8, 1.4 * r], [0.0, r]]])
    torch.testing.assert_close(class_masks(patches, classes), expected)


def test_forward_is_the_mask_transformer_computation():
    torch.manual_seed(0)
    head = _head(num_classes=3, embed_dims=16, in_channels=8).eval()
    x = torch.randn(2, 8, 3, 4)
    tokens = head.dec_proj(x.flatten(2).transpose(1, 2))  # (2, 12, 16), row-major patches
    seq = torch.cat((tokens, head.cls_emb.expand(2, -1, -1)), dim=1)  # classes at the end
    for layer in head.layers:
        seq = layer(seq)
    seq = head.decoder_norm(seq)
    p = head.patch_proj(seq[:, :12])
    c = head.classes_proj(seq[:, 12:])
    p, c = p / p.norm(dim=-1, keepdim=True), c / c.norm(dim=-1, keepdim=True)
    masks = head.mask_norm(torch.einsum("nlc,nkc->nlk", p, c))
    expected = masks.transpose(1, 2).reshape(2, 3, 3, 4)
    torch.testing.assert_close(head([x]), expected)


def test_default_init_and_drop_path_rates():
    head = _head(num_layers=3, drop_path_rate=0.2, init_std=0.02)
    with torch.no_grad():
        head.cls_emb.fill_(5.0)
        head.decoder_norm.weight.fill_(3.0)
    head.init_weights()
    assert 0.01 < head.cls_emb.std() < 0.03  # N(0, 0.02^2) truncated to [-2, 2], as MMCV
    assert torch.equal(head.decoder_norm.weight, torch.ones(32))
    assert torch.equal(head.dec_proj.bias, torch.zeros(32))
    rates = [layer.ffn.dropout_layer.drop_prob if hasattr(layer.ffn.dropout_layer, "drop_prob")
             else 0.0 for layer in head.layers]
    assert rates == pytest.approx([0.0, 0.1, 0.2])


def test_errors():
    with pytest.raises(ConfigError, match="LayerNorm"):
        _head(norm_cfg=dict(type="BN"))
    with pytest.raises(ConfigError, match="must be an int"):
        _head(in_channels=[32, 32], in_index=[0, 1], input_transform="multiple_select")
    with pytest.raises(RegistryError, match="num_layer"):
        build_head(dict(type="SegmenterMaskTransformerHead", in_channels=8, channels=8,
                        num_classes=3, num_layer=1, num_heads=2, embed_dims=8))
