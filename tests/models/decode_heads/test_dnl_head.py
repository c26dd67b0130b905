"""DNLHead / DisentangledNonLocal2d: the whitened pairwise term with its temperature and the
unary term, against a computation written out from the paper's formula; keys; errors."""
import pytest
import torch

from seglab.errors import ConfigError, RegistryError
from seglab.models import build_head
from seglab.models.decode_heads import DisentangledNonLocal2d

BN = dict(type="BN", requires_grad=True)


def _block(**kwargs):
    torch.manual_seed(0)
    block = DisentangledNonLocal2d(6, reduction=2, norm_cfg=BN, temperature=0.5, **kwargs)
    with torch.no_grad():
        for p in block.parameters():
            p.normal_(0, 0.5)
    return block.eval()


def _project(module, x):
    """A 1x1 projection as a matrix product: (C, L) -> (C', L)."""
    w = module.conv.weight[:, :, 0, 0]
    return w @ x + module.conv.bias[:, None]


def _by_hand(block, x):
    """y_i = sum_j softmax_j((q_i - mean q) . (k_j - mean k) / sqrt(C') / T) g_j plus
    u = sum_j softmax_j(m_j) g_j at every i, then x + conv_out(y + u); one image (C, H, W)."""
    c, h, w = x.shape
    flat = x.reshape(c, -1)
    q, k, g = (_project(m, flat) for m in (block.theta, block.phi, block.g))
    q = q - q.mean(dim=1, keepdim=True)
    k = k - k.mean(dim=1, keepdim=True)
    scores = (q.T @ k) / block.inter_channels ** 0.5 / block.temperature
    pairwise = g @ scores.softmax(dim=1).T  # (C', L)
    mask = (block.conv_mask.weight[0, :, 0, 0] @ flat + block.conv_mask.bias).softmax(dim=0)
    unary = g @ mask  # (C',)
    y = (pairwise + unary[:, None]).reshape(-1, h, w)
    return x + block.conv_out(y[None])[0]


def test_disentangled_block_by_hand():
    block = _block()
    x = torch.randn(2, 6, 3, 5)
    with torch.no_grad():
        expected = torch.stack([_by_hand(block, xi) for xi in x])
        torch.testing.assert_close(block(x), expected, atol=1e-5, rtol=1e-5)


def test_temperature_sharpens_the_pairwise_attention():
    block = _block()
    x = torch.randn(1, 6, 3, 3)
    _, theta, phi = block.embed(x)
    theta, phi = theta - theta.mean(1, keepdim=True), phi - phi.mean(2, keepdim=True)
    block.temperature = 1e-4
    sharp = block.pairwise(theta, phi)
    block.temperature = 1e4
    flat = block.pairwise(theta, phi)
    assert torch.allclose(sharp.max(dim=-1).values, torch.ones(9), atol=1e-3)  # one-hot rows
    assert torch.allclose(flat, torch.full_like(flat, 1 / 9), atol=1e-3)  # uniform rows


def test_gaussian_mode_leaves_the_input_alone_and_trains():
    block = _block(mode="gaussian").train()
    x = torch.randn(2, 6, 4, 4, requires_grad=True)
    before = x.detach().clone()
    block(torch.relu(x)).sum().backward()  # MMSeg's in-place centring breaks this backward
    torch.testing.assert_close(x.detach(), before)
    assert x.grad is not None and block.conv_mask.weight.grad is not None


def test_dnl_head_keys_and_defaults():
    head = build_head(dict(type="DNLHead", in_channels=12, in_index=0, channels=8,
                           num_classes=3, norm_cfg=BN))
    assert head.dnl_block.temperature == 0.05 and head.dnl_block.use_scale
    block_keys = sorted({k.rsplit(".", 1)[0] for k in head.state_dict()
                         if k.startswith("dnl_block")})
    assert block_keys == ["dnl_block.conv_mask", "dnl_block.conv_out.bn",
                          "dnl_block.conv_out.conv", "dnl_block.g.conv", "dnl_block.phi.conv",
                          "dnl_block.theta.conv"]
    head.eval()
    x = torch.randn(2, 12, 4, 6)
    with torch.no_grad():
        feat = head.convs[1](head.dnl_block(head.convs[0](x)))
        expected = head.conv_seg(head.conv_cat(torch.cat([x, feat], dim=1)))
        torch.testing.assert_close(head([x]), expected)
    with pytest.raises(RegistryError, match=r"unexpected key\(s\) 'num_convs'"):
        build_head(dict(type="DNLHead", in_channels=12, channels=8, num_classes=3,
                        num_convs=2))
    with pytest.raises(ConfigError, match="sub_sample=True"):
        DisentangledNonLocal2d(8, temperature=0.05, sub_sample=True)
