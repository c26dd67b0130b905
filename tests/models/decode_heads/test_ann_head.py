"""ANNHead: PPMConcat, the AFNB / APNB attention recomputed by hand over pooled keys, MMSeg
keys, the two-level input, errors."""
import pytest
import torch
import torch.nn.functional as F

from seglab.errors import ConfigError, RegistryError
from seglab.models import build_head
from seglab.models.decode_heads import AFNB, APNB, PPMConcat

BN = dict(type="BN", requires_grad=True)
ARGS = dict(conv_cfg=None, norm_cfg=BN, act_cfg=dict(type="ReLU"))


def _randomized(module):
    torch.manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.3)
    return module.eval()


def test_ppm_concat_pools_and_concatenates():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    out = PPMConcat((1, 2))(x)
    assert out.shape == (2, 3, 1 + 4)
    torch.testing.assert_close(out[:, :, 0], x.mean(dim=(2, 3)))
    # the 2x2 pool, row-major: the top-left cell is the mean of x[..., :2, :2]
    torch.testing.assert_close(out[:, :, 1], x[:, :, :2, :2].mean(dim=(2, 3)))
    torch.testing.assert_close(out[:, :, 4], x[:, :, 2:, 2:].mean(dim=(2, 3)))
    assert PPMConcat()(torch.randn(1, 2, 9, 9)).shape == (1, 2, 1 + 9 + 36 + 64)


def _attention(stage, query_feats, key_feats, pool_scales):
    """softmax(q^T k / sqrt(C')) v with pooled keys/values, then out_project (1x1 conv)."""
    q = stage.query_project(query_feats).flatten(2)  # (N, C', L)
    k = PPMConcat(pool_scales)(stage.key_project(key_feats))  # (N, C', S)
    v = PPMConcat(pool_scales)(stage.value_project(key_feats))
    sim = torch.einsum("ncl,ncs->nls", q, k) / q.shape[1] ** 0.5
    context = torch.einsum("nls,ncs->ncl", sim.softmax(-1), v)
    return stage.out_project(context.reshape(*context.shape[:2], *query_feats.shape[2:]))


def test_afnb_by_hand_with_two_query_stages():
    afnb = _randomized(AFNB(low_in_channels=6, high_in_channels=10, channels=4, out_channels=10,
                            query_scales=(1, 1), key_pool_scales=(1, 3), **ARGS))
    low, high = torch.randn(2, 6, 9, 7), torch.randn(2, 10, 5, 4)
    with torch.no_grad():
        context = sum(_attention(s, high, low, (1, 3)) for s in afnb.stages)
        expected = afnb.bottleneck(torch.cat([context, high], dim=1))
        torch.testing.assert_close(afnb(low, high), expected, atol=1e-5, rtol=1e-5)
    assert not afnb.bottleneck.with_activation  # fused without activation, APNB with
    assert afnb.stages[0].query_project is not afnb.stages[0].key_project


def test_apnb_shares_the_key_query_projection():
    apnb = _randomized(APNB(in_channels=8, channels=4, out_channels=8, query_scales=(1,),
                            key_pool_scales=(1, 2), **ARGS))
    stage = apnb.stages[0]
    assert stage.query_project is stage.key_project
    state = apnb.state_dict()  # both names are saved, as in MMSeg's checkpoints
    assert torch.equal(state["stages.0.query_project.conv.weight"],
                       state["stages.0.key_project.conv.weight"])
    assert apnb.bottleneck.with_activation
    x = torch.randn(2, 8, 6, 5)
    with torch.no_grad():
        expected = apnb.bottleneck(torch.cat([_attention(stage, x, x, (1, 2)), x], dim=1))
        torch.testing.assert_close(apnb(x), expected, atol=1e-5, rtol=1e-5)


def _head(**kwargs):
    cfg = dict(type="ANNHead", in_channels=[6, 10], in_index=[0, 1], channels=8,
               project_channels=4, num_classes=3, norm_cfg=BN, dropout_ratio=0)
    cfg.update(kwargs)
    return build_head(cfg)


def test_ann_head_forward_keys_and_sizes():
    head = _head(key_pool_scales=(1, 2)).eval()
    low, high = torch.randn(2, 6, 8, 8), torch.randn(2, 10, 4, 4)  # levels of other sizes
    with torch.no_grad():
        expected = head.conv_seg(head.context(head.bottleneck(head.fusion(low, high))))
        torch.testing.assert_close(head([low, high]), expected)
    assert head.input_transform == "multiple_select" and expected.shape == (2, 3, 4, 4)
    shapes = {k: tuple(v.shape) for k, v in head.state_dict().items()}
    assert shapes["fusion.stages.0.key_project.conv.weight"] == (4, 6, 1, 1)
    assert shapes["fusion.stages.0.query_project.conv.weight"] == (4, 10, 1, 1)
    assert shapes["fusion.stages.0.value_project.weight"] == (4, 6, 1, 1)
    assert shapes["fusion.stages.0.out_project.weight"] == (10, 4, 1, 1)
    assert shapes["fusion.bottleneck.conv.weight"] == (10, 20, 1, 1)
    assert shapes["bottleneck.conv.weight"] == (8, 10, 3, 3)
    assert shapes["context.bottleneck.conv.weight"] == (8, 16, 1, 1)
    # plain out projections start at zero (MMSeg's SelfAttentionBlock init)
    assert torch.count_nonzero(_head().fusion.stages[0].out_project.weight) == 0


def test_ann_head_drops_out_after_the_fusion_in_training():
    head = _head(dropout_ratio=0.5).train()
    calls = []
    head.dropout.register_forward_hook(lambda m, i, o: calls.append(o.shape))
    head([torch.randn(2, 6, 8, 8), torch.randn(2, 10, 4, 4)]).sum().backward()
    assert calls == [(2, 10, 4, 4), (2, 8, 4, 4)]  # after AFNB, then before conv_seg


def test_ann_head_errors():
    with pytest.raises(ConfigError, match=r"query_scales=\(1, 2\).*use query_scales=\(1,\)"):
        _head(query_scales=(1, 2))
    with pytest.raises(ConfigError, match="two levels"):
        _head(in_channels=[6, 10, 12], in_index=[0, 1, 2])
    with pytest.raises(RegistryError, match=r"unexpected key\(s\) 'input_transform'"):
        _head(input_transform="resize_concat")
