"""ISAHead: the interlaced permutation against a naive loop over groups and cells, on
divisible, non-divisible and non-square maps (padding split by hand); keys; errors."""
import pytest
import torch
import torch.nn.functional as F

from seglab.errors import ConfigError
from seglab.models import build_head
from seglab.models.decode_heads.isa_head import isa_padding

BN = dict(type="BN", requires_grad=True)


def _head(down_factor, **kwargs):
    cfg = dict(type="ISAHead", in_channels=6, in_index=0, channels=8, isa_channels=4,
               down_factor=down_factor, num_classes=3, norm_cfg=BN, dropout_ratio=0)
    cfg.update(kwargs)
    head = build_head(cfg)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in head.parameters():
            p.normal_(0, 0.4)
        for m in head.modules():  # eval-mode BN with non-trivial statistics: per pixel
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return head.eval()


def _naive_interlaced(head, x, padding):
    """Long-range step on every (li, lj) subgrid x[li::loc_h, lj::loc_w] of the padded map,
    short-range step on every loc_h x loc_w cell, one group at a time; crop."""
    loc_h, loc_w = head.down_factor
    left, right, top, bottom = padding
    n, c, h, w = x.shape
    x = F.pad(x, (left, right, top, bottom))
    ph, pw = x.shape[2:]
    out = torch.empty_like(x)
    for li in range(loc_h):
        for lj in range(loc_w):
            out[:, :, li::loc_h, lj::loc_w] = head.global_relation(x[:, :, li::loc_h, lj::loc_w])
    final = torch.empty_like(out)
    for i in range(0, ph, loc_h):
        for j in range(0, pw, loc_w):
            cell = out[:, :, i:i + loc_h, j:j + loc_w]
            final[:, :, i:i + loc_h, j:j + loc_w] = head.local_relation(cell)
    return final[:, :, top:top + h, left:left + w]


# (h, w), down_factor, padding (left, right, top, bottom) written out by hand
CASES = [((8, 8), (4, 4), (0, 0, 0, 0)),  # divisible, the fixture's setting
         ((7, 10), (3, 4), (1, 1, 1, 1)),  # 7 -> 9, 10 -> 12: even splits
         ((5, 9), (2, 4), (1, 2, 0, 1)),  # 5 -> 6 (bottom), 9 -> 12 (1 left, 2 right)
         ((6, 3), (4, 2), (0, 1, 1, 1))]  # tall map: 6 -> 8, 3 -> 4


@pytest.mark.parametrize("size,down_factor,padding", CASES)
def test_interlaced_attention_equals_the_group_loop(size, down_factor, padding):
    assert isa_padding(*size, down_factor) == padding
    head = _head(down_factor)
    x = torch.randn(2, 8, *size)
    with torch.no_grad():
        ours = head.interlaced_attention(x)
        expected = _naive_interlaced(head, x, padding)
    assert ours.shape == x.shape
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


def test_isa_head_forward_and_keys():
    head = _head((3, 2))
    x = torch.randn(2, 6, 5, 7)
    with torch.no_grad():
        residual = head.in_conv(x)
        feats = head.out_conv(torch.cat([head.interlaced_attention(residual), residual], 1))
        torch.testing.assert_close(head([x]), head.conv_seg(feats))
    blocks = sorted({k.rsplit(".", 1)[0] for k in head.state_dict()
                     if k.startswith("global_relation") and not k.endswith("tracked")})
    assert blocks == ["global_relation.key_project.0.bn", "global_relation.key_project.0.conv",
                      "global_relation.key_project.1.bn", "global_relation.key_project.1.conv",
                      "global_relation.output_project.bn", "global_relation.output_project.conv",
                      "global_relation.query_project.0.bn", "global_relation.query_project.0.conv",
                      "global_relation.query_project.1.bn", "global_relation.query_project.1.conv",
                      "global_relation.value_project"]
    assert head.global_relation.out_project is None  # MMSeg's with_out=False
    assert head.global_relation.output_project.with_activation


def test_isa_head_trains_on_a_padded_map():
    head = _head((4, 4)).train()
    label = torch.randint(0, 3, (2, 1, 20, 24))
    losses = head.forward_train([torch.randn(2, 6, 5, 6)], [{}] * 2, label, None)
    losses["loss_ce"].backward()
    assert head.local_relation.query_project[0].conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("down_factor", [(8,), (0, 4), (2.0, 2)])
def test_isa_head_rejects_bad_down_factors(down_factor):
    with pytest.raises(ConfigError, match="down_factor"):
        _head(down_factor)
