"""LightHamHead (SegNeXt): MMSeg 1.x's state_dict keys, the Hamburger, NMF2D's multiplicative
updates, where its random bases come from, rand_init=False bases, errors and shapes."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seglab.errors import ConfigError
from seglab.models import build_head
from seglab.models.decode_heads import NMF2D, Hamburger, LightHamHead

BN = dict(type="BN", requires_grad=True)
GN = dict(type="GN", num_groups=4, requires_grad=True)
CHANNELS = (8, 12, 16, 16)
HAM = dict(MD_S=1, MD_R=4, train_steps=6, eval_steps=7, inv_t=100, rand_init=True)
FIXTURE_STATE = Path(__file__).parents[1] / "fixtures_1x" / "segnext.state_dict.pth"


def _feats(n=2, hw=64):
    return [torch.randn(n, c, hw // 2 ** (i + 2), hw // 2 ** (i + 2))
            for i, c in enumerate(CHANNELS)]


def _head(**kwargs) -> LightHamHead:
    return LightHamHead(**{**dict(in_channels=list(CHANNELS[1:]), in_index=[1, 2, 3],
                                  channels=16, ham_channels=8, num_classes=5, norm_cfg=GN,
                                  ham_kwargs=HAM), **kwargs})


def test_state_dict_like_mmseg():
    head = LightHamHead(in_channels=[12, 16, 16], in_index=[1, 2, 3], channels=32,
                        ham_channels=32, num_classes=5,
                        norm_cfg=dict(type="GN", num_groups=32, requires_grad=True),
                        ham_kwargs=dict(HAM, MD_R=16))
    mmseg = torch.load(FIXTURE_STATE, map_location="cpu", weights_only=True)
    expected = [(k[len("decode_head."):], tuple(v.shape)) for k, v in mmseg.items()
                if k.startswith("decode_head.")]
    assert [(k, tuple(v.shape)) for k, v in head.state_dict().items()] == expected
    shapes = dict(expected)
    assert shapes["squeeze.conv.weight"] == (32, 12 + 16 + 16, 1, 1)
    assert shapes["squeeze.gn.weight"] == (32,) and "squeeze.conv.bias" not in shapes
    assert shapes["hamburger.ham_in.conv.bias"] == (32,)  # no norm: a conv bias
    assert shapes["hamburger.ham_out.gn.bias"] == (32,)
    assert shapes["align.conv.weight"] == (32, 32, 1, 1)
    assert shapes["conv_seg.weight"] == (5, 32, 1, 1)


def test_norm_cfg_reaches_ham_out_and_none_gives_biases():
    head = _head()
    assert isinstance(head.hamburger.ham_out.norm, nn.GroupNorm)
    assert head.hamburger.ham_in.norm is None and not head.hamburger.ham_in.with_activation
    assert not head.hamburger.ham_out.with_activation
    plain = _head(norm_cfg=None)
    assert plain.hamburger.ham_out.norm is None
    assert plain.hamburger.ham_out.conv.bias is not None


def test_output_at_the_first_level_and_backward():
    head = _head().train()
    feats = _feats()
    assert head(feats).shape == (2, 5, 8, 8)
    losses = head.forward_train(feats, [{}] * 2, torch.randint(0, 5, (2, 1, 64, 64)), None)
    assert set(losses) == {"loss_ce", "acc_seg"}
    losses["loss_ce"].backward()
    assert all(p.grad is not None for p in head.parameters())


def test_forward_is_resize_concat_squeeze_hamburger_align():
    head = _head(dropout_ratio=0.0).eval()
    feats = _feats()
    with torch.no_grad():
        torch.manual_seed(3)
        out = head(feats)
        ups = [F.interpolate(f, size=(8, 8), mode="bilinear", align_corners=False)
               for f in feats[1:]]
        torch.manual_seed(3)
        expected = head.conv_seg(head.align(head.hamburger(head.squeeze(torch.cat(ups, 1)))))
    torch.testing.assert_close(out, expected)


def test_input_transform_is_fixed_and_levels_are_lists():
    with pytest.raises(Exception, match="input_transform"):
        build_head(dict(type="LightHamHead", in_channels=[8, 12], in_index=[0, 1], channels=8,
                        num_classes=5, input_transform="multiple_select"))
    with pytest.raises(ConfigError, match="lists of the same length"):
        _head(in_channels=[12, 16], in_index=[1, 2, 3])


def test_bad_ham_kwargs_name_the_keys():
    with pytest.raises(ConfigError, match=r"(?s)ham_kwargs.*MD_Q.*accepted keys: MD_S"):
        _head(ham_kwargs=dict(MD_Q=3))
    with pytest.raises(ConfigError, match="ham_channels=8 must be divisible by ham_kwargs MD_S=3"):
        _head(ham_kwargs=dict(MD_S=3))


def _nmf_by_hand(x: torch.Tensor, bases: torch.Tensor, steps: int) -> torch.Tensor:
    """The NMF of (B, D, N) maps by hand: softmax init, ``steps`` coef-then-bases updates,
    a last coef update, the product (einsum instead of bmm)."""
    def coef_step(bases, coef):
        return coef * torch.einsum("bdn,bdr->bnr", x, bases) / (
            torch.einsum("bnr,bdr,bds->bns", coef, bases, bases) + 1e-6)

    coef = torch.softmax(torch.einsum("bdn,bdr->bnr", x, bases), dim=-1)  # inv_t = 1
    for _ in range(steps):
        coef = coef_step(bases, coef)
        bases = bases * torch.einsum("bdn,bnr->bdr", x, coef) / (
            torch.einsum("bdr,bnr,bns->bds", bases, coef, coef) + 1e-6)
    return torch.einsum("bdr,bnr->bdn", bases, coef_step(bases, coef))


@pytest.mark.parametrize("training,steps", [(True, 2), (False, 3)])
def test_nmf_is_the_multiplicative_updates_on_seeded_bases(training, steps):
    nmf = NMF2D(MD_S=2, MD_R=3, train_steps=2, eval_steps=3, inv_t=100).train(training)
    assert nmf.inv_t == 1  # MMSeg's NMF2D ignores the configured inv_t
    x = torch.rand(2, 8, 5, 6)
    torch.manual_seed(7)
    out = nmf(x)
    torch.manual_seed(7)
    # One draw of the global CPU generator per forward: (B * MD_S, C / MD_S, MD_R).
    bases = F.normalize(torch.rand(2 * 2, 4, 3), dim=1)
    expected = _nmf_by_hand(x.reshape(4, 4, 30), bases, steps).reshape(2, 8, 5, 6)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    assert out.min() >= 0


def test_more_updates_fit_the_map_better():
    torch.manual_seed(5)
    x = (torch.rand(16, 3) @ torch.rand(3, 64)).reshape(1, 16, 8, 8)  # non-negative, rank 3
    errors = []
    for steps in (0, 1, 2, 4, 8):
        torch.manual_seed(0)
        errors.append((NMF2D(MD_R=4, eval_steps=steps).eval()(x) - x).norm().item())
    assert errors == sorted(errors, reverse=True) and errors[-1] < 0.5 * errors[0]


def test_random_bases_per_forward_and_fixed_ones_with_rand_init_false():
    x = torch.rand(2, 8, 4, 4)
    nmf = NMF2D(MD_R=3).eval()
    assert not torch.equal(nmf(x), nmf(x))  # new bases every forward
    assert "bases" not in dict(nmf.named_buffers())
    with pytest.raises(RuntimeError, match="init_bases"):
        NMF2D(MD_R=3, rand_init=False)(x)
    # rand_init=False: Hamburger draws the buffer at build (MMSeg: at the first forward).
    burger = Hamburger(8, dict(MD_R=3, rand_init=False)).eval()
    fixed = burger.ham
    assert fixed.bases.shape == (1, 8, 3)
    torch.testing.assert_close(fixed.bases.norm(dim=1), torch.ones(1, 3))
    first = fixed(x)
    torch.testing.assert_close(fixed(x), first)
    # A checkpoint's bases replace them; an MMSeg model saved before its first forward has none
    # (it still loads strictly, keeping the drawn bases).
    other = Hamburger(8, dict(MD_R=3, rand_init=False)).eval()
    assert not torch.equal(other.ham.bases, fixed.bases)
    other.load_state_dict(burger.state_dict(), strict=True)
    torch.testing.assert_close(other.ham(x), first)
    before = other.ham.bases.clone()
    state = {k: v for k, v in Hamburger(8, dict(MD_R=3, rand_init=False)).state_dict().items()
             if k != "ham.bases"}
    other.load_state_dict(state, strict=True)
    assert torch.equal(other.ham.bases, before)
    with pytest.raises(RuntimeError, match="ham_in.conv.bias"):
        other.load_state_dict({k: v for k, v in state.items() if k != "ham_in.conv.bias"})


def test_md_s_slices_are_independent():
    nmf = NMF2D(MD_S=2, MD_R=2, rand_init=False).eval()
    nmf.init_bases(8)
    assert nmf.bases.shape == (2, 4, 2)
    x = torch.rand(1, 8, 4, 4)
    out = nmf(x)
    y = x.clone()
    y[:, :4] = torch.rand(1, 4, 4, 4)
    torch.testing.assert_close(nmf(y)[:, 4:], out[:, 4:])
    assert not torch.allclose(nmf(y)[:, :4], out[:, :4])


def test_hamburger_is_a_residual_around_the_nmf():
    burger = Hamburger(8, HAM, norm_cfg=GN).eval()
    x = torch.randn(2, 8, 4, 4)
    with torch.no_grad():
        torch.manual_seed(1)
        out = burger(x)
        torch.manual_seed(1)
        expected = F.relu(x + burger.ham_out(burger.ham(F.relu(burger.ham_in(x)))))
        torch.testing.assert_close(out, expected)
        burger.ham = nn.Identity()
        torch.testing.assert_close(
            burger(x), F.relu(x + burger.ham_out(F.relu(burger.ham_in(x)))))


def test_train_and_eval_run_their_own_number_of_steps():
    head = _head(dropout_ratio=0.0, ham_kwargs=dict(HAM, train_steps=2, eval_steps=5),
                 norm_cfg=None)
    feats = _feats()
    outs = {}
    for mode in (True, False):
        torch.manual_seed(0)
        with torch.no_grad():
            outs[mode] = head.train(mode)(feats)
    assert not torch.allclose(outs[True], outs[False])
    same = _head(dropout_ratio=0.0, ham_kwargs=dict(HAM, train_steps=3, eval_steps=3),
                 norm_cfg=None)
    for mode in (True, False):
        torch.manual_seed(0)
        with torch.no_grad():
            outs[mode] = same.train(mode)(feats)
    torch.testing.assert_close(outs[True], outs[False])
