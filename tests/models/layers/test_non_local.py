"""NonLocal2d (mmcv's non-local block): keys per mode, init, every pairwise term against a
per-position loop, sub-sampling and errors."""
import math

import pytest
import torch

from seglab.errors import ConfigError
from seglab.models.layers import NonLocal2d

BN = dict(type="BN", requires_grad=True)


def _randomize(block: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-zero weights everywhere (conv_out starts at zero) and eval-mode norms."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in block.parameters():
            p.normal_(0, 0.5)
    return block.eval()


def _conv1x1(module, x):
    """A 1x1 ConvModule (conv [+ norm]) applied to a vector of channels: (C,) -> (C',)."""
    return module(x[None, :, None, None])[0, :, 0, 0]


def _naive(block: NonLocal2d, x: torch.Tensor) -> torch.Tensor:
    """y_i = sum_j f(i, j) g(x_j) pixel by pixel, then x + conv_out(y), for one image (C, H, W).
    With sub_sample the projected key/value maps (x itself for gaussian keys) are 2x2
    max-pooled."""
    c, h, w = x.shape

    def per_pixel(module):  # the 1x1 projection pixel by pixel: (C', H, W)
        return torch.stack([_conv1x1(module, p) for p in x.reshape(c, -1).T], 1).reshape(-1, h, w)

    def keys_of(projected):  # (C', H, W) -> (Lk, C')
        if block.sub_sample:
            projected = torch.nn.functional.max_pool2d(projected[None], 2)[0]
        return projected.reshape(projected.shape[0], -1).T

    sub = block.sub_sample
    queries = x.reshape(c, -1).T  # (L, C)
    keys = keys_of(x)
    values = keys_of(per_pixel(block.g[0] if sub else block.g))
    if block.mode != "gaussian":
        theta = per_pixel(block.theta).reshape(block.inter_channels, -1).T
        phi = keys_of(per_pixel(block.phi[0] if sub else block.phi))
    scores = torch.zeros(len(queries), len(keys))
    for i in range(len(queries)):
        for j in range(len(keys)):
            if block.mode == "gaussian":
                scores[i, j] = queries[i] @ keys[j]
            elif block.mode == "embedded_gaussian":
                scores[i, j] = theta[i] @ phi[j] / (math.sqrt(block.inter_channels)
                                                    if block.use_scale else 1.0)
            elif block.mode == "dot_product":
                scores[i, j] = theta[i] @ phi[j] / len(keys)
            else:
                pair = torch.cat([theta[i], phi[j]])
                w_cat = block.concat_project.conv.weight[0, :, 0, 0]
                scores[i, j] = torch.relu(w_cat @ pair) / len(keys)
    if block.mode in ("gaussian", "embedded_gaussian"):
        scores = scores.softmax(dim=1)
    y = (scores @ values).T.reshape(-1, h, w)
    return x + block.conv_out(y[None])[0]


@pytest.mark.parametrize("mode", ["embedded_gaussian", "gaussian", "dot_product",
                                  "concatenation"])
@pytest.mark.parametrize("sub_sample", [False, True])
def test_every_mode_equals_a_per_position_loop(mode, sub_sample):
    block = _randomize(NonLocal2d(6, reduction=2, norm_cfg=BN, mode=mode,
                                  sub_sample=sub_sample))
    x = torch.randn(2, 6, 4, 6)
    with torch.no_grad():
        out = block(x)
        expected = torch.stack([_naive(block, xi) for xi in x])
    assert out.shape == x.shape
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_use_scale_divides_the_embedded_gaussian_scores():
    block = _randomize(NonLocal2d(8, reduction=1, use_scale=False))
    x = torch.randn(1, 8, 3, 3)
    with torch.no_grad():
        expected = _naive(block, x[0])
        unscaled = block(x)[0]
        block.use_scale = True
        scaled = block(x)[0]
    torch.testing.assert_close(unscaled, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(scaled, unscaled, atol=1e-3)


def test_mmcv_keys_per_mode():
    def keys(**kw):
        return sorted(NonLocal2d(8, norm_cfg=BN, **kw).state_dict())

    conv_out = ["conv_out.bn.bias", "conv_out.bn.num_batches_tracked", "conv_out.bn.running_mean",
                "conv_out.bn.running_var", "conv_out.bn.weight", "conv_out.conv.weight"]
    assert keys() == sorted(conv_out + ["g.conv.bias", "g.conv.weight", "phi.conv.bias",
                                        "phi.conv.weight", "theta.conv.bias",
                                        "theta.conv.weight"])
    assert keys(mode="gaussian") == sorted(conv_out + ["g.conv.bias", "g.conv.weight"])
    assert set(keys(mode="concatenation")) - set(keys()) == {"concat_project.conv.weight"}
    assert "g.0.conv.weight" in keys(sub_sample=True) and "phi.0.conv.weight" in keys(
        sub_sample=True)
    block = NonLocal2d(9, reduction=4)
    assert block.inter_channels == 2 and block.g.conv.out_channels == 2
    assert NonLocal2d(3, reduction=8).inter_channels == 1  # max(3 // 8, 1)


def test_init_starts_as_the_identity():
    torch.manual_seed(0)
    block = NonLocal2d(16, norm_cfg=BN).eval()
    assert torch.count_nonzero(block.conv_out.bn.weight) == 0
    for m in (block.g, block.theta, block.phi):
        assert m.conv.weight.std().item() == pytest.approx(0.01, rel=0.3)
        assert torch.count_nonzero(m.conv.bias) == 0
    x = torch.randn(2, 16, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(block(x), x)
    plain = NonLocal2d(16, norm_cfg=None)  # no norm: the conv itself is zeroed
    assert torch.count_nonzero(plain.conv_out.conv.weight) == 0
    noisy = NonLocal2d(16, norm_cfg=None, zeros_init=False).eval()
    with torch.no_grad():
        assert not torch.allclose(noisy(x), x)


def test_gradients_reach_every_projection():
    block = _randomize(NonLocal2d(6, norm_cfg=BN, mode="concatenation")).train()
    block(torch.randn(2, 6, 4, 4)).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in block.parameters())


def test_errors_name_the_value():
    with pytest.raises(ConfigError, match=r"mode='embedded'.*'gaussian', 'embedded_gaussian'"):
        NonLocal2d(8, mode="embedded")
    with pytest.raises(ConfigError, match=r"reduction=0"):
        NonLocal2d(8, reduction=0)
